// budgetkg SPARQL editor: YASGUI (served from /static/vendor/, installed by scripts/setup-assets.sh)
// with one tab per named query. /?run=<name>&<param>=<value> opens that query's tab with those
// parameter values and runs it at once (used by links and by the headless-browser test).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("budgetkg-config").textContent);
  var status = document.getElementById("status");
  var warning = document.getElementById("truncation");

  function setState(state, extra) {
    status.dataset.runState = state;
    if (extra) Object.keys(extra).forEach(function (k) { status.dataset[k] = extra[k]; });
  }

  // The row limit is reported in a response header (X-Truncated), which SPARQL result formats
  // have no place for: watch the endpoint's responses and show a warning above the results.
  var nativeFetch = window.fetch.bind(window);
  window.fetch = function (input, init) {
    return nativeFetch(input, init).then(function (res) {
      var url = typeof input === "string" ? input : (input && input.url) || "";
      if (url.indexOf(cfg.endpoint) === 0) {
        var cut = res.headers.get("X-Truncated") === "true";
        warning.hidden = !cut;
        warning.textContent = cut ? "结果已截断：只返回前 " + cfg.maxRows + " 行（results truncated to " +
          cfg.maxRows + " rows; add LIMIT/OFFSET or use a named query with narrower parameters)" : "";
        status.dataset.truncated = cut ? "true" : "false";
        status.dataset.rows = res.headers.get("X-Result-Rows") || "";
      }
      return res;
    });
  };

  // Result links to entity IRIs (<base IRI><path>) open this server's page for them (/<path>),
  // wherever the base IRI points: the data keeps its IRIs, the server maps its own URLs onto them.
  document.addEventListener("click", function (ev) {
    var a = ev.target && ev.target.closest ? ev.target.closest("#yasgui a[href]") : null;
    if (!a || !cfg.baseIri || cfg.baseIri === cfg.root) return;
    var href = a.getAttribute("href");
    if (href && href.indexOf(cfg.baseIri) === 0 && href.length > cfg.baseIri.length) {
      ev.preventDefault();
      window.open(cfg.root + href.slice(cfg.baseIri.length), a.target || "_self");
    }
  });

  if (typeof window.Yasgui === "undefined") {
    setState("no-editor");
    return;
  }

  var yasgui = new window.Yasgui(document.getElementById("yasgui"), {
    requestConfig: { endpoint: cfg.endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    persistenceId: null,
    populateFromUrl: false,
    autoAddOnInit: false,
    endpointCatalogueOptions: { getData: function () { return [{ endpoint: cfg.endpoint }]; } },
    // only local completions: the prefix and vocabulary completers call remote services
    yasqe: { autocompleters: ["variables"] },
  });

  // one tab per named query; the one to show (the ?run= query, else the first) is added as the active tab
  var target = cfg.run || (cfg.examples.length ? cfg.examples[0].name : null);
  var tabs = {};
  cfg.examples.forEach(function (ex) {
    tabs[ex.name] = yasgui.addTab(ex.name === target, {
      name: ex.title,
      yasqe: { value: ex.query },
      // the table shows simple values (no "…"@zh, no ^^xsd:decimal); YASR's "Simple view" switch turns it off
      yasr: { settings: { selectedPlugin: "table", pluginsConfig: { table: { compact: true } } }, response: undefined },
      requestConfig: { endpoint: cfg.endpoint, method: "POST" },
    });
  });
  var first = target ? tabs[target] : null;

  // the chart panel draws the last SELECT result of the active tab
  var chartEl = document.getElementById("chart");
  function chartFrom(tab) {
    var yasr = tab.getYasr && tab.getYasr();
    var res = yasr && yasr.results;
    if (!chartEl || !window.budgetkgChart || !res || !res.getVariables) return;
    var vars = res.getVariables();
    var rows = (res.getBindings() || []).map(function (b) {
      return vars.map(function (v) { return b[v] ? b[v].value : ""; });
    });
    window.budgetkgChart.mount(chartEl, vars, rows);
  }
  yasgui.on("queryResponse", function (_y, tab) {
    setState("done", { tab: tab.getName() });
    setTimeout(function () { chartFrom(tab); }, 0);
  });
  yasgui.on("queryBefore", function () { setState("running"); });

  if (cfg.run && first) {
    first.query().catch(function (err) { setState("error", { error: String(err) }); });
  } else {
    setState("ready");
  }
})();
