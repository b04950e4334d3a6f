// How a progress element writes its figures, the same on every page that follows a long
// piece of work (an operation, a CSV import): counts with thousands separators, a rate in
// whole units, a time left in hours, minutes and seconds, and "…" for what is not known yet.
(function () {
  "use strict";

  function unknown(value) {
    return value === null || value === undefined;
  }

  window.progressWords = {
    number: function (value) {
      return unknown(value) ? "…" : Number(value).toLocaleString("en");
    },
    rate: function (value) {
      return unknown(value) ? "…" : Math.round(value).toLocaleString("en");
    },
    duration: function (seconds) {
      if (unknown(seconds)) {
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
    },
    // Fills root's [data-field=name] element with text, where the page has one.
    setter: function (root) {
      return function (name, text) {
        const element = root.querySelector('[data-field="' + name + '"]');
        if (element) {
          element.textContent = text;
        }
      };
    },
  };
})();
