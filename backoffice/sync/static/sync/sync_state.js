// A synced object's change page, while the object is pushed to Userbot: its sync state,
// last sync and error are read again every two seconds (a small JSON view) and shown in
// place, until the push has ended one way or the other (synced, error, conflict) or the
// page has waited ten minutes. A note beside the state says the page is following it.
(function () {
  "use strict";

  const live = document.getElementById("sync-live");
  if (!live) {
    return;
  }
  const POLL_MS = 2000;
  const GIVE_UP_MS = 10 * 60 * 1000;
  const started = Date.now();
  let note = null;

  // An object in conflict or in error also has an entry (parked, or dead): it is not moving.
  function moving(state) {
    return state.sync_state === "pending";
  }

  function showNote(text) {
    const cell = document.querySelector(".field-sync_state .readonly");
    if (!cell) {
      return;
    }
    if (!note) {
      note = document.createElement("span");
      note.className = "sync-live-note";
      note.setAttribute("aria-live", "polite");
      cell.insertAdjacentElement("afterend", note);
    }
    note.textContent = text;
  }

  function show(state) {
    Object.keys(state.fields || {}).forEach(function (name) {
      const cell = document.querySelector(".field-" + name + " .readonly");
      if (cell && cell.innerHTML !== state.fields[name]) {
        cell.innerHTML = state.fields[name]; // escaped by the server
      }
    });
    live.dataset.state = state.sync_state;
  }

  function poll() {
    fetch(live.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) {
          return;
        }
        show(state);
        if (moving(state) && Date.now() - started < GIVE_UP_MS) {
          showNote(state.outbox === "in_flight" ? "being sent to Userbot…" : "waiting to be sent to Userbot…");
          window.setTimeout(poll, POLL_MS);
        } else {
          showNote(moving(state) ? "still waiting: reload to follow it again" : "");
        }
      })
      .catch(function () {
        window.setTimeout(poll, POLL_MS * 5);
      });
  }

  // A page opened on an object already in sync has nothing to follow: one read says so.
  poll();
})();
