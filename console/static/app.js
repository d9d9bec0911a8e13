// The dashboard's only script (CSP: script-src 'self'): live updates over server-sent events,
// "select all", printing, and the demo's login link (#token=… fills the form; the fragment never
// reaches the server; the visitor still clicks "Sign in"). Everything from the server goes in as text or as server-escaped HTML.
"use strict";
(function () {
  function refresh() {
    fetch(location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (old) {
          var fresh = old.id && doc.getElementById(old.id);
          if (!fresh) { return; }
          var kept = old.hasAttribute("data-keep") ? keep(old) : null;
          old.replaceWith(fresh);
          if (kept) { restore(fresh, kept); }
        });
        document.body.setAttribute("data-refreshed", String(Date.now()));
      }).catch(function () {});
  }
  // What a user is in the middle of (ticked boxes, typed values) survives a live refresh.
  function keep(root) {
    var state = {checked: {}, values: {}};
    root.querySelectorAll("input, select, textarea").forEach(function (el) {
      var form = el.form ? (el.form.getAttribute("data-step") || "") : "";
      if (el.type === "checkbox") { if (el.checked && el.value) { state.checked[form + "|" + el.value] = true; } }
      else if (el.type !== "hidden" && el.value) { state.values[form + "|" + el.name] = el.value; }
    });
    return state;
  }
  function restore(root, state) {
    root.querySelectorAll("input, select, textarea").forEach(function (el) {
      var form = el.form ? (el.form.getAttribute("data-step") || "") : "";
      if (el.type === "checkbox") { if (state.checked[form + "|" + el.value] && !el.disabled) { el.checked = true; } }
      else if (el.type !== "hidden" && state.values[form + "|" + el.name] !== undefined) { el.value = state.values[form + "|" + el.name]; }
    });
  }
  var timer = null;
  function soon() { if (!timer) { timer = setTimeout(function () { timer = null; refresh(); }, 400); } }
  // One clock: the event's own time in the site's zone (data-tz), with seconds and the zone's
  // abbreviation as the server writes it on every page (data-zone: "CST"); the words (events, states) in the page's language (data-words, from the server).
  var words = {};
  try { words = JSON.parse(document.body.getAttribute("data-words") || "{}"); } catch (err) { words = {}; }
  function word(w) { return Object.prototype.hasOwnProperty.call(words, w) ? words[w] : w; }
  var clock = null;
  try {
    clock = new Intl.DateTimeFormat("en-GB", {
      timeZone: document.body.getAttribute("data-tz") || "UTC", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23"});
  } catch (err) { clock = null; }
  function feed(name, data) {
    var list = document.getElementById("feed");
    if (!list) { return; }
    var item = document.createElement("li");
    var moment = data.at ? new Date(data.at) : new Date();
    var when = (clock ? clock.format(moment) : moment.toISOString()) + " " + (document.body.getAttribute("data-zone") || "");
    item.textContent = when + "  " + word(name) + (data.task ? "  " + data.task : "") + (data.state ? " → " + word(data.state) : "");
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 100) { list.removeChild(list.lastChild); }
  }
  var NAMES = ["site.lockdown", "site.standdown", "run.started", "run.completed", "run.failed", "run.cancelled",
    "task.assigned", "task.reminder", "task.overdue", "task.escalated", "task.done", "task.failed", "task.cancelled",
    "approval.requested", "muster.request", "muster.answer", "muster.closed", "objective.reached", "objective.at_risk",
    "coverage.gap", "run.update", "message"];
  function listen(spec) {  // "run:seq": follow the run's events after seq
    var cut = spec.lastIndexOf(":");
    var source = new EventSource("/api/runs/" + encodeURIComponent(spec.slice(0, cut)) + "/events?after=" +
      encodeURIComponent(spec.slice(cut + 1)));
    function on(e) {
      var data = {};
      try { data = JSON.parse(e.data); } catch (err) { data = {}; }
      feed(e.type === "message" ? (data.event || "event") : e.type, data);
      soon();
    }
    NAMES.forEach(function (n) { source.addEventListener(n, on); });
    source.addEventListener("forecast", soon);  // a newer forecast was stored: redraw, not a feed line
    source.onopen = function () { document.body.setAttribute("data-live-open", "1"); };
  }
  document.addEventListener("DOMContentLoaded", function () {
    var runs = (document.body.getAttribute("data-runs") || "").split(" ").filter(Boolean);
    runs.forEach(listen);
    if (runs.length) { setInterval(refresh, 30000); }  // time passes too: overdue flags, time left
    document.addEventListener("change", function (e) {
      if (e.target.hasAttribute && e.target.hasAttribute("data-all")) {
        e.target.form.querySelectorAll("input[name=task]:not(:disabled)").forEach(function (box) { box.checked = e.target.checked; });
      }
    });
    document.querySelectorAll("[data-print]").forEach(function (b) { b.addEventListener("click", function () { window.print(); }); });
    var login = document.getElementById("login");
    var match = /^#token=([A-Za-z0-9_\-]+)$/.exec(location.hash);
    if (login && match) {
      history.replaceState(null, "", location.pathname + location.search);
      login.querySelector("input[name=token]").value = match[1];
      login.querySelector("button[type=submit]").focus();  // one click signs in: a link alone never does
    }
  });
})();
