/* Dashboard charts (templates/metrics/_*_trend.html, _pipeline_by_stage.html).
 *
 * Each chart is a <canvas data-chart="kind" data-chart-source="id">: its numbers come from
 * the <script type="application/json" id="id"> element Django's json_script wrote, and are
 * parsed as JSON, never evaluated. Labels (months, stage names) are drawn on the canvas as
 * text. Every chart has a table of the same figures under it, so nothing is lost without
 * JavaScript. No inline script: this file is loaded with defer.
 */
(function () {
  "use strict";

  var COLORS = {
    accent: "#2457d6",
    accentSoft: "rgba(36, 87, 214, 0.18)",
    ok: "#067647",
    warn: "#b54708",
    muted: "#5f6b7a",
    line: "#e3e7ed",
    grey: "#98a2b3",
    white: "#ffffff"
  };
  var LOCALE = document.documentElement.lang || undefined;
  var wholeNumber = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
  var compactNumber = new Intl.NumberFormat(LOCALE, {
    notation: "compact",
    maximumFractionDigits: 1
  });
  var percentNumber = new Intl.NumberFormat(LOCALE, {
    style: "percent",
    maximumFractionDigits: 1
  });

  function readData(id) {
    var element = id && document.getElementById(id);
    if (!element) {
      return null;
    }
    try {
      return JSON.parse(element.textContent);
    } catch (error) {
      return null;
    }
  }

  function hasValues(series) {
    return Array.isArray(series) && series.some(function (value) {
      return value !== null && value !== undefined;
    });
  }

  function moneyTooltip(context) {
    var value = context.parsed.y !== undefined ? context.parsed.y : context.parsed.x;
    return context.dataset.label + ": " + (value === null ? "—" : wholeNumber.format(value));
  }

  // A point's state (frozen at a month's end, live to today, or never frozen) and date,
  // from the trend's data: the tooltip says which, the live point is drawn hollow.
  function isLive(data, index) {
    return Array.isArray(data.state) && data.state[index] === "live";
  }

  function stateFooter(data) {
    return function (items) {
      var index = items.length ? items[0].dataIndex : -1;
      var state = data.state && data.state[index];
      var day = data.as_of && data.as_of[index];
      if (state === "live") {
        return "Live, to " + day;
      }
      if (state === "frozen") {
        return "Frozen " + day;
      }
      return state === "missing" ? "Not frozen" : "";
    };
  }

  function perPoint(data, live, frozen) {
    return data.labels.map(function (label, index) {
      return isLive(data, index) ? live : frozen;
    });
  }

  // The live segment (into the live point) dashed, the line's other segments as they are.
  function liveSegment(data, extra) {
    var segment = extra || {};
    segment.borderDash = function (context) {
      return isLive(data, context.p1DataIndex) ? [4, 4] : undefined;
    };
    return segment;
  }

  function axisTitle(text) {
    return { display: Boolean(text), text: text || "", color: COLORS.muted };
  }

  function baseOptions() {
    var reduceMotion = window.matchMedia &&
      window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: reduceMotion ? false : { duration: 400 },
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: {
          position: "bottom",
          labels: { boxWidth: 12, boxHeight: 12, color: COLORS.muted }
        },
        tooltip: { callbacks: { label: moneyTooltip } }
      },
      scales: {
        x: { grid: { display: false }, ticks: { color: COLORS.muted, maxRotation: 0, autoSkip: true } },
        y: {
          beginAtZero: true,
          grid: { color: COLORS.line },
          border: { display: false },
          ticks: {
            color: COLORS.muted,
            callback: function (value) { return compactNumber.format(value); }
          }
        }
      }
    };
  }

  var BUILDERS = {
    // Monthly revenue (bars) against the month's target, and the quarter to date (line)
    // against the quarter's target (dashed steps); series without any value are left out.
    "revenue-trend": function (data) {
      var datasets = [{
        type: "bar",
        label: "Revenue in the month",
        data: data.revenue,
        backgroundColor: perPoint(data, COLORS.white, COLORS.accentSoft),
        borderColor: COLORS.accent,
        borderWidth: perPoint(data, 2, 1),
        borderRadius: 4,
        order: 3
      }];
      if (hasValues(data.target)) {
        datasets.push({
          type: "line",
          label: "Month target",
          data: data.target,
          borderColor: COLORS.warn,
          backgroundColor: COLORS.warn,
          borderWidth: 2,
          pointRadius: 0,
          stepped: "middle",
          spanGaps: false,
          order: 1
        });
      }
      if (hasValues(data.quarter_revenue)) {
        datasets.push({
          type: "line",
          label: "Quarter to date",
          data: data.quarter_revenue,
          borderColor: COLORS.accent,
          backgroundColor: COLORS.accent,
          borderWidth: 2,
          pointRadius: 3,
          pointBackgroundColor: perPoint(data, COLORS.white, COLORS.accent),
          tension: 0,
          spanGaps: false,
          order: 2,
          segment: liveSegment(data, {
            borderColor: function (context) {
              return data.quarter_start && data.quarter_start[context.p1DataIndex]
                ? "transparent" : undefined;
            }
          })
        });
      }
      if (hasValues(data.quarter_target)) {
        datasets.push({
          type: "line",
          label: "Quarter target",
          data: data.quarter_target,
          borderColor: COLORS.ok,
          backgroundColor: COLORS.ok,
          borderDash: [6, 4],
          borderWidth: 2,
          pointRadius: 0,
          stepped: "middle",
          spanGaps: false,
          order: 1
        });
      }
      var options = baseOptions();
      options.scales.y.title = axisTitle(data.currency);
      options.plugins.tooltip.callbacks.footer = stateFooter(data);
      return { type: "bar", data: { labels: data.labels, datasets: datasets }, options: options };
    },

    "win-rate-trend": function (data) {
      var options = baseOptions();
      options.scales.y.suggestedMax = 1;
      options.scales.y.ticks.callback = function (value) { return percentNumber.format(value); };
      options.scales.y.title = axisTitle("%");
      options.plugins.legend.display = false;
      // A month without a decided deal has no win rate: a gap, and the tooltip says why.
      options.plugins.tooltip.callbacks.label = function (context) {
        var value = context.parsed.y;
        if (value === null || value === undefined || isNaN(value)) {
          return data.decided && data.decided[context.dataIndex] === 0
            ? "Win rate: no decided deals" : "Win rate: —";
        }
        return "Win rate: " + percentNumber.format(value);
      };
      options.plugins.tooltip.callbacks.footer = stateFooter(data);
      return {
        type: "line",
        data: {
          labels: data.labels,
          datasets: [{
            label: "Win rate",
            data: data.win_rate,
            borderColor: COLORS.accent,
            backgroundColor: COLORS.accentSoft,
            fill: true,
            borderWidth: 2,
            pointRadius: 3,
            pointBackgroundColor: perPoint(data, COLORS.white, COLORS.accent),
            tension: 0,
            spanGaps: false,
            segment: liveSegment(data)
          }]
        },
        options: options
      };
    },

    "pipeline-by-stage": function (data) {
      var options = baseOptions();
      options.indexAxis = "y";
      options.scales = {
        x: {
          beginAtZero: true,
          grid: { color: COLORS.line },
          border: { display: false },
          title: axisTitle(data.currency),
          ticks: {
            color: COLORS.muted,
            callback: function (value) { return compactNumber.format(value); }
          }
        },
        y: { grid: { display: false }, ticks: { color: COLORS.muted } }
      };
      return {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: [
            {
              label: "Pipeline",
              data: data.pipeline_value,
              backgroundColor: COLORS.accentSoft,
              borderColor: COLORS.accent,
              borderWidth: 1,
              borderRadius: 4
            },
            {
              label: "Weighted",
              data: data.weighted_pipeline,
              backgroundColor: COLORS.accent,
              borderRadius: 4
            }
          ]
        },
        options: options
      };
    }
  };

  function draw(canvas) {
    var build = BUILDERS[canvas.getAttribute("data-chart")];
    var data = readData(canvas.getAttribute("data-chart-source"));
    if (!build || !data || canvas.hasAttribute("data-chart-drawn")) {
      return;
    }
    new window.Chart(canvas, build(data));
    canvas.setAttribute("data-chart-drawn", "");
  }

  function drawAll(root) {
    if (!window.Chart) {
      return; // the tables under each chart still carry the figures
    }
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    (root || document).querySelectorAll("canvas[data-chart][data-chart-source]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  } else {
    drawAll(document);
  }
  // Pages swapped in by htmx get their charts too.
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
