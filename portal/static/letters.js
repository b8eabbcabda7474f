// The letter editor's live preview: while the office types, the draft is rendered by the
// server (POST .../preview, the same checks as a save) and shown below the form.
(function () {
  "use strict";

  function start() {
    var form = document.querySelector("form.letter-editor[data-preview]");
    if (!form) { return; }
    var token = document.querySelector('meta[name="csrf-token"]').content;
    var subject = form.querySelector('[name="subject"]');
    var body = form.querySelector('[name="body"]');
    var out = {
      subject: document.querySelector("[data-preview-subject]"),
      body: document.querySelector("[data-preview-body]"),
      problems: document.querySelector("[data-preview-problems]"),
      source: document.querySelector("[data-preview-source]")
    };
    var timer = null;

    function show(answer) {
      out.source.textContent = answer.source;
      out.problems.replaceChildren();
      answer.problems.forEach(function (problem) {
        var line = document.createElement("p");
        line.textContent = problem;
        out.problems.appendChild(line);
      });
      out.problems.hidden = answer.problems.length === 0;
      out.subject.textContent = answer.letter ? answer.letter.subject : "";
      out.body.textContent = answer.letter ? answer.letter.body : "";
    }

    function refresh() {
      fetch(form.dataset.preview, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token },
        body: JSON.stringify({ subject: subject.value, body: body.value })
      }).then(function (response) { return response.ok ? response.json() : null; })
        .then(function (answer) { if (answer) { show(answer); } })
        .catch(function () { out.problems.hidden = false; out.problems.textContent = "Preview unavailable."; });
    }

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 250);
    }

    subject.addEventListener("input", later);
    body.addEventListener("input", later);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
