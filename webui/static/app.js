// WWS live status: one EventSource per page; rows and the workspace page update in place.
(function () {
  "use strict";
  function text(el, value) { if (el) { el.textContent = value || ""; } }
  function update(root, data) {
    root.querySelectorAll("[data-field]").forEach(function (cell) {
      var field = cell.getAttribute("data-field");
      if (!(field in data)) { return; }
      var span = cell.querySelector(".phase");
      if (field === "phase" && (span || cell.classList.contains("phase"))) {
        var target = span || cell;
        target.className = "phase " + String(data.phase).toLowerCase();
        text(target, data.phase);
      } else {
        text(cell, data[field]);
      }
    });
  }
  function conditions(data) {
    var body = document.querySelector("#conditions tbody");
    if (!body || !data.conditions) { return; }
    body.innerHTML = "";
    data.conditions.forEach(function (c) {
      var tr = document.createElement("tr");
      ["type", "status", "reason", "message"].forEach(function (k) {
        var td = document.createElement("td"); td.textContent = c[k] || ""; tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }
  var refreshing = false;
  function refreshRows() {
    // A workspace this page does not list yet: fetch the page again and take its rows.
    if (refreshing) { return; }
    refreshing = true;
    fetch(location.href, { credentials: "same-origin" }).then(function (answer) {
      return answer.ok ? answer.text() : null;
    }).then(function (html) {
      refreshing = false;
      if (!html) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("table.workspaces tbody");
      var current = document.querySelector("table.workspaces tbody");
      if (fresh && current) { current.replaceWith(fresh); }
    }, function () { refreshing = false; });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.querySelector(button.getAttribute("data-copy"));
        if (source && navigator.clipboard) { navigator.clipboard.writeText(source.textContent); }
      });
    });
    var live = document.body.getAttribute("data-live");
    if (!live || !window.EventSource) { return; }
    var source = new EventSource("/events");
    source.addEventListener("workspace", function (event) {
      var data = JSON.parse(event.data);
      if (live === "dashboard") {
        var row = document.querySelector('tr[data-ws="' + CSS.escape(data.id) + '"]');
        if (row && data.event === "DELETED") { row.remove(); return; }
        if (row) { update(row, data); }
        else if (data.event === "ADDED") { refreshRows(); }
      } else if (document.body.getAttribute("data-ws") === data.id) {
        update(document, data);
        conditions(data);
        if (document.body.getAttribute("data-reload-when-running") && data.phase === "Running") {
          location.reload();
        }
      }
    });
  });
})();
