// Plots drawn as inline SVG from the API's JSON: a line chart (loss per step) and grouped bars (provenance,
// NLL before/after, accuracy vs base). No library: two small functions.
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#4a7ab5", "#e08a3c", "#5aa469", "#b5484a", "#8a6bb5"];
const W = 560;
const H = 260;
const PAD = { left: 52, right: 12, top: 46, bottom: 40 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function ticks(lo, hi, n = 5) {
  const step = (hi - lo) / n || 1;
  return Array.from({ length: n + 1 }, (_, i) => lo + i * step);
}

function fmt(v) {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function frame(title, xLabel, yLabel, lo, hi) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  root.append(svg("text", { x: W / 2, y: 16, "text-anchor": "middle", class: "chart-title" }, title));
  const y = (v) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - (v - lo) / (hi - lo || 1));
  for (const t of ticks(lo, hi)) {
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(t), y2: y(t), class: "grid" }));
    root.append(svg("text", { x: PAD.left - 6, y: y(t) + 4, "text-anchor": "end", class: "tick" }, fmt(t)));
  }
  root.append(svg("text", { x: W / 2, y: H - 6, "text-anchor": "middle", class: "axis-label" }, xLabel));
  root.append(
    svg("text", { x: 12, y: H / 2, transform: `rotate(-90 12 ${H / 2})`, "text-anchor": "middle", class: "axis-label" }, yLabel),
  );
  return { root, y };
}

function legend(root, names) {
  let x = PAD.left;
  names.forEach((name, i) => {
    root.append(svg("rect", { x, y: PAD.top - 18, width: 10, height: 10, fill: COLORS[i % COLORS.length] }));
    root.append(svg("text", { x: x + 14, y: PAD.top - 9, class: "legend" }, name));
    x += 24 + 7 * name.length;
  });
}

// series: [{name, points: [[x, y], ...]}]
export function lineChart(title, series, xLabel, yLabel) {
  const all = series.flatMap((s) => s.points);
  if (!all.length) return null;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const lo = Math.min(0, ...ys);
  const hi = Math.max(...ys) * 1.05 || 1;
  const { root, y } = frame(title, xLabel, yLabel, lo, hi);
  const x = (v) => PAD.left + (W - PAD.left - PAD.right) * ((v - x0) / (x1 - x0 || 1));
  for (const t of new Set(ticks(x0, x1, Math.min(5, Math.max(1, x1 - x0))).map(Math.round))) {
    root.append(svg("text", { x: x(t), y: H - PAD.bottom + 14, "text-anchor": "middle", class: "tick" }, t));
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    root.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": 2, class: "series" }));
    if (s.points.length < 40) {
      for (const p of s.points) root.append(svg("circle", { cx: x(p[0]), cy: y(p[1]), r: 2.5, fill: color }));
    }
  });
  legend(root, series.map((s) => s.name));
  return root;
}

// groups: category labels; series: [{name, values: [number|null per group]}]
export function barChart(title, groups, series, yLabel) {
  const values = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  if (!groups.length || !values.length) return null;
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values) * 1.1 || 1;
  const { root, y } = frame(title, "", yLabel, lo, hi);
  const slot = (W - PAD.left - PAD.right) / groups.length;
  const bar = (slot * 0.8) / series.length;
  groups.forEach((g, gi) => {
    const gx = PAD.left + gi * slot + slot * 0.1;
    root.append(svg("text", { x: gx + slot * 0.4, y: H - PAD.bottom + 14, "text-anchor": "middle", class: "tick" }, g));
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === null || v === undefined) return;
      const top = y(Math.max(v, 0));
      const rect = svg("rect", {
        x: gx + si * bar, y: top, width: bar - 2, height: Math.max(1, Math.abs(y(v) - y(0))), fill: COLORS[si % COLORS.length],
      });
      rect.append(svg("title", {}, `${s.name} · ${g}: ${fmt(v)}`));
      root.append(rect);
    });
  });
  legend(root, series.map((s) => s.name));
  return root;
}
