// The usage charts of a key's and a cluster's page (templates/apikeys/_usage.html),
// drawn with uPlot (static/vendor/uplot/) from the page's JSON; the page's
// table holds the same numbers for screen readers and without JavaScript.
(function () {
  "use strict";
  var source = document.getElementById("usage-data");
  if (!source || typeof uPlot === "undefined") return;
  var data = JSON.parse(source.textContent);
  var COLOURS = { "allowed": "#2f9e6b", "401": "#c98a1b", "403": "#d9534f", "429": "#7b61c9", "5xx": "#5a5a5a" };
  var names = data.order;  // not Object.keys: it puts "401" before "allowed"

  function width(element) {
    return Math.max(280, element.clientWidth);
  }

  function requestsChart(element) {
    // Stacked: each outcome's series is the running sum up to it, drawn
    // largest first so the smaller ones lie on top.
    var sums = [], running = data.starts.map(function () { return 0; });
    names.forEach(function (name) {
      running = running.map(function (value, i) { return value + data.outcomes[name][i]; });
      sums.push(running.slice());
    });
    var bars = uPlot.paths.bars({ size: [0.9, 24] });
    var order = names.map(function (_, i) { return i; }).reverse();
    var series = [{}].concat(order.map(function (i) {
      var name = names[i];
      return { label: data.labels[name], stroke: COLOURS[name], fill: COLOURS[name], paths: bars, points: { show: false },
               value: function (u, v, s, idx) { return idx == null ? "" : String(data.outcomes[name][idx]); } };
    }));
    var columns = [data.starts].concat(order.map(function (i) { return sums[i]; }));
    return new uPlot({
      width: width(element), height: 220, series: series, legend: { live: true },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      axes: [{}, { label: "requests", size: 50 }],
    }, columns, element);
  }

  function latencyChart(element) {
    return new uPlot({
      width: width(element), height: 180, legend: { live: true },
      series: [{}, { label: "p50 ms", stroke: "#2b6cb0", spanGaps: true }, { label: "p99 ms", stroke: "#d9534f", spanGaps: true }],
      scales: { x: { time: true } },
      axes: [{}, { label: "ms", size: 50 }],
    }, [data.starts, data.p50_ms, data.p99_ms], element);
  }

  document.querySelectorAll("[data-usage-chart]").forEach(function (element) {
    var chart = element.dataset.usageChart === "latency" ? latencyChart(element) : requestsChart(element);
    element.dataset.drawn = "true";
    if (window.ResizeObserver) {
      new ResizeObserver(function () { chart.setSize({ width: width(element), height: chart.height }); }).observe(element);
    }
  });
})();
