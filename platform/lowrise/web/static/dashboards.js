/* Lowrise dashboards: draw each chart from the JSON the server put in its canvas's
   data-spec attribute, with Chart.js (vendor/).
   A click on a bar, a slice or a funnel step opens the records behind it. No inline script. */
(function () {
  "use strict";

  var OPTION_COLORS = {
    gray: "#94a3b8", teal: "#14b8a6", blue: "#3b82f6", indigo: "#6366f1", purple: "#a855f7",
    orange: "#f97316", green: "#22c55e", brown: "#b45309", red: "#ef4444", yellow: "#eab308",
    pink: "#ec4899"
  };
  var SERIES = ["#6366f1", "#14b8a6", "#f59e0b", "#ec4899", "#3b82f6", "#22c55e", "#a855f7",
    "#ef4444", "#06b6d4", "#84cc16", "#f97316", "#64748b"];
  var INK = "#4b5565", GRID = "#eef0f4";

  function lang() { return document.documentElement.lang || "en"; }

  function compact(v) {
    try {
      return new Intl.NumberFormat(lang(), { notation: "compact", maximumFractionDigits: 1 }).format(v);
    } catch (e) { return String(v); }
  }

  function colorOf(name, i) { return OPTION_COLORS[name] || SERIES[i % SERIES.length]; }

  function fade(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16 & 255) + "," + (n >> 8 & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function go(spec, datasetIndex, index) {
    var ds = spec.datasets[datasetIndex];
    var url = ds && ds.links ? ds.links[index] : null;
    if (url) window.location.assign(url);
  }

  function interaction(spec) {
    return {
      onClick: function (evt, elements) {
        if (elements.length) go(spec, elements[0].datasetIndex, elements[0].index);
      },
      onHover: function (evt, elements) {
        var linked = elements.length && spec.datasets[elements[0].datasetIndex].links[elements[0].index];
        evt.native.target.style.cursor = linked ? "pointer" : "default";
      }
    };
  }

  function tooltip(spec) {
    return {
      callbacks: {
        label: function (ctx) {
          var ds = spec.datasets[ctx.datasetIndex];
          var text = ds.texts[ctx.dataIndex];
          var rate = spec.rates && spec.rates[ctx.dataIndex];
          return (spec.datasets.length > 1 || spec.kind === "pie" || spec.kind === "donut" ? ds.label + ": " : "") +
            text + (rate ? "  (" + rate + ")" : "");
        }
      }
    };
  }

  function scales(spec, twoAxes) {
    var value = {
      beginAtZero: true, grid: { color: GRID }, border: { display: false },
      ticks: { color: INK, callback: function (v) { return compact(v); } }
    };
    var cat = { grid: { display: false }, border: { display: false }, ticks: { color: INK } };
    var out = spec.horizontal ? { y: cat, x: value } : { x: cat, y: value };
    if (spec.stacked) { out.x.stacked = true; out.y.stacked = true; }
    if (twoAxes) {
      out.y1 = Object.assign({}, value, { position: "right", grid: { display: false } });
    }
    return out;
  }

  function barConfig(spec) {
    var single = spec.datasets.length === 1;
    var twoAxes = !spec.stacked && spec.datasets.length === 2 && !spec.horizontal &&
      spec.kind === "bar";
    var datasets = spec.datasets.map(function (ds, i) {
      var base = single ? null : colorOf(ds.color, i);
      var colors = single ? spec.colors.map(function (c, j) { return colorOf(c, j); }) : base;
      var out = {
        label: ds.label, data: ds.data, borderRadius: 6, borderSkipped: false,
        backgroundColor: colors, maxBarThickness: 44
      };
      if (spec.kind === "line") {
        var line = colorOf(ds.color, i);
        out = { label: ds.label, data: ds.data, borderColor: line, backgroundColor: fade(line, .12),
          fill: i === 0, cubicInterpolationMode: "monotone",
          pointRadius: ds.data.length > 24 ? 0 : 2.5,
          pointHoverRadius: 5, borderWidth: 2.5 };
      }
      if (twoAxes && i === 1) {
        out.yAxisID = "y1";
        out.type = "line";
        out.borderColor = "#f59e0b";
        out.backgroundColor = "#f59e0b";
        out.pointRadius = 4;
        out.borderWidth = 2;
        out.cubicInterpolationMode = "monotone";
      }
      return out;
    });
    return {
      type: spec.kind === "line" ? "line" : "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: Object.assign({
        responsive: true, maintainAspectRatio: false, indexAxis: spec.horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: spec.kind !== "line" },
        plugins: { legend: { display: !single, position: "bottom", labels: { boxWidth: 10, usePointStyle: true } },
          tooltip: tooltip(spec) },
        scales: scales(spec, twoAxes)
      }, interaction(spec))
    };
  }

  function pieConfig(spec) {
    var ds = spec.datasets[0];
    return {
      type: "doughnut",
      data: { labels: spec.labels, datasets: [{ label: ds.label, data: ds.data,
        backgroundColor: spec.colors.map(function (c, j) { return colorOf(c, j); }),
        borderColor: "#fff", borderWidth: 2, hoverOffset: 6 }] },
      options: Object.assign({
        responsive: true, maintainAspectRatio: false, cutout: spec.kind === "donut" ? "62%" : 0,
        plugins: { legend: { position: "right", labels: { boxWidth: 10, usePointStyle: true } },
          tooltip: tooltip(spec) }
      }, interaction(spec))
    };
  }

  /* A funnel: floating bars centred on zero, widest at the top, the count inside each step
     and the conversion from the step before at its right. */
  var funnelLabels = {
    id: "lowriseFunnelLabels",
    afterDatasetsDraw: function (chart) {
      var spec = chart.$lowrise;
      if (!spec || spec.kind !== "funnel") return;
      var ctx = chart.ctx, meta = chart.getDatasetMeta(0), ds = spec.datasets[0];
      ctx.save();
      ctx.textBaseline = "middle";
      ctx.font = "600 12px " + getComputedStyle(document.body).fontFamily;
      meta.data.forEach(function (bar, i) {
        var text = ds.texts[i];
        var width = Math.abs(bar.x - bar.base);
        ctx.textAlign = "center";
        ctx.fillStyle = width > ctx.measureText(text).width + 12 ? "#fff" : "#1d2330";
        ctx.fillText(text, chart.scales.x.getPixelForValue(0), bar.y);
        if (spec.rates[i]) {
          ctx.textAlign = "left";
          ctx.fillStyle = "#7b8494";
          ctx.font = "500 11.5px " + getComputedStyle(document.body).fontFamily;
          ctx.fillText("↓ " + spec.rates[i], chart.chartArea.right + 10, bar.y);
          ctx.font = "600 12px " + getComputedStyle(document.body).fontFamily;
        }
      });
      ctx.restore();
    }
  };

  function funnelConfig(spec) {
    var ds = spec.datasets[0];
    var top = Math.max.apply(null, ds.data.concat([1]));
    var colors = ds.data.map(function (v, i) {
      return fade("#4f46e5", Math.max(.35, 1 - i * (0.6 / Math.max(1, ds.data.length - 1))));
    });
    return {
      type: "bar",
      data: { labels: spec.labels, datasets: [{ label: ds.label,
        data: ds.data.map(function (v) { return [-(v || 0) / 2, (v || 0) / 2]; }),
        backgroundColor: colors, borderRadius: 4, borderSkipped: false, barPercentage: .92,
        categoryPercentage: 1 }] },
      options: Object.assign({
        responsive: true, maintainAspectRatio: false, indexAxis: "y",
        layout: { padding: { right: 76 } },
        plugins: { legend: { display: false }, tooltip: tooltip(spec) },
        scales: {
          x: { display: false, min: -top / 2, max: top / 2 },
          y: { grid: { display: false }, border: { display: false }, ticks: { color: INK } }
        }
      }, interaction(spec))
    };
  }

  function draw(root) {
    if (typeof window.Chart === "undefined") return;
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (window.Chart.getChart(canvas)) return;
      if (!canvas.dataset.spec) return;
      var spec = JSON.parse(canvas.dataset.spec);
      var config = spec.kind === "funnel" ? funnelConfig(spec)
        : (spec.kind === "pie" || spec.kind === "donut") ? pieConfig(spec) : barConfig(spec);
      config.plugins = [funnelLabels];
      var chart = new window.Chart(canvas, config);
      chart.$lowrise = spec;
      canvas.dataset.drawn = "true";
    });
  }

  /* A custom date switches the range to "custom"; a preset empties the dates. */
  document.addEventListener("change", function (e) {
    var form = e.target.closest && e.target.closest(".dash-controls");
    if (!form) return;
    var range = form.querySelector("[data-range]");
    if (e.target.hasAttribute("data-custom")) {
      range.value = "custom";
    } else if (e.target === range && range.value !== "custom") {
      form.querySelectorAll("[data-custom]").forEach(function (i) { i.value = ""; });
    }
  }, true);

  if (window.Chart) {
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = INK;
    window.Chart.defaults.animation.duration = 400;
  }
  /* Charts of a board htmx is about to replace let go of their canvas. */
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!window.Chart || !e.detail.target) return;
    e.detail.target.querySelectorAll("canvas[data-chart]").forEach(function (c) {
      var chart = window.Chart.getChart(c);
      if (chart) chart.destroy();
    });
  });
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:load", function (e) { draw(e.detail.elt); });
  if (document.readyState !== "loading") draw(document);
})();
