/* Pages that stay true: My queue, All escalations and the dashboard fetch themselves again every
   minute and swap in their live regions ([data-live-region], by id); the bell's count is fetched on
   its own; "time left" cells ([data-due]) count down between fetches. Served from our origin (the
   CSP allows script from 'self' only): no inline script, no eval, no HTML written as a string (the
   fetched page is parsed by DOMParser, which runs nothing, and its nodes are imported).

   A refresh never costs the person what they are doing: it waits while a form field has the focus,
   while a form differs from what the page was drawn with (a half-typed filter, a chosen assignee),
   while rows are ticked, while text is selected in a region, and while the tab is hidden. Without
   script the pages work as before and say when they were drawn. */
(function () {
  "use strict";

  var script = document.currentScript;
  var every = Math.max(1, parseInt((script && script.getAttribute("data-every")) || "60", 10)) * 1000;
  var unreadUrl = script && script.getAttribute("data-unread-url");
  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-region][id]"));
  var status = document.querySelector("[data-live-status]");
  var snapshots = [];
  var lastRefresh = Date.now();
  var stopped = false;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(date) { return pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()); }

  function say(text) { if (status) { status.textContent = text; } }

  // The same words as escalations.policy.calendar.humanize_delta.
  function humanize(ms) {
    var suffix = ms >= 0 ? "left" : "overdue";
    var seconds = Math.floor(Math.abs(ms) / 1000);
    var days = Math.floor(seconds / 86400);
    var rem = seconds % 86400;
    var hours = Math.floor(rem / 3600);
    var minutes = Math.floor((rem % 3600) / 60);
    var parts;
    if (days) { parts = [days + " d", hours + " h"]; }
    else if (hours) { parts = [hours + " h", minutes + " min"]; }
    else { parts = [minutes ? minutes + " min" : "under 1 min"]; }
    return parts.join(" ") + " " + suffix;
  }

  function tick() {
    var now = Date.now();
    var cells = document.querySelectorAll("[data-due]");
    for (var i = 0; i < cells.length; i++) {
      var due = Date.parse(cells[i].getAttribute("data-due"));
      if (!isNaN(due)) {
        var text = humanize(due - now);
        if (cells[i].textContent !== text) { cells[i].textContent = text; }
      }
    }
  }

  function formState(form) {
    var values = [];
    var fields = form.elements;
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (!field.name || field.type === "hidden" || field.type === "submit" || field.type === "button") { continue; }
      if (field.type === "checkbox" || field.type === "radio") { values.push(field.name + "=" + field.checked); }
      else { values.push(field.name + "=" + field.value); }
    }
    return values.join("&");
  }

  function snapshot() {
    snapshots = Array.prototype.map.call(document.forms, function (form) { return [form, formState(form)]; });
  }

  function whyWait() {
    if (document.hidden) { return "hidden"; }
    var active = document.activeElement;
    if (active && active !== document.body && active.matches("input, select, textarea, [contenteditable]")) {
      return "Paused while you type; it refreshes once you leave the field.";
    }
    for (var i = 0; i < snapshots.length; i++) {
      if (document.contains(snapshots[i][0]) && formState(snapshots[i][0]) !== snapshots[i][1]) {
        return "Paused: a form on this page has changes you have not sent (submit or undo them to resume).";
      }
    }
    if (document.querySelector("input[name=ids]:checked")) {
      return "Paused while rows are selected.";
    }
    var selection = window.getSelection && window.getSelection();
    if (selection && selection.toString() && regions.some(function (r) { return selection.containsNode(r, true); })) {
      return "Paused while text is selected.";
    }
    return "";
  }

  function signedOut(response) {
    return response.redirected && new URL(response.url).pathname.indexOf("/accounts/login/") === 0;
  }

  function refreshBell() {
    var bell = document.querySelector(".bell");
    if (!bell || !unreadUrl) { return Promise.resolve(); }
    return fetch(unreadUrl, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (signedOut(response)) { stop("You were signed out. Reload the page to sign in again."); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (!body || typeof body.unread !== "number") { return; }
        var count = bell.querySelector(".count");
        if (count) {
          count.textContent = String(body.unread);
          count.classList.toggle("unread", body.unread > 0);
        }
        bell.setAttribute("aria-label", "Notifications: " + body.unread + " unread");
      })
      .catch(function () { /* the next round tries again */ });
  }

  function refreshRegions() {
    if (!regions.length) { return Promise.resolve(); }
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store", headers: { "X-Live-Refresh": "1" } })
      .then(function (response) {
        if (signedOut(response)) { stop("You were signed out. Reload the page to sign in again."); return null; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html === null || stopped) { return; }
        // Checked again: the person may have started typing while the page was on its way.
        if (whyWait()) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (region) {
          var replacement = fresh.getElementById(region.id);
          if (!replacement) { return; }
          var nodes = Array.prototype.map.call(replacement.childNodes, function (node) { return document.importNode(node, true); });
          region.replaceChildren.apply(region, nodes);
        });
        regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-region][id]"));
        snapshot();
        tick();
        lastRefresh = Date.now();
        say("Updated " + clock(new Date(lastRefresh)) + "; it refreshes itself every " + label(every) + ".");
      })
      .catch(function () {
        say("Could not refresh at " + clock(new Date()) + "; showing what was there at " + clock(new Date(lastRefresh)) + ". It tries again.");
      });
  }

  function label(ms) {
    var s = Math.round(ms / 1000);
    return s === 60 ? "minute" : s % 60 === 0 ? (s / 60) + " minutes" : s + " seconds";
  }

  function stop(text) { stopped = true; say(text); }

  function round() {
    if (stopped) { return; }
    var wait = whyWait();
    if (wait === "hidden") { return; }
    refreshBell();
    if (wait) { say(wait); return; }
    refreshRegions();
  }

  snapshot();
  tick();
  if (regions.length) { say("Updated " + clock(new Date()) + "; it refreshes itself every " + label(every) + "."); }
  window.setInterval(tick, 15000);
  window.setInterval(round, every);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && Date.now() - lastRefresh >= every) { round(); }
  });
  // Leaving a field after typing resumes the refresh at the next round; a submitted form reloads.
})();
