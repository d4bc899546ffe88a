// A horizontal bar chart in SVG, drawn by hand: one bar per agent in the table's order,
// an x axis with ticks and its unit, a tooltip per bar (<title>), values at a sensible
// precision (formatMs: one rule for every time) and an optional min–max whisker, explained in a legend.  An
// agent without a value gets words instead of a bar ("failed", "lost"), never a bar of
// length zero.  Labels are SVG text nodes (never markup).

import { svg, h } from "./dom.js";
import { formatMs, niceTicks } from "./format.js";

/**
 * rows: [{label, value, low?, high?, note?, kind?, tip?}]: value null = no bar, `note`
 * (`resolution`: the tool's smallest step in ms, for formatMs)
 * (or "no data") written instead, coloured by `kind` (bad, warn, muted).
 * Returns a <figure> with the <svg> (scales to its container's width) and a legend.
 */
export function barChart(rows, { width = 640, valueName = "value", rangeName = "min–max", resolution = 1 } = {}) {
  const ms = (v) => formatMs(v, resolution);
  const barHeight = 22;
  const gap = 8;
  const axisHeight = 34;
  const labelWidth = Math.min(200, Math.max(80, ...rows.map((r) => r.label.length * 7.5)));
  const valueWidth = 78;
  const plot = Math.max(60, width - labelWidth - valueWidth - 16);
  const values = rows.flatMap((r) => [r.value, r.high]).filter((v) => typeof v === "number" && v >= 0);
  const ticks = niceTicks(values.length ? Math.max(...values) : 1);
  const max = ticks[ticks.length - 1] || 1;
  const x = (v) => labelWidth + (Math.max(0, v) / max) * plot;
  const top = gap;
  const height = top + rows.length * (barHeight + gap) + axisHeight;
  const withValue = rows.filter((r) => typeof r.value === "number").length;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", preserveAspectRatio: "xMinYMin meet",
    "aria-label": `${valueName} per agent in milliseconds: ${withValue} of ${rows.length} agents with a value`,
  });
  const axisY = top + rows.length * (barHeight + gap);
  const axis = svg("g", { class: "chart-axis", "aria-hidden": "true" });
  for (const tick of ticks) {
    const tx = x(tick);
    axis.append(svg("line", { x1: tx, x2: tx, y1: top - 2, y2: axisY, class: "chart-grid" }));
    const label = svg("text", { x: tx, y: axisY + 14, class: "chart-tick", "text-anchor": "middle" });
    label.textContent = String(Number(tick.toPrecision(6)));
    axis.append(label);
  }
  const unit = svg("text", { x: labelWidth + plot, y: axisY + 29, class: "chart-tick", "text-anchor": "end" });
  unit.textContent = "ms";
  axis.append(unit);
  axis.append(svg("line", { x1: labelWidth, x2: labelWidth + plot, y1: axisY, y2: axisY, class: "chart-axis-line" }));
  chart.append(axis);

  let whiskers = 0;
  rows.forEach((row, index) => {
    const y = top + index * (barHeight + gap);
    const middle = y + barHeight / 2;
    const group = svg("g", { class: "chart-row", "data-label": row.label, "data-value": typeof row.value === "number" ? row.value : "none" });
    const label = svg("text", { x: labelWidth - 8, y: middle, class: "chart-label", "text-anchor": "end", "dominant-baseline": "middle" });
    label.textContent = row.label.length > 26 ? `${row.label.slice(0, 25)}…` : row.label;
    group.append(label);
    group.append(svg("rect", { x: labelWidth, y, width: plot, height: barHeight, class: "chart-track", rx: 3 }));
    const text = svg("text", { x: labelWidth + plot + 8, y: middle, class: "chart-value", "dominant-baseline": "middle" });
    let tip;
    if (typeof row.value === "number") {
      group.append(svg("rect", { x: labelWidth, y: y + 3, width: Math.max(2, x(row.value) - labelWidth), height: barHeight - 6, class: "chart-bar", rx: 2 }));
      const ranged = typeof row.low === "number" && typeof row.high === "number" && row.high > row.low;
      if (ranged) {
        whiskers += 1;
        const [x1, x2] = [x(row.low), x(row.high)];
        for (const [a, b, c, d] of [[x1, x2, middle, middle], [x1, x1, middle - 5, middle + 5], [x2, x2, middle - 5, middle + 5]]) {
          group.append(svg("line", { x1: a, x2: b, y1: c, y2: d, class: "chart-range" }));
        }
      }
      text.textContent = ms(row.value);
      tip = `${row.label}: ${valueName} ${ms(row.value)}${ranged ? ` (${rangeName} ${ms(row.low)} – ${ms(row.high)})` : ""}`;
    } else {
      const note = row.note || "no data";
      const room = Math.max(8, Math.floor((plot + valueWidth - 16) / 6.5));
      text.textContent = note.length > room ? `${note.slice(0, room - 1)}…` : note;  // in the empty track
      text.setAttribute("x", String(labelWidth + 8));
      text.setAttribute("class", `chart-value chart-note ${row.kind || "muted"}`);
      tip = `${row.label}: ${note}`;
    }
    group.append(text);
    const title = svg("title", {});
    title.textContent = row.tip || tip;
    group.append(title);
    chart.append(group);
  });
  const legend = h("p", { class: "chart-legend muted", "data-testid": "chart-legend" },
    h("span", { class: "key bar", "aria-hidden": "true" }), ` bar: ${valueName}`,
    whiskers ? [h("span", { class: "key range", "aria-hidden": "true" }), ` line: ${rangeName}`] : null,
    " · hover a bar for its numbers");
  return h("figure", { class: "chart-figure" }, chart, legend);
}
