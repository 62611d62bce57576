// Draws the report's charts as inline SVG from the specs in #sg-data. reporting/charts.py
// decided every domain, tick, label and tooltip; this only maps numbers to pixels.
// No library, no network; strings go in through textContent only (they come from sandboxes).
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 640, H = 250, L = 54, R = 18, T = 46, B = 40;
  var LANE_VIOLATION = 29, LANE_ACTION = 40;  // marker rows above the plot
  var EDGE = 28;  // a tick label this close to a side is anchored to it, not centred
  var GAP = 12;  // least room between two time labels

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]); }
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, cls, anchor) {
    var t = el("text", { x: x, y: y, "class": cls, "text-anchor": anchor || "start" }, parent);
    t.textContent = s;
    return t;
  }
  function tip(parent, s) { el("title", {}, parent).textContent = s; }

  function scales(spec) {
    var t0 = spec.x.t0, t1 = spec.x.t1, top = spec.y.top;
    return {
      x: function (t) { return L + (t - t0) / (t1 - t0) * (W - L - R); },
      y: function (v) { return H - B - v / top * (H - T - B); }
    };
  }

  function axes(svg, spec, s) {
    spec.y.ticks.forEach(function (tk) {
      el("line", { x1: L, x2: W - R, y1: s.y(tk[0]), y2: s.y(tk[0]), "class": "grid" }, svg);
      text(svg, L - 6, s.y(tk[0]) + 3.5, tk[1], "tick y", "end");
    });
    el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, "class": "axis" }, svg);
    var kept = null;  // of two labels that would touch, the one naming a day stays
    spec.x.ticks.forEach(function (tk) {
      var x = s.x(tk[0]);
      var anchor = x < L + EDGE ? "start" : (x > W - R - EDGE ? "end" : "middle");
      el("line", { x1: x, x2: x, y1: H - B, y2: H - B + 4, "class": "axis" }, svg);
      var label = text(svg, x, H - B + 15, tk[1], "tick x", anchor), box = label.getBBox();
      if (kept && box.x < kept.right + GAP) {
        if (tk[1].length <= kept.label.textContent.length) { svg.removeChild(label); return; }
        svg.removeChild(kept.label);
      }
      kept = { label: label, right: box.x + box.width };
    });
    text(svg, W - R, H - 5, spec.x.caption, "caption", "end");
    text(svg, L, 17, spec.title + (spec.unit ? " (" + spec.unit + ")" : ""), "title");
  }

  function marks(svg, spec, s) {
    spec.marks.forEach(function (m) {
      var x = s.x(m.t), action = m.kind === "action", lane = action ? LANE_ACTION : LANE_VIOLATION;
      var g = el("g", { "class": "mark mark-" + m.kind }, svg);
      el("line", { x1: x, x2: x, y1: lane, y2: H - B, "class": "rule" }, g);
      el("path", { d: action ? "M" + (x - 5) + " " + (lane - 4) + "h10l-5 8z"
                             : "M" + x + " " + (lane - 5) + "l5 5l-5 5l-5 -5z", "class": "shape" }, g);
      el("line", { x1: x, x2: x, y1: lane - 6, y2: H - B, "class": "hit" }, g);
      tip(g, m.title);
    });
  }

  function limit(svg, spec, s) {
    if (!spec.limit) return;
    if (spec.limit.v === null) { text(svg, W - R, 17, spec.limit.label, "limit-label limit-off", "end"); return; }
    var y = s.y(spec.limit.v);
    el("line", { x1: L, x2: W - R, y1: y, y2: y, "class": "limit" }, svg);
    text(svg, W - R - 4, y - 4, spec.limit.label, "limit-label", "end");
  }

  function line(svg, spec, s) {  // a new segment after a null or a gap; a lone point as a dot
    var segments = [], current = null, previous = null;
    spec.points.forEach(function (p) {
      if (p[1] === null) { current = null; return; }
      if (current === null || (spec.gap_ms !== null && p[0] - previous > spec.gap_ms)) { current = []; segments.push(current); }
      current.push(s.x(p[0]).toFixed(1) + " " + s.y(p[1]).toFixed(1));
      previous = p[0];
    });
    segments.forEach(function (seg) {
      if (seg.length > 1) el("path", { d: "M" + seg.join("L"), "class": "series" }, svg);
      else if (!spec.dots) { var xy = seg[0].split(" "); el("circle", { cx: xy[0], cy: xy[1], r: 2, "class": "point" }, svg); }
    });
    (spec.dots || []).forEach(function (p) {
      tip(el("circle", { cx: s.x(p[0]), cy: s.y(p[1]), r: 2.5, "class": "point" }, svg), p[2]);
    });
    return spec.points.filter(function (p) { return p[1] !== null; }).length;
  }

  function bars(svg, spec, s) {
    spec.bars.forEach(function (b) {
      var x0 = s.x(b[0]), x1 = s.x(b[0] + spec.bucket_ms), inset = Math.min(2, (x1 - x0) * 0.15);
      tip(el("rect", { x: x0 + inset, y: s.y(b[1]), width: Math.max(1, x1 - x0 - 2 * inset),
                       height: H - B - s.y(b[1]), "class": "bar" }, svg), b[2]);
    });
    return spec.bars.length;
  }

  function draw(svg, spec) {
    var s = scales(spec);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("data-plot-left", String(L));
    svg.setAttribute("data-plot-right", String(W - R));
    svg.setAttribute("data-t0", String(spec.x.t0));
    svg.setAttribute("data-t1", String(spec.x.t1));
    axes(svg, spec, s);
    marks(svg, spec, s);
    limit(svg, spec, s);
    var n = spec.kind === "bars" ? bars(svg, spec, s) : line(svg, spec, s);
    svg.setAttribute("data-points", String(n));
    if (!n) text(svg, (L + W - R) / 2, (T + H - B) / 2, "no samples in this window", "empty", "middle");
    svg.setAttribute("data-drawn", n ? "true" : "empty");
    return n ? 1 : 0;
  }

  var data = JSON.parse(document.getElementById("sg-data").textContent);
  var drawn = 0;
  data.charts.forEach(function (spec) {
    var svg = el("svg", { id: spec.id, "class": "chart", role: "img", "aria-label": spec.title }, document.getElementById(spec.host));
    drawn += draw(svg, spec);
  });
  document.body.setAttribute("data-charts", String(data.charts.length));
  document.body.setAttribute("data-charts-drawn", String(drawn));
})();
