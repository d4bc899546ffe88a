// A horizontal bar chart in SVG, drawn by hand: one bar per agent, with an optional
// min–max whisker; an agent without a value gets words instead of a bar ("failed",
// "lost"), never a bar of length zero.  Labels are SVG text nodes (never markup).

import { svg } from "./dom.js";

/**
 * rows: [{label, value, low?, high?, note?, kind?}]: value null = no bar, `note` (or
 * "no data") written instead, coloured by `kind` (bad, warn, muted).
 * Returns an <svg> that scales to its container's width.
 */
export function barChart(rows, { unit = "ms", width = 640 } = {}) {
  const barHeight = 22;
  const gap = 8;
  const labelWidth = Math.min(200, Math.max(80, ...rows.map((r) => r.label.length * 7.5)));
  const valueWidth = 90;
  const plot = width - labelWidth - valueWidth - 16;
  const values = rows.flatMap((r) => [r.value, r.high]).filter((v) => typeof v === "number" && v >= 0);
  const max = values.length ? Math.max(...values) || 1 : 1;
  const height = rows.length * (barHeight + gap) + gap;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": `bar chart of ${rows.length} agents, ${rows.filter((r) => typeof r.value === "number").length} with a value`, preserveAspectRatio: "xMinYMin meet",
  });
  rows.forEach((row, index) => {
    const y = gap + index * (barHeight + gap);
    const group = svg("g", { class: "chart-row", "data-label": row.label, "data-value": typeof row.value === "number" ? row.value : "none" });
    const middle = y + barHeight / 2;
    const label = svg("text", { x: labelWidth - 8, y: middle, class: "chart-label", "text-anchor": "end", "dominant-baseline": "middle" });
    label.textContent = row.label.length > 26 ? `${row.label.slice(0, 25)}…` : row.label;
    group.append(label);
    group.append(svg("rect", { x: labelWidth, y, width: plot, height: barHeight, class: "chart-track", rx: 3 }));
    const text = svg("text", { x: labelWidth + plot + 8, y: middle, class: "chart-value", "dominant-baseline": "middle" });
    if (typeof row.value === "number") {
      const barWidth = Math.max(2, (row.value / max) * plot);
      group.append(svg("rect", { x: labelWidth, y: y + 3, width: barWidth, height: barHeight - 6, class: "chart-bar", rx: 2 }));
      if (typeof row.low === "number" && typeof row.high === "number" && row.high > row.low) {
        const x1 = labelWidth + (row.low / max) * plot;
        const x2 = labelWidth + (row.high / max) * plot;
        group.append(svg("line", { x1, x2, y1: middle, y2: middle, class: "chart-range" }));
        group.append(svg("line", { x1, x2: x1, y1: middle - 5, y2: middle + 5, class: "chart-range" }));
        group.append(svg("line", { x1: x2, x2, y1: middle - 5, y2: middle + 5, class: "chart-range" }));
      }
      text.textContent = `${row.value.toFixed(row.value < 10 ? 2 : 1)} ${unit}`;
    } else {
      const note = row.note || "no data";
      const room = Math.max(8, Math.floor((plot + valueWidth - 16) / 6.5));
      text.textContent = note.length > room ? `${note.slice(0, room - 1)}…` : note;  // in the empty track
      text.setAttribute("x", String(labelWidth + 8));
      text.setAttribute("class", `chart-value chart-note ${row.kind || "muted"}`);
    }
    group.append(text);
    chart.append(group);
  });
  return chart;
}
