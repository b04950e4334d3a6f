/* An insights page: each chart drawn with Chart.js from the page's data (json_script
   "insights-data"), made on the server from the same cells as the table view beside it.
   A missing or invalid day is null and drawn as a gap (spanGaps: false), never as zero.
   Without this script, or without Chart.js, the table views stay open as the page. */
(function () {
  "use strict";

  // Beside colour, each series has its own point shape and line dash, so none is told
  // apart by colour alone.
  var POINTS = ["circle", "rect", "triangle", "rectRot"];
  var DASHES = [[], [6, 3], [2, 3], [10, 3, 2, 3]];
  var charts = [];

  function style(name) {
    var root = document.querySelector(".insights") || document.documentElement;
    return getComputedStyle(root).getPropertyValue(name).trim();
  }

  function colourOf(dataset, index) {
    return style("--insights-" + (dataset.tone || String((index % 4) + 1)));
  }

  function datasetsOf(chart) {
    return chart.datasets.map(function (dataset, index) {
      var type = dataset.shape || chart.type;
      var colour = colourOf(dataset, index);
      return {
        label: dataset.label,
        data: dataset.data,
        type: type,
        yAxisID: dataset.axis,
        borderColor: colour,
        backgroundColor: colour,
        borderWidth: 2,
        borderDash: type === "line" ? DASHES[index % DASHES.length] : undefined,
        pointStyle: POINTS[index % POINTS.length],
        pointRadius: chart.labels.length > 45 ? 1.5 : 3,
        spanGaps: false,
        stack: type === "bar" && chart.stacked ? "counts" : undefined,
        order: type === "line" ? 0 : 1
      };
    });
  }

  function axis(extra) {
    var fg = style("--body-quiet-color");
    var grid = style("--hairline-color");
    return Object.assign({ ticks: { color: fg }, grid: { color: grid }, border: { color: grid } }, extra);
  }

  // A week's label ("2026-W46 (11-09 to 11-15)") on two lines, so every week keeps its tick.
  function tick(value) {
    var label = String(this.getLabelForValue(value));
    var cut = label.indexOf(" (");
    return cut > 0 ? [label.slice(0, cut), label.slice(cut + 1)] : label;
  }

  function configOf(chart) {
    var scales = {
      x: axis({ stacked: chart.stacked, ticks: { color: style("--body-quiet-color"), maxRotation: 0, autoSkipPadding: 12, callback: tick } }),
      y: axis({ stacked: chart.stacked, beginAtZero: true })
    };
    if (chart.datasets.some(function (d) { return d.axis === "y2"; })) {
      var bounds = chart.y2_bounds ? { min: chart.y2_bounds[0], max: chart.y2_bounds[1] } : { beginAtZero: true };
      scales.y2 = axis(Object.assign({ position: "right", grid: { drawOnChartArea: false } }, bounds));
    }
    var linked = chart.links.some(Boolean);
    return {
      type: chart.type,
      data: { labels: chart.labels, datasets: datasetsOf(chart) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: { labels: { color: style("--body-fg"), usePointStyle: true, boxWidth: 8, boxHeight: 8 } },
          tooltip: {
            callbacks: {
              label: function (item) {
                var value = item.raw === null ? "missing" : item.formattedValue;
                return item.dataset.label + ": " + value + (chart.percent ? "%" : "");
              }
            }
          }
        },
        onClick: linked ? function (event, elements) {
          if (elements.length && chart.links[elements[0].index]) {
            window.location.href = chart.links[elements[0].index];
          }
        } : undefined,
        onHover: linked ? function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        } : undefined
      }
    };
  }

  function drawAll(data) {
    charts.forEach(function (drawn) { drawn.destroy(); });
    charts = [];
    Object.keys(data.charts).forEach(function (key) {
      var box = document.querySelector('[data-chart="' + key + '"]');
      if (!box) { return; }
      box.hidden = false;
      charts.push(new window.Chart(box.querySelector("canvas"), configOf(data.charts[key])));
      var table = box.parentElement.querySelector("details.insights-table");
      if (table && !table.hasAttribute("data-always")) { table.open = false; }
    });
  }

  function watchTheme(data) {
    var redraw = function () { drawAll(data); };
    new MutationObserver(redraw).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redraw);
  }

  function watchRefresh() {
    var form = document.querySelector('[data-role="refresh"]');
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      if (form.dataset.busy) { event.preventDefault(); return; }
      form.dataset.busy = "1";
      form.setAttribute("aria-busy", "true");
      form.querySelector('[data-role="progress"]').hidden = false;
      form.querySelector("button").disabled = true;
    });
  }

  function start() {
    watchRefresh();
    var source = document.getElementById("insights-data");
    if (!source || typeof window.Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    drawAll(data);
    watchTheme(data);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
