-- wrk's script for `make loadtest` (bench/loadtest): one kind of request, repeated by every connection.
--
--   wrk ... -s load.lua -- get  <file>   GET each line's path with that line's cookie, in turn
--                                        (a line: path, a tab, the Cookie header: one signed-in person)
--   wrk ... -s load.lua -- post <file>   POST a new escalation to the API; the file's lines: the
--                                        service token, a reference prefix unique to the run, knowledge_at
--
-- Secrets (session cookies, the token) come from a file, not the command line, which other users of
-- the machine can read in the process list. When the run ends, one line goes to stdout:
-- "LOADTEST {json}" with the counts, the latency percentiles (microseconds) and the status codes.

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

local kind, items, token, prefix, knowledge_at
local counter = 0
statuses = {}

function init(args)
   kind = args[1]
   local lines = {}
   for line in io.lines(args[2]) do
      table.insert(lines, line)
   end
   if kind == "get" then
      items = {}
      for _, line in ipairs(lines) do
         local path, cookie = line:match("^([^\t]+)\t(.*)$")
         table.insert(items, { path, cookie })
      end
      -- Threads start at different lines, so that they do not ask for the same page at once.
      counter = (tid - 1) * 7
   elseif kind == "post" then
      token, prefix, knowledge_at = lines[1], lines[2], lines[3]
   else
      error("load.lua: the first argument must be get or post, not " .. tostring(kind))
   end
end

-- gunicorn sits behind the TLS proxy in production: this is the header the proxy adds. (wrk.format
-- takes these headers instead of wrk.headers, so every request names it.)
local PROXIED = "https"

function request()
   counter = counter + 1
   if kind == "get" then
      local item = items[counter % #items + 1]
      return wrk.format("GET", item[1], { ["Cookie"] = item[2], ["X-Forwarded-Proto"] = PROXIED })
   end
   local reference = string.format("%s-%d-%d", prefix, tid, counter)
   local body = string.format(
      '{"platform_reference": "%s", "incident_type": "child_pornography", "priority": "standard", '
         .. '"knowledge_at": "%s"}',
      reference,
      knowledge_at
   )
   return wrk.format("POST", "/api/v1/escalations/", {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = reference,
      ["X-Forwarded-Proto"] = PROXIED,
   }, body)
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      local seen = thread:get("statuses")
      for status, n in pairs(seen) do
         counts[status] = (counts[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(counts) do
      table.insert(parts, string.format('"%s": %d', status, n))
   end
   local percentiles = {}
   for _, p in ipairs({ 50, 90, 95, 99 }) do
      table.insert(percentiles, string.format('"%d": %d', p, latency:percentile(p)))
   end
   local e = summary.errors
   io.write(
      string.format(
         'LOADTEST {"requests": %d, "duration_us": %d, "bytes": %d, '
            .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
            .. '"latency_us": {"min": %d, "max": %d, "mean": %.1f, "percentiles": {%s}}, "statuses": {%s}}\n',
         summary.requests,
         summary.duration,
         summary.bytes,
         e.connect,
         e.read,
         e.write,
         e.status,
         e.timeout,
         latency.min,
         latency.max,
         latency.mean,
         table.concat(percentiles, ", "),
         table.concat(parts, ", ")
      )
   )
end
