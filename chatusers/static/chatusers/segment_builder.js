// The segment builder. As the filters change, the page posts the form's filter rows to the
// count view (nothing is saved) and shows how many chat users they match, or what is wrong
// with a filter. The values the bot knows (channels, languages in use, tags) and its
// variable catalogue are offered in the filters' inputs, as datalists.
(function () {
  "use strict";

  const live = document.getElementById("segment-live");
  const form = live && live.closest("form");
  if (!live || !form) {
    return;
  }
  const shown = document.getElementById("segment-live-count");
  const note = document.getElementById("segment-live-note");
  const DEBOUNCE_MS = 300;
  let timer = null;
  let asked = 0;

  function botId() {
    const select = document.getElementById("id_bot");
    return (select && !select.disabled && select.value) || live.dataset.bot || "";
  }

  function count() {
    const data = new FormData(form);
    data.set("bot", botId());
    const ticket = ++asked;
    note.textContent = "counting…";
    fetch(live.dataset.countUrl, { method: "POST", body: data, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (ticket !== asked || !answer) {
          return;
        }
        if (answer.error) {
          shown.textContent = "—";
          note.textContent = answer.error;
          live.classList.add("errors");
        } else {
          shown.textContent = Number(answer.count).toLocaleString();
          note.textContent = "as the filters below stand, before saving";
          live.classList.remove("errors");
        }
      })
      .catch(function () { note.textContent = "could not count: the next change tries again"; });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(count, DEBOUNCE_MS);
  }

  // --- the values the bot knows ----------------------------------------------------------

  function datalist(id, values) {
    let list = document.getElementById(id);
    if (!list) {
      list = document.createElement("datalist");
      list.id = id;
      form.appendChild(list);
    }
    list.replaceChildren.apply(list, values.map(function (value) {
      const option = document.createElement("option");
      option.value = value;
      return option;
    }));
  }

  function loadChoices() {
    const bot = botId();
    if (!bot) {
      return;
    }
    fetch(live.dataset.choicesUrl + "?bot=" + encodeURIComponent(bot), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (choices) {
        if (!choices) {
          return;
        }
        ["channel", "language", "tag"].forEach(function (field) {
          datalist("segment-values-" + field, choices.values[field] || []);
        });
        datalist("segment-variable-names", choices.variables || []);
        linkAll();
      });
  }

  function link(row) {
    const field = row.querySelector("select[name$='-field']");
    const value = row.querySelector("input[name$='-value']");
    const name = row.querySelector("input[name$='-name']");
    if (value) {
      const id = field && document.getElementById("segment-values-" + field.value) ? "segment-values-" + field.value : "";
      if (id) {
        value.setAttribute("list", id);
      } else {
        value.removeAttribute("list");
      }
    }
    if (name) {
      name.setAttribute("list", "segment-variable-names");
    }
  }

  function linkAll() {
    form.querySelectorAll("#filters-group tr.form-row").forEach(link);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", function (event) {
    const row = event.target.closest && event.target.closest("tr.form-row");
    if (row) {
      link(row);
    }
    if (event.target.id === "id_bot") {
      loadChoices();
    }
    later();
  });
  document.addEventListener("formset:added", function (event) {
    link(event.target);
  });
  document.addEventListener("formset:removed", later);

  loadChoices();
  count();
})();
