/* The network page (/graph): loads Cytoscape.js JSON from /api/graph and draws it with cytoscape.js + fcose.
 *
 * View, node types, department, funding and concept choice ask the server again (/api/graph?…);
 * edge kinds, minimum weight, search, size and colour act on the drawn graph at once. The page's
 * own URL carries the server-side filters (/graph?view=agency&department=341), so a view can be shared.
 * #graph-status tells tests and scripts what is drawn: data-state (loading | ready | error),
 * data-nodes / data-edges (drawn, i.e. visible), data-api-nodes (in the response), data-source (the URL).
 */
(function () {
  "use strict";

  var app = document.getElementById("graph-app");
  if (!app) return;
  var API = app.dataset.api, ROOT = app.dataset.root, BASE = app.dataset.baseIri;
  var statusEl = document.getElementById("graph-status");
  var warningEl = document.getElementById("graph-warning");
  var detailsEl = document.getElementById("graph-details");
  var legendEl = document.getElementById("graph-legend");
  var form = document.getElementById("graph-controls");
  var $ = function (id) { return document.getElementById(id); };
  var OPTIONAL = { funding: true, concept: true, vendor: true };
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                 "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"];
  var SHAPES = { agency: "round-rectangle", project: "ellipse", funding: "diamond", concept: "triangle", vendor: "hexagon" };
  var cy = null, meta = null, hiddenKinds = {}, searchTimer = null, pinned = null, loadSeq = 0;

  function setStatus(state, text, extra) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    Object.keys(extra || {}).forEach(function (k) { statusEl.dataset[k] = String(extra[k]); });
  }

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  /* Where this server shows an IRI: its own route under the base IRI, /resource?iri= otherwise. */
  function href(iri) {
    if (iri && iri.indexOf(BASE) === 0 && iri.length > BASE.length) {
      return ROOT + iri.slice(BASE.length).split("/").map(encodeURIComponent).join("/");
    }
    return ROOT + "resource?iri=" + encodeURIComponent(iri || "");
  }

  // -- the request ------------------------------------------------------------------------
  function view() { return $("f-view").value; }

  function serverParams() {
    var p = new URLSearchParams();
    if (view() !== "network") p.set("view", view());
    if (view() === "network") {
      var types = Array.prototype.filter.call(form.querySelectorAll("input[name=node_types]"), function (i) {
        return i.checked && !i.disabled;
      }).map(function (i) { return i.value; });
      p.set("node_types", types.join(",") || "agency");
      if (form.querySelector("input[name=all_concepts]").checked) p.set("concepts", "all");
    }
    if ($("f-department").value) p.set("department", $("f-department").value);
    if ($("f-funding").value) p.set("funding", $("f-funding").value);
    return p;
  }

  function readPageUrl() {
    var q = new URLSearchParams(window.location.search);
    if (q.get("view")) $("f-view").value = q.get("view");
    if (q.get("node_types")) {
      var want = q.get("node_types").split(",");
      form.querySelectorAll("input[name=node_types]").forEach(function (i) { i.checked = want.indexOf(i.value) >= 0; });
    }
    if (q.get("concepts") === "all") form.querySelector("input[name=all_concepts]").checked = true;
    ["department", "funding"].forEach(function (k) {
      if (q.get(k)) {
        var sel = $("f-" + k);
        var opt = document.createElement("option");
        opt.value = q.get(k); opt.textContent = q.get(k);
        sel.appendChild(opt);
        sel.value = q.get(k);
      }
    });
    if (q.get("min_weight")) $("f-weight").value = q.get("min_weight");
    if (q.get("q")) $("f-search").value = q.get("q");
  }

  function load() {
    var seq = ++loadSeq;
    var params = serverParams();
    var url = API + (params.toString() ? "?" + params.toString() : "");
    var page = new URLSearchParams(params);
    if ($("f-weight").value && Number($("f-weight").value) > 0) page.set("min_weight", $("f-weight").value);
    history.replaceState(null, "", window.location.pathname + (page.toString() ? "?" + page.toString() : ""));
    setStatus("loading", "加载中 Loading…", { source: url, nodes: 0, edges: 0, apiNodes: "" });
    $("f-node-types").disabled = view() !== "network";
    var started = performance.now();
    fetch(url, { headers: { Accept: "application/json" } }).then(function (resp) {
      if (!resp.ok) return resp.text().then(function (t) { throw new Error(resp.status + " " + t); });
      return resp.json();
    }).then(function (data) {
      if (seq !== loadSeq) return;
      draw(data, performance.now() - started);
    }).catch(function (err) {
      if (seq !== loadSeq) return;
      setStatus("error", "加载失败 Could not load the graph: " + err.message);
    });
  }

  // -- menus --------------------------------------------------------------------------------
  function fillSelect(sel, items, value, label) {
    var keep = sel.value;
    sel.innerHTML = "";
    var all = document.createElement("option");
    all.value = ""; all.textContent = "全部 all";
    sel.appendChild(all);
    items.forEach(function (it) {
      var o = document.createElement("option");
      o.value = value(it); o.textContent = label(it);
      sel.appendChild(o);
    });
    sel.value = keep;
    if (sel.value !== keep) {  // a value the store does not know: keep it visible
      var o = document.createElement("option");
      o.value = keep; o.textContent = keep;
      sel.appendChild(o);
      sel.value = keep;
    }
  }

  function fillMenus() {
    fillSelect($("f-department"), meta.departments, function (d) { return d.code; },
               function (d) { return d.code + " " + (d.label.indexOf(d.code) >= 0 ? "(未命名 unnamed)" : d.label); });
    fillSelect($("f-funding"), meta.funding_sources, function (f) { return f.key; },
               function (f) { return f.label + " (" + f.projects + ")"; });
    ["concept", "vendor"].forEach(function (t) {
      var box = form.querySelector("input[name=node_types][value=" + t + "]");
      var present = meta.available[t];
      box.disabled = !present;
      box.parentNode.title = present ? "" : (t === "concept" ? "no indicator concepts in the store: run budgetkg link"
                                                             : "no contracts in the store: budgetkg contracts import");
    });
    var kinds = $("edge-kinds");
    kinds.innerHTML = "";
    meta.options.edge_kinds.forEach(function (k) {
      var n = meta.edge_counts[k] || 0;
      var lab = document.createElement("label");
      lab.innerHTML = '<input type="checkbox" value="' + esc(k) + '"' + (hiddenKinds[k] ? "" : " checked") + "> " +
        '<span class="swatch" style="background:' + esc(meta.edge_colours[k] || "#999") + '"></span>' +
        esc(meta.labels[k] || k) + " " + esc(k) + ' <span class="count">' + n + "</span>";
      kinds.appendChild(lab);
    });
    var maxW = 0;
    cy.edges().forEach(function (e) { maxW = Math.max(maxW, e.data("weight") || 0); });
    var range = $("f-weight-range");
    var projection = meta.view !== "network";
    range.max = projection ? String(Math.max(1, Math.ceil(maxW))) : "1";
    range.step = projection ? "1" : "0.05";
    range.value = $("f-weight").value;
  }

  function legend() {
    var parts = [];
    Object.keys(meta.node_counts).forEach(function (t) {
      var colour = meta.node_colours[t] || "#888";
      parts.push('<span><i style="background:' + esc(colour) + '"></i>' + esc(meta.labels[t] || t) + " " + esc(t) +
                 " " + meta.node_counts[t] + "</span>");
    });
    if (meta.node_counts.agency && meta.view === "network") {
      parts.push('<span><i style="background:' + esc(meta.node_colours.department) + '"></i>' +
                 esc(meta.labels.department) + " department</span>");
    }
    parts.push('<span class="hint">淡色：筛选范围外的关联对象 · faded: linked from outside the filters</span>');
    legendEl.innerHTML = parts.join("");
  }

  // -- drawing ------------------------------------------------------------------------------
  function style() {
    return [
      { selector: "node", style: {
        "width": "data(_size)", "height": "data(_size)", "background-color": "data(_colour)",
        "shape": function (n) { return SHAPES[n.data("type")] || "ellipse"; },
        "label": "data(label)", "font-size": 8, "min-zoomed-font-size": 11, "text-valign": "bottom",
        "text-margin-y": 2, "text-wrap": "ellipsis", "text-max-width": "140px", "color": "#1d2330",
        "text-outline-color": "#ffffff", "text-outline-width": 2, "font-family": "Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif",
        "border-width": 0, "z-index": 2 } },
      { selector: "node[type = 'agency']", style: { "font-size": 13, "font-weight": 600, "min-zoomed-font-size": 6,
        "z-index": 5 } },
      { selector: "node[type = 'funding'], node[type = 'vendor']", style: { "font-size": 11, "min-zoomed-font-size": 7 } },
      { selector: "node[type = 'agency'][!in_filter], node[type = 'project'][!in_filter]", style: { "opacity": 0.5 } },
      { selector: "edge", style: {
        "width": "data(_width)", "line-color": "data(_colour)", "opacity": 0.55, "curve-style": "bezier",
        "target-arrow-shape": "none", "z-index": 1 } },
      { selector: "edge[kind = 'lineage'], edge[kind = 'tranche']", style: {
        "target-arrow-shape": "triangle", "target-arrow-color": "data(_colour)", "arrow-scale": 0.7 } },
      { selector: ".off", style: { "display": "none" } },
      { selector: ".faded", style: { "opacity": 0.08, "text-opacity": 0 } },
      { selector: "node.hl", style: { "opacity": 1, "text-opacity": 1, "min-zoomed-font-size": 0, "z-index": 9 } },
      { selector: "edge.hl", style: { "opacity": 0.95, "z-index": 8 } },
      { selector: "node.focus", style: { "border-width": 3, "border-color": "#1d2330" } },
      { selector: "node.match", style: { "border-width": 3, "border-color": "#f2b705", "min-zoomed-font-size": 0,
        "opacity": 1, "text-opacity": 1, "z-index": 10 } }
    ];
  }

  function draw(data, fetchMs) {
    meta = data.meta;
    if (cy) cy.destroy();
    var many = data.elements.nodes.length > 1500 || data.elements.edges.length > 4000;
    data.elements.nodes.forEach(function (n) { n.data._size = 20; n.data._colour = "#888"; });
    data.elements.edges.forEach(function (e) { e.data._width = 1; e.data._colour = "#999"; });
    cy = cytoscape({
      container: $("cy"), elements: data.elements, style: style(), layout: { name: "preset" },
      minZoom: 0.03, maxZoom: 5, wheelSensitivity: 0.25, boxSelectionEnabled: false,
      hideEdgesOnViewport: many, textureOnViewport: many, pixelRatio: many ? 1 : "auto"
    });
    fillMenus();
    legend();
    applyColour();
    applySize();
    applyEdgeWidths();
    applyVisibility();
    events();
    if (meta.truncated) {
      warningEl.hidden = false;
      warningEl.textContent = "图过大：只显示连接最多的 " + meta.nodes + " / " + meta.total_nodes + " 个节点（可按部门或资金来源筛选）。" +
        " Graph too large: showing the " + meta.nodes + " best-connected of " + meta.total_nodes + " nodes; filter by department or funding.";
    } else {
      warningEl.hidden = true;
    }
    runLayout(fetchMs);
  }

  function layoutOptions(n) {
    var fcose = typeof cytoscapeFcose !== "undefined";
    var edgeLength = function (e) {
      var k = e.data("kind");
      return k === "budget-unit" || k === "sub-organization" ? 45 : k === "has-concept" ? 70 : 90;
    };
    if (fcose) {
      return { name: "fcose", quality: n > 1200 ? "draft" : "default", randomize: true, animate: false, fit: true,
               padding: 30, packComponents: true, nodeRepulsion: function () { return 7000; },
               idealEdgeLength: edgeLength, edgeElasticity: function () { return 0.45; }, gravity: 0.3,
               gravityRange: 3.8, numIter: n > 1200 ? 1200 : 2500, nodeSeparation: 70, tile: true,
               tilingPaddingVertical: 14, tilingPaddingHorizontal: 14 };
    }
    return { name: "cose", animate: false, fit: true, padding: 30, randomize: true, idealEdgeLength: edgeLength,
             nodeRepulsion: function () { return 9000; }, numIter: 1000, componentSpacing: 60 };
  }

  function runLayout(fetchMs) {
    cy.resize();  // the container may have changed size since cytoscape measured it
    var visible = cy.elements().not(".off");
    var opts = layoutOptions(visible.nodes().length);
    var started = performance.now();
    setStatus("loading", "布局中 Laying out…");
    var layout = visible.layout(opts);
    layout.one("layoutstop", function () {
      cy.resize();
      cy.fit(cy.elements().not(".off"), 30);
      var ms = performance.now() - started;
      var server = meta.seconds ? Object.keys(meta.seconds).reduce(function (a, k) { return a + meta.seconds[k]; }, 0) : 0;
      ready("布局 " + opts.name + " " + (ms / 1000).toFixed(2) + " s" +
            (fetchMs != null ? " · 数据 data " + (fetchMs / 1000).toFixed(2) + " s (server " + server.toFixed(2) + " s)" : ""),
            opts.name);
      if ($("f-search").value) search(false);
    });
    layout.run();
  }

  function ready(note, layoutName) {
    var nodes = cy.nodes(":visible").length, edges = cy.edges(":visible").length;
    setStatus("ready", nodes + " 个节点 nodes, " + edges + " 条边 edges · " + note +
              (meta.betweenness && meta.betweenness !== "exact" ? " · betweenness " + meta.betweenness : "") +
              " · " + meta.communities + " 个社区 communities",
              { nodes: nodes, edges: edges, apiNodes: meta.nodes, apiEdges: meta.edges, layout: layoutName || "" });
  }

  function applyColour() {
    var by = $("f-colour").value;
    cy.batch(function () {
      cy.nodes().forEach(function (n) {
        var c;
        if (by === "community") {
          var k = n.data("community");
          c = k == null ? "#bbb" : PALETTE[k % PALETTE.length];
        } else {
          var t = n.data("type") === "agency" && n.data("level") === "department" ? "department" : n.data("type");
          c = meta.node_colours[t] || "#888";
        }
        n.data("_colour", c);
      });
      cy.edges().forEach(function (e) { e.data("_colour", meta.edge_colours[e.data("kind")] || "#999"); });
    });
  }

  function applySize() {
    var metric = $("f-size").value, max = 0;
    cy.nodes().forEach(function (n) { max = Math.max(max, Number(n.data(metric)) || 0); });
    cy.batch(function () {
      cy.nodes().forEach(function (n) {
        var v = Number(n.data(metric)) || 0;
        n.data("_size", 14 + 46 * Math.sqrt(max > 0 ? v / max : 0));
      });
    });
  }

  function applyEdgeWidths() {
    var max = {};
    cy.edges().forEach(function (e) {
      var k = e.data("kind");
      max[k] = Math.max(max[k] || 0, e.data("weight") || 0);
    });
    cy.batch(function () {
      cy.edges().forEach(function (e) {
        var m = max[e.data("kind")] || 1;
        e.data("_width", 1 + 5 * Math.sqrt((e.data("weight") || 0) / m));
      });
    });
  }

  /* Edge kinds and minimum weight: hide edges, then optional and outside-filter nodes left without edges. */
  function applyVisibility() {
    var minW = Number($("f-weight").value) || 0;
    cy.batch(function () {
      cy.edges().forEach(function (e) {
        e.toggleClass("off", !!hiddenKinds[e.data("kind")] || (e.data("weight") || 0) < minW);
      });
      cy.nodes().forEach(function (n) {
        var optional = OPTIONAL[n.data("type")] || !n.data("in_filter");
        var edges = n.connectedEdges().filter(function (e) { return !e.hasClass("off"); }).length;
        n.toggleClass("off", optional && edges === 0);
      });
    });
  }

  // -- interaction --------------------------------------------------------------------------
  function clearFocus() {
    cy.elements().removeClass("hl faded focus");
  }

  function focus(node) {
    cy.batch(function () {
      clearFocus();
      var hood = node.closedNeighborhood().not(".off");
      cy.elements().not(".off").not(hood).addClass("faded");
      hood.addClass("hl");
      node.addClass("focus");
    });
    details(node);
  }

  function fmt(v) {
    if (typeof v === "number") return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toFixed(3);
    return esc(v);
  }

  function details(node) {
    var d = node.data();
    var rows = [
      ["类型 type", (meta.labels[d.type] || d.type) + (d.level ? " · " + d.level : "")],
      ["编码 code", d.code], ["年度 year", d.year], ["预算 budget (万元)", d.budget_wanyuan],
      ["资金来源 funding", d.funding], ["项目数 projects", d.projects],
      ["度 degree", d.degree], ["加权度 weighted degree", d.weighted_degree],
      ["介数 betweenness", d.betweenness], ["社区 community", d.community]
    ].filter(function (r) { return r[1] !== undefined && r[1] !== null && r[1] !== ""; });
    var html = "<h2>" + esc(d.label) + "</h2>";
    if (d.iri) html += '<p><a href="' + esc(href(d.iri)) + '" target="_blank" rel="noopener">打开关联数据页 open the linked-data page ↗</a></p>';
    html += "<dl>" + rows.map(function (r) { return "<dt>" + esc(r[0]) + "</dt><dd>" + fmt(r[1]) + "</dd>"; }).join("") + "</dl>";
    var byKind = {};
    node.connectedEdges().not(".off").forEach(function (e) {
      var other = e.source().same(node) ? e.target() : e.source();
      (byKind[e.data("kind")] = byKind[e.data("kind")] || []).push({ node: other, edge: e });
    });
    Object.keys(byKind).sort().forEach(function (k) {
      var items = byKind[k].sort(function (a, b) { return (b.edge.data("weight") || 0) - (a.edge.data("weight") || 0); });
      html += "<h3>" + esc(meta.labels[k] || k) + " <span class='w'>" + esc(k) + " · " + items.length + "</span></h3><ul>";
      items.slice(0, 25).forEach(function (it) {
        var e = it.edge.data();
        var extra = e.via ? " — " + esc(e.via) : e.score_sum != null ? " — Σscore " + fmt(e.score_sum) : "";
        html += '<li><a href="' + esc(href(it.node.data("iri"))) + '" target="_blank" rel="noopener">' + esc(it.node.data("label")) +
                "</a> <span class='w'>w=" + fmt(e.weight) + extra + "</span></li>";
      });
      if (items.length > 25) html += "<li class='w'>… " + (items.length - 25) + " more</li>";
      html += "</ul>";
    });
    detailsEl.innerHTML = html;
  }

  function events() {
    cy.on("mouseover", "node", function (evt) { if (!pinned) focus(evt.target); });
    cy.on("mouseout", "node", function () { if (!pinned) clearFocus(); });
    cy.on("tap", "node", function (evt) {
      var n = evt.target;
      focus(n);
      pinned = n;
      if (n.data("iri")) window.open(href(n.data("iri")), "_blank", "noopener");
    });
    cy.on("tap", "edge", function (evt) {
      var link = evt.target.data("link");
      if (link) window.open(href(link), "_blank", "noopener");
    });
    cy.on("tap", function (evt) {
      if (evt.target === cy) { pinned = null; clearFocus(); }
    });
  }

  function search(fit) {
    var term = $("f-search").value.trim().toLowerCase();
    cy.batch(function () {
      cy.nodes().removeClass("match");
      if (!term) { clearFocus(); $("search-count").textContent = ""; return; }
      var hits = cy.nodes().not(".off").filter(function (n) {
        return String(n.data("label") || "").toLowerCase().indexOf(term) >= 0 || String(n.data("code") || "") === term;
      });
      hits.addClass("match");
      cy.elements().not(".off").not(hits).addClass("faded");
      hits.removeClass("faded");
      $("search-count").textContent = hits.length + " 个匹配 matches" + (hits.length ? " (Enter: 缩放 zoom)" : "");
      if (fit && hits.length) cy.fit(hits, 80);
    });
  }

  // -- controls -----------------------------------------------------------------------------
  ["f-view", "f-department", "f-funding"].forEach(function (id) { $(id).addEventListener("change", load); });
  form.querySelectorAll("input[name=node_types], input[name=all_concepts]").forEach(function (i) {
    i.addEventListener("change", load);
  });
  $("edge-kinds").addEventListener("change", function (evt) {
    if (!evt.target.value) return;
    hiddenKinds[evt.target.value] = !evt.target.checked;
    applyVisibility();
    ready("筛选 filtered");
  });
  function weightChanged(value) {
    $("f-weight").value = value;
    $("f-weight-range").value = value;
    applyVisibility();
    ready("最小权重 min weight " + value);
  }
  $("f-weight").addEventListener("change", function () { weightChanged($("f-weight").value); });
  $("f-weight-range").addEventListener("input", function () { weightChanged($("f-weight-range").value); });
  $("f-search").addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { search(false); }, 150);
  });
  $("f-search").addEventListener("keydown", function (evt) { if (evt.key === "Enter") search(true); });
  $("f-size").addEventListener("change", applySize);
  $("f-colour").addEventListener("change", applyColour);
  $("f-relayout").addEventListener("click", function () { runLayout(null); });
  $("f-fit").addEventListener("click", function () { cy.fit(cy.elements().not(".off"), 30); });

  /* For scripts and tests: the live cytoscape instance and the last response's meta block. */
  window.budgetkgGraph = { cy: function () { return cy; }, meta: function () { return meta; }, reload: load };

  if (typeof cytoscape === "undefined") {
    setStatus("error", "cytoscape.js is not installed: run scripts/setup-assets.sh");
    return;
  }
  readPageUrl();
  load();
})();
