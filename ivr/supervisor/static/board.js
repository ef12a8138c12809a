// The live board: renders the JSON snapshot, ticks countdowns every second, refreshes by polling.
// No libraries; text is set with textContent only (never innerHTML), so data cannot inject markup.
(function () {
  "use strict";
  var root = document.getElementById("board");
  if (!root) { return; }
  var dataUrl = root.getAttribute("data-url");
  var pollMs = parseInt(root.getAttribute("data-poll"), 10) || 5000;
  var lang = root.getAttribute("data-lang");
  var S = JSON.parse(document.getElementById("board-strings").textContent);
  var state = JSON.parse(document.getElementById("board-data").textContent);
  var fetchedAt = Date.now();
  var persianDigits = "۰۱۲۳۴۵۶۷۸۹";

  function digits(text) {
    text = String(text);
    return lang === "fa" ? text.replace(/[0-9]/g, function (d) { return persianDigits[+d]; }) : text;
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    var key;
    for (key in (attrs || {})) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    }
    for (var i = 2; i < arguments.length; i++) {
      if (arguments[i] !== null && arguments[i] !== undefined) { node.appendChild(arguments[i]); }
    }
    return node;
  }

  function span(text, cls) { return el("span", cls ? { "class": cls, text: text } : { text: text }); }

  // Reasons come from the worker in English: let each run in its own direction inside a Persian page.
  function freeText(text, cls) { return el("span", { "class": cls || "", dir: "auto", text: text }); }

  function countdown(seconds) {
    var late = seconds < 0;
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var text = (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
    return digits(text) + (late ? " " + S.overdue : "");
  }

  function elapsed() { return (Date.now() - fetchedAt) / 1000; }

  function post(url, fields) {
    var body = new URLSearchParams(fields || {});
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": state.csrf_token, "Accept": "application/json" },
      body: body
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return refresh();
    }).catch(function () { setStatus(S.update_failed, true); });
  }

  function replaceRows(tbody, rows) {
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    rows.forEach(function (row) { tbody.appendChild(row); });
  }

  function renderCallbacks() {
    var tbody = document.querySelector("#callbacks tbody");
    var rows = state.callbacks.map(function (c) {
      var ref = el("td", {}, el("a", { href: c.url, "class": "ref", text: c.reference }));
      if (c.at_risk) {
        ref.appendChild(el("div", { "class": "risk-reason" }, span(S.at_risk + ": ", "risk-label"), freeText(c.at_risk_reason || "")));
      }
      var left = el("td", { "class": "countdown", "data-left": String(c.seconds_left), text: countdown(c.seconds_left - elapsed()) });
      var tr = el("tr", { "class": c.at_risk ? "at-risk" : "", "data-id": c.id },
        ref,
        el("td", { text: c.queue }),
        el("td", { dir: "ltr", text: c.phone + (c.name ? " · " + c.name : "") }),
        el("td", { text: c.status_label }),
        el("td", { text: c.deadline_local }),
        left,
        el("td", { text: digits(c.attempts_made) }));
      return tr;
    });
    if (!rows.length) { rows = [el("tr", {}, el("td", { colspan: "7", "class": "muted", text: S.none_waiting }))]; }
    replaceRows(tbody, rows);
    var shown = document.getElementById("callbacks-shown");
    shown.textContent = state.open_total > state.callbacks.length
      ? S.shown_of.replace("{shown}", digits(state.callbacks.length)).replace("{total}", digits(state.open_total)) : "";
  }

  function renderForecast() {
    var f = state.forecast || { queues: [], notes: [] };
    document.getElementById("advice").textContent = f.advice || "";
    var notes = document.getElementById("forecast-notes");
    notes.replaceChildren.apply(notes, (f.notes || []).map(function (n) { return el("li", { text: n }); }));
    var rows = f.queues.map(function (q) {
      return el("tr", { "class": q.source === "sla" ? "" : "at-risk", "data-queue": q.queue },
        el("td", { text: q.name }),
        el("td", { title: q.why || "" }, span(q.quote_local), q.source_label ? span(" · " + q.source_label, "muted") : null),
        el("td", { text: q.sla_local }),
        el("td", { text: q.beyond || "–" }),
        el("td", { text: digits(q.misses_today) }));
    });
    replaceRows(document.querySelector("#forecast tbody"), rows);
  }

  function renderCalls() {
    var rows = state.calls.map(function (call) {
      var who = call.url ? el("a", { href: call.url, text: call.who }) : span(call.who);
      return el("tr", { "class": "call-" + call.kind },
        el("td", { text: call.kind_label }), el("td", { dir: "ltr" }, who), el("td", { text: call.where }),
        el("td", { text: call.agent || "–" }), el("td", { text: call.state || "" }),
        el("td", { "class": "countup", "data-since": String(call.since_seconds), text: countdown(call.since_seconds + elapsed()) }));
    });
    if (!rows.length) { rows = [el("tr", {}, el("td", { colspan: "6", "class": "muted", text: S.no_calls }))]; }
    replaceRows(document.querySelector("#calls tbody"), rows);
  }

  function renderAgents() {
    var list = document.getElementById("agents");
    var items = state.agents.map(function (a) {
      var li = el("li", { "class": "agent agent-" + a.state, "data-agent": a.name },
        span(a.name, "agent-name"), span(a.state_label, "agent-state"), span(a.since_local, "muted"));
      if (state.can_change) {
        var button = el("button", {
          type: "button", "class": "shift-toggle",
          text: a.on_shift ? S.take_off_shift : S.put_on_shift
        });
        button.addEventListener("click", function () {
          button.disabled = true;
          post(a.shift_url, { on: a.on_shift ? "0" : "1" });
        });
        li.appendChild(button);
      }
      return li;
    });
    if (!items.length) { items = [el("li", { "class": "muted", text: S.no_agents })]; }
    replaceRows(list, items);
  }

  function renderAlerts() {
    var list = document.getElementById("alerts");
    var items = state.alerts.map(function (a) {
      var li = el("li", { "class": "alert alert-" + a.kind },
        span(a.created_local, "muted"), span(a.kind_label, "alert-kind"),
        a.url ? el("a", { href: a.url, "class": "ref", text: a.reference }) : null,
        freeText(a.reason || ""));
      if (state.can_change) {
        var button = el("button", { type: "button", "class": "ack", text: S.acknowledge });
        button.addEventListener("click", function () { button.disabled = true; post(a.ack_url, {}); });
        li.appendChild(button);
      }
      return li;
    });
    if (!items.length) { items = [el("li", { "class": "muted", text: S.no_alerts })]; }
    replaceRows(list, items);
  }

  function render() {
    document.getElementById("open-total").textContent = digits(state.open_total);
    document.getElementById("at-risk-total").textContent = digits(state.at_risk_total);
    document.getElementById("calls-total").textContent = digits(state.calls.length);
    document.getElementById("free-total").textContent = digits(state.agents.filter(function (a) { return a.state === "free"; }).length);
    var breaker = document.getElementById("breaker");
    if (breaker && state.breaker) {
      breaker.textContent = state.breaker.text;
      breaker.className = state.breaker.open ? "notice error" : "muted";
      breaker.setAttribute("data-open", state.breaker.open ? "1" : "0");
    }
    renderAlerts();
    renderForecast();
    renderCallbacks();
    renderCalls();
    renderAgents();
    setStatus(S.updated + " " + new Date().toLocaleTimeString(lang === "fa" ? "fa-IR" : "en-GB"), false);
  }

  function tick() {
    var passed = elapsed();
    document.querySelectorAll("#callbacks td.countdown").forEach(function (cell) {
      var left = parseFloat(cell.getAttribute("data-left")) - passed;
      cell.textContent = countdown(left);
      cell.classList.toggle("late", left < 0);
    });
    document.querySelectorAll("#calls td.countup").forEach(function (cell) {
      cell.textContent = countdown(parseFloat(cell.getAttribute("data-since")) + passed);
    });
  }

  function setStatus(text, failed) {
    var status = document.getElementById("board-status");
    status.textContent = text;
    status.classList.toggle("failed", !!failed);
  }

  function refresh() {
    return fetch(dataUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (data) { state = data; fetchedAt = Date.now(); render(); }
      })
      .catch(function () { setStatus(S.update_failed, true); });
  }

  render();
  window.setInterval(tick, 1000);
  window.setInterval(refresh, pollMs);
})();
