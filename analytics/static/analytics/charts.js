// Draws the analytics pages' charts (Chart.js, vendored) from the JSON the page embeds; a
// click on a bar or point opens the queue filtered to the conversations behind it.
(function () {
  "use strict";
  var element = document.getElementById("analytics-charts");
  if (!element || typeof Chart === "undefined") return;
  var charts = JSON.parse(element.textContent);
  document.querySelectorAll("canvas[data-chart-index]").forEach(function (canvas) {
    var spec = charts[Number(canvas.dataset.chartIndex)];
    var chart = new Chart(canvas, {
      type: spec.kind,
      data: { labels: spec.labels, datasets: spec.datasets.map(function (d) { return { label: d.label, data: d.data, spanGaps: true }; }) },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        onClick: function (event, elements) {
          if (!elements.length) return;
          var hit = elements[0];
          var link = spec.datasets[hit.datasetIndex].links[hit.index];
          if (link) window.location.href = link;
        },
        onHover: function (event, elements) {
          var hit = elements[0];
          canvas.style.cursor = hit && spec.datasets[hit.datasetIndex].links[hit.index] ? "pointer" : "default";
        }
      }
    });
    canvas.chart = chart;
  });
})();
