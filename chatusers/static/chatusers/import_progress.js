// Live progress of one CSV import. The import's messages arrive over a WebSocket; when the
// socket does not open, closes, or the server says its channel layer cannot carry the
// worker's messages (in-process), the page asks the JSON view every second instead. When
// the import finishes the page reloads, and the server shows the final counts.
(function () {
  "use strict";

  const root = document.getElementById("import-progress");
  if (!root || root.dataset.finished === "true") {
    return;
  }
  const FINISHED = ["done", "failed", "cancelled", "undone"];
  const POLL_MS = 1000;
  // With the socket open, a slow poll still runs: a channel layer may drop a message
  // (capacity, expiry), and the last one is the one that must not be missed.
  const SAFETY_POLL_MS = 5000;
  const SOCKET_OPEN_WITHIN_MS = 3000;

  let finished = false;
  let socketOpen = false;
  let pollTimer = null;

  const words = window.progressWords;
  const setText = words.setter(root);

  function field(name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  function show(progress) {
    if (finished || !progress || !progress.status) {
      return;
    }
    setText("status", progress.status);
    setText("rows_done", words.number(progress.rows_done));
    setText("rows_total", words.number(progress.rows_total));
    setText("rate_per_s", words.rate(progress.rate_per_s));
    setText("eta_s", words.duration(progress.eta_s));
    ["created", "updated", "unchanged", "rejected"].forEach(function (name) {
      setText(name, words.number(progress[name]));
    });
    const bar = field("bar");
    if (bar && progress.rows_total) {
      bar.max = progress.rows_total;
      bar.value = progress.rows_done || 0;
    }
    root.dataset.status = progress.status;
    if (FINISHED.indexOf(progress.status) !== -1) {
      finished = true;
      window.clearTimeout(pollTimer);
      window.location.reload();
    }
  }

  function poll() {
    fetch(root.dataset.jsonUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(show)
      .catch(function () { /* the next poll tries again */ })
      .finally(schedulePoll);
  }

  function schedulePoll() {
    if (!finished) {
      window.clearTimeout(pollTimer);
      pollTimer = window.setTimeout(poll, socketOpen ? SAFETY_POLL_MS : POLL_MS);
    }
  }

  function fallBackToPolling() {
    socketOpen = false;
    schedulePoll();
  }

  if (root.dataset.pollOnly === "true" || !("WebSocket" in window)) {
    poll();
    return;
  }

  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + window.location.host + root.dataset.socketPath);
  const notOpened = window.setTimeout(function () {
    if (!socketOpen) {
      fallBackToPolling();
    }
  }, SOCKET_OPEN_WITHIN_MS);
  socket.addEventListener("open", function () {
    socketOpen = true;
    window.clearTimeout(notOpened);
    schedulePoll();
  });
  socket.addEventListener("message", function (event) {
    try {
      show(JSON.parse(event.data));
    } catch (error) {
      // A frame that is not JSON carries no progress; the polls still do.
    }
  });
  socket.addEventListener("close", function () {
    window.clearTimeout(notOpened);
    fallBackToPolling();
  });
})();
