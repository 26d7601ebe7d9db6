// budgetkg chart view: bar, line or pie of a numeric column of a result table (Chart.js from /static/vendor/).
// budgetkgChart.mount(container, columns, rows): rows are arrays of plain strings; numeric columns are found
// by their values. Used by the named-query result pages and the SPARQL editor.
(function () {
  "use strict";
  function numeric(rows, i) {
    var seen = 0;
    for (var r = 0; r < rows.length; r++) {
      var v = rows[r][i];
      if (v === "" || v == null) continue;
      if (isNaN(Number(v))) return false;
      seen++;
    }
    return seen > 0;
  }
  function mount(container, columns, rows) {
    container.innerHTML = "";
    var nums = columns.map(function (_, i) { return numeric(rows, i); });
    var valueCols = columns.filter(function (_, i) { return nums[i]; });
    if (!valueCols.length || typeof window.Chart === "undefined") {
      container.dataset.state = "no-numeric-column";
      container.innerHTML = "<p class='hint'>没有数值列，无法作图 No numeric column to chart</p>";
      return null;
    }
    var controls = document.createElement("div");
    controls.className = "chart-controls";
    function select(name, options, value) {
      var s = document.createElement("select");
      s.name = name;
      options.forEach(function (o) { var op = document.createElement("option"); op.value = o[0]; op.textContent = o[1];
        if (o[0] === value) op.selected = true; s.appendChild(op); });
      return s;
    }
    // label: a name column if there is one, else the first text column with values; value: a budget-like
    // sum before codes and years (codes are numbers too, but nobody charts them), of a column that varies
    function filled(i) { return rows.some(function (r) { return r[i] !== "" && r[i] != null; }); }
    var codeLike = /(code|department|dept|year|position|ordinal|^unit|^unit_[a-z])$/i;
    var texts = columns.map(function (_, i) { return i; }).filter(function (i) { return !nums[i] && filled(i); });
    var labelIdx = texts.filter(function (i) { return /name|label|title/i.test(columns[i]); })[0];
    if (labelIdx === undefined) labelIdx = texts.length ? texts[0] : columns.findIndex(function (_, i) { return !nums[i]; });
    // a column with one value in every row (a parameter echoed, such as min_value) says nothing as a chart
    function varies(c) { var i = columns.indexOf(c), first = null;
      return rows.some(function (r) { var v = r[i]; if (v === "" || v == null) return false;
        if (first === null) { first = v; return false; } return v !== first; }); }
    var measures = valueCols.filter(function (c) { return !codeLike.test(c) && varies(c); });
    if (!measures.length) measures = valueCols.filter(function (c) { return !codeLike.test(c); });
    if (!measures.length) measures = valueCols;
    var preferred = [/budget|wanyuan|amount|yuan/i, /total|sum/i, /count|projects|^n$/i].map(function (re) {
      return measures.filter(function (c) { return re.test(c); })[0];
    }).filter(Boolean)[0] || measures[0];
    var type = select("type", [["bar", "柱状图 bar"], ["line", "折线图 line"], ["pie", "饼图 pie"]], "bar");
    var label = select("label", columns.map(function (c, i) { return [String(i), c]; }), String(Math.max(labelIdx, 0)));
    var value = select("value", columns.map(function (c, i) { return [String(i), c]; }).filter(function (o) { return nums[+o[0]]; }),
      String(columns.indexOf(preferred)));
    [["图表 Chart", type], ["标签 Label", label], ["数值 Value", value]].forEach(function (p) {
      var l = document.createElement("label"); l.textContent = p[0] + " "; l.appendChild(p[1]); controls.appendChild(l);
    });
    var canvasBox = document.createElement("div");
    canvasBox.className = "chart-box";
    var canvas = document.createElement("canvas");
    canvasBox.appendChild(canvas);
    container.appendChild(controls);
    container.appendChild(canvasBox);
    var chart = null;
    var palette = ["#a4262c", "#2f6690", "#3a7d44", "#d9a441", "#6b4e9b", "#c75d2c", "#4a8fa8", "#8a8f99"];
    function draw() {
      var li = +label.value, vi = +value.value;
      // rows that share a label are summed (a unit listed once per funding source is one slice)
      var sums = {}, order = [];
      rows.forEach(function (r) {
        if (r[vi] === "" || r[vi] == null) return;
        var k = r[li] === "" || r[li] == null ? "—" : String(r[li]);
        if (!(k in sums)) { sums[k] = 0; order.push(k); }
        sums[k] += Number(r[vi]);
      });
      var labels = order.slice(0, 200);
      var data = labels.map(function (k) { return Math.round(sums[k] * 10000) / 10000; });
      if (chart) chart.destroy();
      chart = new window.Chart(canvas, {
        type: type.value,
        data: { labels: labels,
                datasets: [{ label: columns[vi], data: data,
                             backgroundColor: type.value === "pie" ? palette : "#a4262c", borderColor: "#a4262c" }] },
        options: { animation: false, responsive: true, maintainAspectRatio: false,
                   plugins: { legend: { display: type.value === "pie" } } },
      });
      container.dataset.state = "drawn";
      container.dataset.type = type.value;
      container.dataset.points = String(data.length);
      container.dataset.value = columns[vi];
    }
    [type, label, value].forEach(function (s) { s.addEventListener("change", draw); });
    draw();
    return { chart: function () { return chart; }, draw: draw };
  }
  window.budgetkgChart = { mount: mount };
})();
