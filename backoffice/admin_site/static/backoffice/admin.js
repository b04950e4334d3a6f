// What every admin page of the back office shares: relative times kept current, the
// keyboard shortcuts and their help (?), and a list's column picker. No inline script
// anywhere (the Content-Security-Policy forbids it): pages say what they need in data-
// attributes and markup, and this file acts on them.
(function () {
  "use strict";

  // --- relative times ("3 min ago"), refreshed while the page stays open -----------------

  function ago(moment, now) {
    let seconds = (now - moment) / 1000;
    const future = seconds < 0;
    seconds = Math.abs(seconds);
    let amount;
    if (seconds < 45) {
      return "just now";
    } else if (seconds < 3600) {
      amount = Math.max(1, Math.round(seconds / 60)) + " min";
    } else if (seconds < 86400) {
      amount = Math.floor(seconds / 3600) + " h";
    } else if (seconds < 31 * 86400) {
      const days = Math.floor(seconds / 86400);
      amount = days + (days === 1 ? " day" : " days");
    } else {
      return null; // a date: the server's text stays
    }
    return future ? "in " + amount : amount + " ago";
  }

  function refreshTimes() {
    const now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (element) {
      const moment = Date.parse(element.getAttribute("datetime"));
      const text = isNaN(moment) ? null : ago(moment, now);
      if (text !== null && element.textContent !== text) {
        element.textContent = text;
      }
    });
  }
  window.setInterval(refreshTimes, 30000);

  // --- the column picker of a list -------------------------------------------------------

  function setUpColumnPicker() {
    const picker = document.querySelector("details.column-picker");
    if (!picker) {
      return;
    }
    const form = picker.querySelector("form");
    const cookie = form.dataset.cookie;
    function save(columns) {
      const value = columns === null ? "" : encodeURIComponent(columns.join(","));
      const age = columns === null ? 0 : 365 * 24 * 3600;
      document.cookie = cookie + "=" + value + "; path=/; max-age=" + age + "; SameSite=Lax";
      window.location.reload();
    }
    form.addEventListener("change", function () {
      const chosen = Array.from(form.querySelectorAll("input[name=column]:checked")).map(function (box) {
        return box.value;
      });
      save(chosen);
    });
    const reset = form.querySelector("[data-reset-columns]");
    if (reset) {
      reset.addEventListener("click", function (event) {
        event.preventDefault();
        save(null);
      });
    }
  }

  // --- keyboard shortcuts ----------------------------------------------------------------

  const SHORTCUTS = [
    ["/", "Search this list"],
    ["j", "Next row of the list"],
    ["k", "Previous row of the list"],
    ["e", "Edit the chosen row (or open it)"],
    ["?", "Show or hide these shortcuts"],
    ["Esc", "Close this help"],
  ];

  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    const tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function helpPanel() {
    let panel = document.getElementById("kb-help");
    if (panel) {
      return panel;
    }
    panel = document.createElement("div");
    panel.id = "kb-help";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "true");
    panel.setAttribute("aria-labelledby", "kb-help-title");
    const inner = document.createElement("div");
    inner.className = "kb-panel";
    const title = document.createElement("h2");
    title.id = "kb-help-title";
    title.textContent = "Keyboard shortcuts";
    inner.appendChild(title);
    const table = document.createElement("table");
    SHORTCUTS.forEach(function (shortcut) {
      const row = table.insertRow();
      const key = document.createElement("kbd");
      key.textContent = shortcut[0];
      row.insertCell().appendChild(key);
      row.insertCell().textContent = shortcut[1];
    });
    inner.appendChild(table);
    panel.appendChild(inner);
    panel.addEventListener("click", function (event) {
      if (event.target === panel) {
        panel.hidden = true;
      }
    });
    document.body.appendChild(panel);
    return panel;
  }

  function rows() {
    return Array.from(document.querySelectorAll("#result_list tbody tr"));
  }

  function moveRow(step) {
    const all = rows();
    if (!all.length) {
      return;
    }
    const current = all.findIndex(function (row) { return row.classList.contains("kb-current"); });
    const next = current === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, current + step));
    if (current !== -1) {
      all[current].classList.remove("kb-current");
    }
    all[next].classList.add("kb-current");
    all[next].scrollIntoView({ block: "nearest" });
  }

  function editRow() {
    const row = document.querySelector("#result_list tbody tr.kb-current") || (rows().length === 1 ? rows()[0] : null);
    const link = row && (row.querySelector("th a[href]") || row.querySelector("td a[href]"));
    if (link) {
      window.location.href = link.href;
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    const panel = document.getElementById("kb-help");
    if (event.key === "Escape" && panel && !panel.hidden) {
      panel.hidden = true;
      return;
    }
    if (typing(event.target)) {
      return;
    }
    if (event.key === "?") {
      const help = helpPanel();
      help.hidden = !help.hidden;
      event.preventDefault();
    } else if (event.key === "/") {
      const search = document.getElementById("searchbar");
      if (search) {
        search.focus();
        search.select();
        event.preventDefault();
      }
    } else if (event.key === "j") {
      moveRow(1);
    } else if (event.key === "k") {
      moveRow(-1);
    } else if (event.key === "e") {
      editRow();
    }
  });

  function addHint() {
    const tools = document.getElementById("user-tools");
    if (!tools || document.querySelector(".kb-hint")) {
      return;
    }
    const hint = document.createElement("span");
    hint.className = "kb-hint";
    const key = document.createElement("kbd");
    key.textContent = "?";
    hint.appendChild(document.createTextNode("Shortcuts "));
    hint.appendChild(key);
    tools.appendChild(hint);
  }

  function ready() {
    setUpColumnPicker();
    addHint();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
