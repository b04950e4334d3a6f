// The progress element of a long operation: asks the operation's JSON every second, fills
// the fields, and reloads the page once the operation ends, so the server shows its result.
(function () {
  "use strict";

  const root = document.getElementById("operation-progress");
  if (!root || root.dataset.finished === "true") {
    return;
  }
  const POLL_MS = 1000;

  const words = window.progressWords;
  const setText = words.setter(root);

  function field(name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  function show(progress) {
    if (!progress || !progress.status) {
      return false;
    }
    if (progress.finished) {
      window.location.reload();
      return true;
    }
    setText("status_label", progress.status_label);
    setText("done", words.number(progress.done));
    setText("total", words.number(progress.total));
    setText("rate_per_s", words.rate(progress.rate_per_s));
    setText("eta_s", words.duration(progress.eta_s));
    const bar = field("bar");
    if (bar && progress.total) {
      bar.max = progress.total;
      bar.value = progress.done || 0;
    }
    const silent = field("silent");
    if (silent) {
      silent.hidden = !progress.silent;
    }
    root.dataset.status = progress.status;
    return false;
  }

  function poll() {
    fetch(root.dataset.jsonUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (progress) {
        if (!show(progress)) {
          window.setTimeout(poll, POLL_MS);
        }
      })
      .catch(function () { window.setTimeout(poll, POLL_MS); });
  }

  poll();
})();
