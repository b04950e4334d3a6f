// A finished import's page, while the chat users it touched are pushed to Userbot: the
// counts of the "Reaching Userbot" box are read again every two seconds until none waits.
(function () {
  "use strict";

  const box = document.getElementById("import-push");
  if (!box || box.dataset.done === "true") {
    return;
  }
  const POLL_MS = 2000;
  const NAMES = ["synced", "pending", "in_flight", "conflict", "error"];

  function part(name) {
    return box.querySelector('[data-push="' + name + '"]');
  }

  function show(push) {
    NAMES.forEach(function (name) {
      const cell = part(name);
      if (cell) {
        cell.textContent = Number(push[name] || 0).toLocaleString();
      }
    });
    const dead = part("dead");
    if (dead && !dead.querySelector("a")) {
      dead.textContent = Number(push.dead || 0).toLocaleString();
    }
    const bar = part("bar");
    bar.max = push.total || 1;
    bar.value = push.synced || 0;
    if (push.done) {
      part("headline").textContent = "Done: every chat user the import touched has been sent to Userbot.";
      box.dataset.done = "true";
    }
  }

  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (push) {
        if (push && push.total !== undefined) {
          show(push);
        }
        if (box.dataset.done !== "true") {
          window.setTimeout(poll, POLL_MS);
        }
      })
      .catch(function () { window.setTimeout(poll, POLL_MS * 5); });
  }

  window.setTimeout(poll, POLL_MS);
})();
