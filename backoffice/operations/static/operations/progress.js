// The progress element of a long operation: asks the operation's JSON every second, fills
// the fields, and reloads the page once the operation ends, so the server shows its result.
(function () {
  "use strict";

  const root = document.getElementById("operation-progress");
  if (!root || root.dataset.finished === "true") {
    return;
  }
  const POLL_MS = 1000;

  function field(name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  function setText(name, text) {
    const element = field(name);
    if (element) {
      element.textContent = text;
    }
  }

  function number(value) {
    return value === null || value === undefined ? "…" : Number(value).toLocaleString("en");
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) {
      return "…";
    }
    const total = Math.max(0, Math.round(seconds));
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const rest = total % 60;
    if (hours) {
      return hours + " h " + minutes + " min";
    }
    return minutes ? minutes + " min " + rest + " s" : rest + " s";
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
    setText("done", number(progress.done));
    setText("total", number(progress.total));
    setText("rate_per_s", progress.rate_per_s === null ? "…" : number(Math.round(progress.rate_per_s)));
    setText("eta_s", duration(progress.eta_s));
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
