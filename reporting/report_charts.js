// Draws the report's charts as inline SVG from the JSON in #sg-data. No library, no network.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 640, H = 220, L = 56, R = 12, T = 26, B = 28;

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]); }
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, cls) {
    var t = el("text", { x: x, y: y, "class": cls || "tick" }, parent);
    t.textContent = s;  // never innerHTML: labels come from untrusted sandboxes
    return t;
  }
  function hhmm(ms) {
    var d = new Date(ms);
    return ("0" + d.getUTCHours()).slice(-2) + ":" + ("0" + d.getUTCMinutes()).slice(-2);
  }
  function fmt(v) {
    if (Math.abs(v) >= 1000) return (v / 1000).toFixed(1) + "k";
    return (Math.round(v * 10) / 10).toString();
  }

  function draw(svg, spec) {
    var pts = spec.points.filter(function (p) { return p[1] !== null && p[1] !== undefined; });
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    text(svg, L, 16, spec.title + (spec.unit ? " (" + spec.unit + ")" : ""), "title");
    if (!pts.length) { text(svg, W / 2 - 30, H / 2, "no data", "empty"); svg.setAttribute("data-drawn", "empty"); return 0; }
    var t0 = spec.t0, t1 = spec.t1;
    var top = Math.max.apply(null, pts.map(function (p) { return p[1]; }).concat([spec.limit || 0, 1])) * 1.1;
    function x(t) { return L + (t - t0) / Math.max(1, t1 - t0) * (W - L - R); }
    function y(v) { return H - B - v / top * (H - T - B); }
    for (var i = 0; i <= 4; i++) {
      var v = top * i / 4;
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), "class": "grid" }, svg);
      text(svg, 4, y(v) + 4, fmt(v));
    }
    for (var j = 0; j <= 5; j++) {
      var tt = t0 + (t1 - t0) * j / 5;
      text(svg, x(tt) - 14, H - 8, hhmm(tt));
    }
    if (spec.bucket) {  // counts per time bucket: one bar each
      var bw = Math.max(2, (x(t0 + spec.bucket) - x(t0)) * 0.8);
      pts.forEach(function (p) {
        el("rect", { x: x(p[0]), y: y(p[1]), width: bw, height: H - B - y(p[1]), "class": "bar" }, svg);
      });
    } else {
      var d = pts.map(function (p, k) { return (k ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1); }).join(" ");
      el("path", { d: d, "class": "series" }, svg);
      if (pts.length === 1) el("circle", { cx: x(pts[0][0]), cy: y(pts[0][1]), r: 3, "class": "point" }, svg);
    }
    if (spec.limit) {
      el("line", { x1: L, x2: W - R, y1: y(spec.limit), y2: y(spec.limit), "class": "limit" }, svg);
      text(svg, W - R - 70, y(spec.limit) - 4, "limit " + fmt(spec.limit), "limit-label");
    }
    spec.marks.forEach(function (m) {
      if (m.t < t0 || m.t > t1) return;
      var g = el("g", { "class": "mark-" + m.kind }, svg);
      el("line", { x1: x(m.t), x2: x(m.t), y1: T, y2: H - B }, g);
      if (m.kind === "action") el("path", { d: "M" + (x(m.t) - 5) + " " + T + " l10 0 l-5 8 z" }, g);
      else el("circle", { cx: x(m.t), cy: T + 4, r: 4 }, g);
      el("title", {}, g).textContent = m.label;
    });
    svg.setAttribute("data-drawn", "true");
    svg.setAttribute("data-points", String(pts.length));
    return 1;
  }

  function sandboxCharts(sb) {
    var t0 = sb.window.since, t1 = sb.window.until;
    var marks = sb.violations.map(function (v) { return { t: v.t, kind: "violation", label: v.label }; })
      .concat(sb.actions.map(function (a) { return { t: a.t, kind: "action", label: a.label }; }));
    function series(key, scale) {
      return sb.series.map(function (p) { return [p.t, p[key] === null ? null : p[key] * (scale || 1)]; });
    }
    var MB = 1 / (1024 * 1024);
    return [
      ["chart-cpu", { title: "CPU", unit: "% of one CPU", points: series("cpu_percent"), limit: sb.limits.cpu_percent }],
      ["chart-memory", { title: "Memory", unit: "MiB", points: series("memory_peak_bytes", MB), limit: sb.limits.memory_mb }],
      ["chart-processes", { title: "Processes", unit: "", points: series("processes_peak"), limit: sb.limits.max_processes }],
      ["chart-sockets", { title: "Sockets", unit: "connections", points: series("connections_peak"), limit: sb.limits.max_network_connections }]
    ].map(function (c) { c[1].t0 = t0; c[1].t1 = t1; c[1].marks = marks; return c; });
  }

  function fleetCharts(fl) {
    var byType = {};
    fl.points.forEach(function (p) { (byType[p.violation_type] = byType[p.violation_type] || []).push([p.t, p.findings]); });
    return Object.keys(byType).sort().map(function (type, i) {
      return ["chart-fleet-" + i, { title: "Findings: " + type, unit: "per " + fl.bucket_minutes + " min",
        points: byType[type], limit: null, marks: [], t0: fl.since, t1: fl.until, bucket: fl.bucket_minutes * 60000 }];
    });
  }

  var data = JSON.parse(document.getElementById("sg-data").textContent);
  var specs = (data.sandbox ? sandboxCharts(data.sandbox) : []).concat(data.fleet ? fleetCharts(data.fleet) : []);
  var host = document.getElementById("charts");
  var drawn = 0;
  specs.forEach(function (c) {
    var svg = el("svg", { id: c[0], "class": "chart", role: "img" }, host);
    drawn += draw(svg, c[1]);
  });
  document.body.setAttribute("data-charts", String(specs.length));
  document.body.setAttribute("data-charts-drawn", String(drawn));
})();
