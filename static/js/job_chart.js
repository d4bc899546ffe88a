// The job's comparison chart: one bar per finished agent in the table's order, answers
// only (a failure is words, never a bar), with the tool's value name and range.

import { h, replace } from "./dom.js";
import { chartFor } from "./results.js";
import { barChart } from "./chart.js";
import { outcomeText, outcomeKind } from "./outcome.js";

const TERMINAL = new Set(["done", "canceled", "delivery_timeout", "lost"]);

/** Draw into `box` the chart of `rows` (already in the table's order) for `tool`. */
export function drawJobChart(box, tool, rows) {
  const spec = chartFor(tool);
  if (!spec) { replace(box); box.hidden = true; return; }
  const data = rows.filter((r) => TERMINAL.has(r.task.state) || r.status.key === "unfinished");
  box.hidden = false;
  const title = h("h2", {}, spec.title);
  if (!data.length) {
    replace(box, title, h("p", { class: "muted" }, "The chart fills in as results arrive."));
    return;
  }
  const bars = data.map((r) => {
    const value = r.answer ? spec.value(r.parsed) ?? null : null;
    return {
      label: r.task.agent, value,
      low: value !== null && spec.low ? spec.low(r.parsed) : null,
      high: value !== null && spec.high ? spec.high(r.parsed) : null,
      note: r.answer ? "no number in the answer" : `${outcomeText(r.status.key)}${r.status.note ? `: ${r.status.note}` : ""}`,
      kind: r.answer ? "muted" : outcomeKind(r.status.key),
    };
  });
  const charted = bars.filter((bar) => typeof bar.value === "number").length;
  if (!charted) {
    replace(box, title, h("p", { class: "muted", "data-testid": "chart-empty" },
      "Nothing to chart: no agent answered with a number. Each agent's outcome is in the table above."));
    return;
  }
  const note = charted === bars.length ? null
    : h("p", { class: "muted chart-caption" }, `${charted} of ${bars.length} finished agents answered with a number; the others are listed without a bar.`);
  const width = Math.max(300, Math.round(box.clientWidth - 36)) || 640;
  replace(box, title, note, h("p", { class: "muted chart-caption" }, "In the table's order; sort the table to reorder."),
    barChart(bars, { width, valueName: spec.name || "value", rangeName: spec.range || "min–max", resolution: spec.res || 1 }));
}
