// A small SVG line-chart renderer for the lab-09 dashboard (no dependencies, no network).
// Written for this project (MIT, like the rest of it). Usage:
//   Charts.line(element, {t: [unix seconds...], series: [{name, values: [number|null...]}],
//                         yLabel: "ms", refs: [{y: 1, label: "burn 1x"}], stacked: false})
// A null value leaves a gap: a bucket with no calls is not a zero. The legend sits above the plot
// area so it never covers data; every point is a <circle class="pt"> (the browser test counts them).
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];
  const W = 560, H = 220, M = {top: 28, right: 14, bottom: 34, left: 58};

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // "nice" tick step: 1, 2 or 5 times a power of ten, about `count` ticks over [lo, hi]
  function niceStep(lo, hi, count) {
    const raw = Math.max((hi - lo) / count, 1e-12);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
  }

  function fmtNumber(v) {
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1000) return (v / 1000).toFixed(a >= 10000 ? 0 : 1) + "k";
    if (a >= 1) return String(+v.toFixed(2));
    return String(+v.toPrecision(2));
  }

  function fmtTime(t, span) {
    const d = new Date(t * 1000);
    const hh = String(d.getHours()).padStart(2, "0"), mm = String(d.getMinutes()).padStart(2, "0");
    return span > 600 ? `${hh}:${mm}` : `${hh}:${mm}:${String(d.getSeconds()).padStart(2, "0")}`;
  }

  // cumulative sums per bucket when stacked (each series drawn on top of the ones before it)
  function stackValues(series) {
    const base = [];
    return series.map(s => ({...s, values: s.values.map((v, i) => {
      if (v === null || v === undefined) return null;
      base[i] = (base[i] || 0) + v;
      return base[i];
    })}));
  }

  function line(container, opts) {
    const t = opts.t || [];
    const series = opts.stacked ? stackValues(opts.series) : opts.series;
    const refs = opts.refs || [];
    container.textContent = "";
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
                           "aria-label": opts.title || opts.yLabel || "chart", class: "chart"}, container);
    const values = series.flatMap(s => s.values).filter(v => v !== null && v !== undefined && isFinite(v));
    let lo = Math.min(0, ...values), hi = Math.max(...values, ...refs.map(r => r.y), 0);
    if (!(hi > lo)) hi = lo + 1;
    const step = niceStep(lo, hi, 4);
    lo = Math.floor(lo / step) * step;
    hi = Math.ceil(hi / step) * step;
    const t0 = t.length ? t[0] : 0;
    const t1 = t.length > 1 ? t[t.length - 1] : t0 + 1;
    const x = v => M.left + (W - M.left - M.right) * (v - t0) / (t1 - t0 || 1);
    const y = v => H - M.bottom - (H - M.top - M.bottom) * (v - lo) / (hi - lo);
    const axes = el("g", {class: "axes", fill: "#444", "font-size": 10}, svg);
    for (let v = lo; v <= hi + step / 2; v += step) {
      el("line", {x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), stroke: "#e5e5e5"}, axes);
      el("text", {x: M.left - 6, y: y(v) + 3, "text-anchor": "end"}, axes, fmtNumber(v));
    }
    const ticks = Math.min(5, t.length);
    for (let k = 0; k < ticks; k++) {
      const tv = t[Math.round(k * (t.length - 1) / Math.max(ticks - 1, 1))];
      const anchor = k === ticks - 1 && ticks > 1 ? "end" : "middle";  // the last label stays inside the box
      el("text", {x: x(tv), y: H - M.bottom + 14, "text-anchor": anchor}, axes, fmtTime(tv, t1 - t0));
    }
    el("line", {x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, stroke: "#888"}, axes);
    el("line", {x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, stroke: "#888"}, axes);
    el("text", {x: (M.left + W - M.right) / 2, y: H - 4, "text-anchor": "middle"}, axes, opts.xLabel || "time");
    el("text", {transform: `translate(12 ${(M.top + H - M.bottom) / 2}) rotate(-90)`, "text-anchor": "middle"},
       axes, opts.yLabel || "");
    for (const r of refs) {
      el("line", {x1: M.left, x2: W - M.right, y1: y(r.y), y2: y(r.y), stroke: "#b00", "stroke-dasharray": "4 3"}, svg);
      el("text", {x: M.left + 4, y: y(r.y) - 3, fill: "#b00", "font-size": 10}, svg, r.label);
    }
    let points = 0;
    series.forEach((s, j) => {
      const color = s.color || COLORS[j % COLORS.length];
      const g = el("g", {class: "series", "data-name": s.name}, svg);
      let run = [];
      const flush = () => {
        if (run.length > 1) el("polyline", {points: run.join(" "), fill: "none", stroke: color, "stroke-width": 1.6}, g);
        run = [];
      };
      s.values.forEach((v, i) => {
        if (v === null || v === undefined || !isFinite(v)) { flush(); return; }
        run.push(`${x(t[i]).toFixed(1)},${y(v).toFixed(1)}`);
        el("circle", {class: "pt", cx: x(t[i]).toFixed(1), cy: y(v).toFixed(1), r: 2.4, fill: color}, g);
        points++;
      });
      flush();
      // legend entries in a row above the plot area
      const lx = M.left + j * 110;
      el("rect", {x: lx, y: 8, width: 10, height: 10, fill: color}, svg);
      el("text", {x: lx + 14, y: 17, "font-size": 11, fill: "#222"}, svg, s.name);
    });
    if (!points) {
      el("text", {x: (M.left + W - M.right) / 2, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle",
                  fill: "#888"}, svg, "no calls in this window");
    }
    svg.dataset.points = String(points);
    return svg;
  }

  window.Charts = {line, niceStep};
})();
