// budgetkg agency page: sortable project table and a small neighbourhood graph of partner agencies
// (cytoscape.js from /static/vendor/; edges weigh the number of shared-goal links).
(function () {
  "use strict";
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th, col) {
      th.style.cursor = "pointer";
      th.title = "点击排序 click to sort";
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var asc = th.dataset.dir !== "asc";
        th.dataset.dir = asc ? "asc" : "desc";
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          var r = th.dataset.sort === "num" ? parseFloat(x.dataset.value || 0) - parseFloat(y.dataset.value || 0)
            : x.textContent.trim().localeCompare(y.textContent.trim(), "zh");
          return asc ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var el = document.getElementById("neighbourhood");
  if (!el || typeof window.cytoscape === "undefined") return;
  var data = JSON.parse(el.dataset.graph);
  var maxW = Math.max.apply(null, [1].concat(data.edges.map(function (e) { return e.data.weight; })));
  var cy = window.cytoscape({
    container: el,
    elements: data.nodes.concat(data.edges),
    style: [
      { selector: "node", style: { "label": "data(label)", "font-size": 11, "text-wrap": "wrap", "text-max-width": 110,
        "text-valign": "bottom", "text-margin-y": 3,
        "background-color": "#5b6475", "width": 14, "height": 14, "color": "#1d2330" } },
      { selector: "node[kind = 'self']", style: { "background-color": "#a4262c", "width": 24, "height": 24,
        "font-weight": "bold" } },
      { selector: "edge", style: { "width": "mapData(weight, 1, " + maxW + ", 1, 6)", "line-color": "#c9ced8" } },
    ],
    layout: { name: "concentric", concentric: function (n) { return n.data("kind") === "self" ? 2 : 1; },
              levelWidth: function () { return 1; }, padding: 30, minNodeSpacing: 70, avoidOverlap: true },
    userZoomingEnabled: false,
    maxZoom: 1.1,  // a few partners must not be blown up to fill the box
  });
  cy.on("tap", "node[href]", function (ev) { window.location.href = ev.target.data("href"); });
  el.dataset.state = "ready";
  el.dataset.nodes = String(cy.nodes().length);
  window.budgetkgNeighbourhood = cy;
})();
