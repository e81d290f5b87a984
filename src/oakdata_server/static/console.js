// The console's only script: copy buttons, and the live events table kept up to date.
// Rows come from the server already escaped (Jinja2); nothing here builds markup from data.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var text = document.getElementById(button.getAttribute("data-copy")).textContent;
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = "Copied";
    });
  });

  var live = document.getElementById("live");
  if (!live) return;
  var POLL_MS = 1000;
  var KEEP_ROWS = 200;
  function poll() {
    var url = "/events/feed?after=" + encodeURIComponent(live.dataset.after) +
      "&event=" + encodeURIComponent(live.dataset.event);
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        live.dataset.after = response.headers.get("X-Last-Id") || live.dataset.after;
        return response.text();
      })
      .then(function (rows) {
        if (rows.trim()) live.insertAdjacentHTML("afterbegin", rows);
        while (live.rows.length > KEEP_ROWS) live.deleteRow(-1);
      })
      .catch(function () {})
      .then(function () {
        setTimeout(poll, POLL_MS);
      });
  }
  setTimeout(poll, POLL_MS);
})();
