"""`make loadtest` (python -m bench.loadtest): the served stack under concurrent users, a benchmark
and not a test.

gunicorn with our gunicorn.conf.py serves settings.prod (the command the image and the systemd unit
run: deploy/container/entrypoint.sh web) against a copy of the bench's PostgreSQL database, with
Redis as its cache and broker. People sign in for real over HTTP (password, then an authenticator
code for leads and the admin, as REQUIRE_2FA asks in production); wrk (bench/loadtest/load.lua) then
sends their requests with their session cookies: moderators on My queue and escalation pages, leads
on All escalations and the dashboard, a pipeline creating escalations through the API with a service
token, and a superuser on the admin changelist for comparison. Each page is measured alone with every
client on it, then all of them at once. Requests per second, p50/p95/p99, errors and timeouts go to
docs/benchmarks.md (a section of its own that `make bench` keeps) and var/loadtest-results.json.
"""
