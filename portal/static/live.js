// Refreshes the live parts of a page without reloading it: every element with a
// data-live URL is replaced by that URL's HTML fragment every data-live-ms milliseconds.
// Polling pauses while the tab is hidden and while the user is inside a form in the part.
(function () {
  "use strict";

  function refresh(element) {
    // An open <details> (the Stop form with its reason and end) also pauses it.
    if (document.hidden || element.contains(document.activeElement) && document.activeElement !== document.body ||
        element.querySelector("details[open]")) {
      return;
    }
    fetch(element.dataset.live, { credentials: "same-origin", headers: { "X-Requested-With": "live.js" } })
      .then(function (response) {
        if (response.redirected || response.status === 401) {
          window.location.reload(); // the session ended: show the sign-in page
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined) {
          element.innerHTML = html;
          element.dataset.liveUpdated = String(Date.now());
          element.classList.remove("stale");
        }
      })
      .catch(function () {
        element.classList.add("stale");
      });
  }

  function start() {
    document.querySelectorAll("[data-live]").forEach(function (element) {
      var every = parseInt(element.dataset.liveMs, 10) || 5000;
      window.setInterval(function () { refresh(element); }, every);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
