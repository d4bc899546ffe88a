// A schedule's series over time in the SmokePing manner, SVG drawn by hand: per agent the
// median line (the average where a point has no median: a raw ping point, a curl time),
// the min–max spread behind it as grey "smoke" (p10–p90 darker, for rollups), the line's
// colour saying the loss, and failures marked on the time axis (a red ×), never drawn as
// values.  Agents overlaid (one colour each) or as small multiples (one chart each).
// The schedule's alerts, when given (`alerts`: [{from, to, firing}] in ms, `to` null while
// firing), are shaded behind the lines over the time each one fired.
//
// `smokeChart(answer, {from, to, mode, alerts, onOpen, onZoom})` returns a <div> of figures.  Each
// chart is one keyboard stop: ←/→ move a cursor over the rounds (Home/End), Enter opens
// the round's job (a rollup bucket: zooms into it), +/- zoom; a mouse click on a round
// does the same and a drag across the plot zooms into what it spans.  What the cursor is
// on is read out in a polite live region under the chart.

import { h, svg } from "./dom.js";
import { formatMs, formatPct, formatTime, niceTicks } from "./format.js";

const MIN_WIDTH = 300;
const COLUMN = 460;  // small multiples: charts side by side while each is at least this wide
const GAP = 16;
const PAD = { left: 56, right: 12, top: 10, bottom: 30 };
const COLOURS = 6;  // .agent-0 … .agent-5 in schedules.css
const DOTS_UP_TO = 200;  // a dot per round up to this many; beyond, the line alone

/** SmokePing's idea: 0 loss green, then blue, violet, orange, red as more is lost. */
export function lossClass(loss) {
  if (loss === null || loss === undefined) return "loss-none";
  if (loss <= 0) return "loss-0";
  if (loss <= 5) return "loss-1";
  if (loss <= 20) return "loss-2";
  if (loss < 100) return "loss-3";
  return "loss-4";
}

export const LOSS_LEGEND = [["loss-0", "0 %"], ["loss-1", "≤ 5 %"], ["loss-2", "≤ 20 %"], ["loss-3", "< 100 %"]];

/** A point of either tier as {t, mid, lo, hi, p10, p90, loss, failed, count, job, ok}. */
export function normalize(point, tier) {
  const t = new Date(point.at).getTime();
  if (tier === "raw") {
    const n = point.numbers || {};
    const failed = point.outcome === "failed" || point.value === null || point.value === undefined;
    return { t, mid: failed ? null : point.value, lo: failed ? null : (n.min ?? point.value),
      hi: failed ? null : (n.max ?? point.value), p10: null, p90: null, loss: point.loss, failed,
      count: 1, failures: failed ? 1 : 0, job: point.job_id, outcome: point.outcome, changed: point.changed || [] };
  }
  const outcomes = point.outcomes || {};
  const failures = outcomes.failed || 0;
  const mid = point.median ?? point.avg;
  return { t, mid: mid ?? null, lo: point.min ?? mid ?? null, hi: point.max ?? mid ?? null, p10: point.p10,
    p90: point.p90, loss: point.loss, failed: mid === null || mid === undefined, count: point.count || 0,
    failures, job: null, outcome: failures ? (failures === point.count ? "failed" : "partial") : "ok",
    changed: point.changes ? ["changes"] : [] };
}

function timeTicks(from, to, count) {
  const steps = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400,
    14 * 86400, 30 * 86400, 60 * 86400, 91 * 86400].map((s) => s * 1000);
  const step = steps.find((s) => (to - from) / s <= count) || steps[steps.length - 1];
  const offset = new Date(from).getTimezoneOffset() * 60000;  // ticks on local whole hours/days
  const ticks = [];
  for (let t = Math.ceil((from - offset) / step) * step + offset; t <= to && ticks.length < 40; t += step) ticks.push(t);
  return { ticks, step };
}

function tickLabel(t, step) {
  const d = new Date(t);
  const pad = (n) => String(n).padStart(2, "0");
  if (step < 86400000) return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return `${d.getMonth() + 1}-${pad(d.getDate())}`;
}

function describe(agent, p, bucketSeconds) {
  const when = formatTime(new Date(p.t).toISOString());
  if (p.failed && !p.count) return `${agent}, ${when}: no result`;
  const parts = [`${agent}, ${when}`];
  if (p.failed) parts.push(p.count > 1 ? `all ${p.count} rounds failed` : "failed");
  else {
    parts.push(`median ${formatMs(p.mid)}`, `min ${formatMs(p.lo)}`, `max ${formatMs(p.hi)}`);
    if (p.failures) parts.push(`${p.failures} of ${p.count} failed`);
  }
  if (p.loss !== null && p.loss !== undefined) parts.push(`loss ${formatPct(p.loss)}`);
  if (p.changed.length) parts.push(`changed: ${p.changed.join(", ")}`);
  if (p.count > 1) parts.push(`${p.count} rounds in ${Math.round(bucketSeconds / 60)} min`);
  if (p.job) parts.push(`Enter opens job #${p.job}`);
  else if (p.count > 1) parts.push("Enter zooms in");
  return parts.join(" · ");
}

/** One chart: `lines` [{agent, colour, points}] over [from, to]. */
function drawChart(lines, { from, to, bucketSeconds, overlay, title, alerts, onOpen, onZoom, width }) {
  const WIDTH = width;
  const height = overlay ? 260 : 180;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const all = lines.flatMap((l) => l.points);
  const highs = all.map((p) => p.hi).filter((v) => typeof v === "number");
  const yTicks = niceTicks(highs.length ? Math.max(...highs) : 1, 4);
  const yMax = yTicks[yTicks.length - 1] || 1;
  const x = (t) => PAD.left + ((t - from) / (to - from)) * plotW;
  const y = (v) => PAD.top + plotH - (Math.max(0, v) / yMax) * plotH;
  const bucketW = Math.max(2, (bucketSeconds * 1000 / (to - from)) * plotW);
  const spans = alertSpans(alerts, from, to);
  const label = `${title}: round trip in milliseconds from ${formatTime(new Date(from).toISOString())} to `
    + `${formatTime(new Date(to).toISOString())}, ${all.length} points`
    + `${spans.length ? `, ${spans.length} alert period${spans.length === 1 ? "" : "s"} shaded` : ""}.`
    + " Arrow keys move between rounds, Enter opens one, + and - zoom.";
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${height}`, class: "smoke", preserveAspectRatio: "xMinYMin meet",
    tabindex: "0", role: "group", "aria-label": label, "data-testid": "smoke-chart", "data-focus": `chart:${title}` });
  const axis = svg("g", { class: "chart-axis", "aria-hidden": "true" });
  for (const tick of yTicks) {
    axis.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(tick), y2: y(tick), class: "chart-grid" }),
      svg("text", { x: PAD.left - 6, y: y(tick) + 4, class: "chart-tick", "text-anchor": "end" }, tick ? formatMs(tick) : "0"));
  }
  const { ticks, step } = timeTicks(from, to, Math.max(3, Math.floor(plotW / 90)));
  for (const tick of ticks) {
    axis.append(svg("line", { x1: x(tick), x2: x(tick), y1: PAD.top, y2: PAD.top + plotH, class: "chart-grid" }),
      svg("text", { x: x(tick), y: height - 10, class: "chart-tick", "text-anchor": "middle" }, tickLabel(tick, step)));
  }
  chart.append(axis);
  if (spans.length) {
    chart.append(svg("g", { class: "smoke-alerts", "aria-hidden": "true" }, ...spans.map((span) => svg("rect", {
      x: x(span.from), width: Math.max(2, x(span.to) - x(span.from)), y: PAD.top, height: plotH,
      class: `alert-span${span.firing ? " firing" : ""}`, "data-alert": span.id }))));
  }
  const body = svg("g", { "aria-hidden": "true" });
  chart.append(body);
  const stops = [];  // every round, in time order, for the keyboard cursor
  for (const line of lines) {
    const smoke = svg("g", { class: `smoke-band${overlay ? ` agent-${line.colour}` : ""}` });
    const median = svg("g", { class: `smoke-median${overlay ? ` agent-${line.colour}` : ""}` });
    const marks = svg("g", { class: "smoke-fail" });
    let prev = null;
    for (const p of line.points) {
      const px = x(p.t);
      stops.push({ agent: line.agent, p, px });
      if (p.failed) {
        const fy = PAD.top + plotH - 4;
        marks.append(svg("path", { d: `M${px - 4},${fy - 4}L${px + 4},${fy + 4}M${px - 4},${fy + 4}L${px + 4},${fy - 4}`,
          class: "fail-mark", "data-failed": "true" }));
        prev = null;  // the line breaks at a failure: no value is drawn for it
        continue;
      }
      if (typeof p.lo === "number" && typeof p.hi === "number") {
        smoke.append(svg("rect", { x: px - bucketW / 2, width: bucketW, y: y(p.hi), height: Math.max(1, y(p.lo) - y(p.hi)),
          class: "band" }));
        if (typeof p.p10 === "number" && typeof p.p90 === "number") {
          smoke.append(svg("rect", { x: px - bucketW / 2, width: bucketW, y: y(p.p90), height: Math.max(1, y(p.p10) - y(p.p90)),
            class: "band-inner" }));
        }
      }
      const gap = prev && p.t - prev.t > bucketSeconds * 1000 * 2.5;
      const start = prev && !gap ? [x(prev.t), y(prev.mid)] : [px - Math.min(bucketW, 6) / 2, y(p.mid)];
      median.append(svg("path", { d: `M${start[0]},${start[1]}L${px},${y(p.mid)}`,
        class: `seg ${overlay ? "" : lossClass(p.loss)}`, "data-loss": lossClass(p.loss) }));
      if (line.points.length <= DOTS_UP_TO) median.append(svg("circle", { cx: px, cy: y(p.mid), r: 2.2, class: `dot ${overlay ? "" : lossClass(p.loss)}` }));
      prev = p;
    }
    body.append(smoke, median, marks);
  }
  stops.sort((a, b) => a.p.t - b.p.t);
  const cursor = svg("line", { class: "smoke-cursor", y1: PAD.top, y2: PAD.top + plotH, x1: -10, x2: -10, "aria-hidden": "true" });
  const selection = svg("rect", { class: "smoke-select", y: PAD.top, height: plotH, x: 0, width: 0, "aria-hidden": "true" });
  chart.append(cursor, selection);
  const readout = h("p", { class: "smoke-readout muted", "aria-live": "polite", "data-testid": "smoke-readout" },
    stops.length ? "Point at a round or focus the chart and use the arrow keys." : "No rounds in this range yet.");
  let at = -1;
  const show = (index) => {
    if (!stops.length) return;
    at = Math.max(0, Math.min(stops.length - 1, index));
    const stop = stops[at];
    cursor.setAttribute("x1", stop.px);
    cursor.setAttribute("x2", stop.px);
    readout.textContent = describe(stop.agent, stop.p, bucketSeconds);
  };
  const open = (stop) => {
    if (stop.p.job) onOpen(stop.p.job);
    else if (stop.p.count > 1) onZoom(stop.p.t, stop.p.t + bucketSeconds * 1000);
  };
  const nearest = (px) => {
    let best = -1;
    let distance = Infinity;
    stops.forEach((stop, index) => {
      const d = Math.abs(stop.px - px);
      if (d < distance) { distance = d; best = index; }
    });
    return distance <= Math.max(8, bucketW) ? best : -1;
  };
  const toSvgX = (event) => {
    const box = chart.getBoundingClientRect();
    return ((event.clientX - box.left) / box.width) * WIDTH;
  };
  chart.addEventListener("keydown", (event) => {
    const keys = { ArrowRight: at + 1, ArrowLeft: at < 0 ? stops.length - 1 : at - 1, Home: 0, End: stops.length - 1 };
    if (event.key in keys) { event.preventDefault(); show(keys[event.key]); }
    else if (event.key === "Enter" && at >= 0) { event.preventDefault(); open(stops[at]); }
    else if (event.key === "+" || event.key === "=") { event.preventDefault(); zoomBy(0.5); }
    else if (event.key === "-") { event.preventDefault(); zoomBy(2); }
  });
  const zoomBy = (factor) => {
    const centre = at >= 0 ? stops[at].p.t : (from + to) / 2;
    const half = ((to - from) * factor) / 2;
    onZoom(centre - half, centre + half);
  };
  let dragFrom = null;
  chart.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    dragFrom = toSvgX(event);
    chart.setPointerCapture(event.pointerId);
  });
  chart.addEventListener("pointermove", (event) => {
    const px = toSvgX(event);
    if (dragFrom !== null && Math.abs(px - dragFrom) > 4) {
      selection.setAttribute("x", Math.min(px, dragFrom));
      selection.setAttribute("width", Math.abs(px - dragFrom));
      return;
    }
    const index = nearest(px);
    if (index >= 0) show(index);
  });
  chart.addEventListener("pointerup", (event) => {
    if (dragFrom === null) return;
    const px = toSvgX(event);
    const start = dragFrom;
    dragFrom = null;
    selection.setAttribute("width", 0);
    const time = (sx) => from + ((Math.max(PAD.left, Math.min(WIDTH - PAD.right, sx)) - PAD.left) / plotW) * (to - from);
    if (Math.abs(px - start) > 4) {
      onZoom(time(Math.min(px, start)), time(Math.max(px, start)));
      return;
    }
    const index = nearest(px);
    if (index >= 0) { show(index); open(stops[index]); }
  });
  chart.addEventListener("pointercancel", () => { dragFrom = null; selection.setAttribute("width", 0); });
  return h("figure", { class: "smoke-figure", dataset: { agents: lines.map((l) => l.agent).join(" ") } },
    h("figcaption", { class: "smoke-title" }, title), chart, readout);
}

/** The alerts that overlap [from, to], clipped to it. */
function alertSpans(alerts, from, to) {
  return (alerts || []).map((a) => ({ ...a, from: Math.max(from, a.from), to: Math.min(to, a.to ?? Date.now()) }))
    .filter((a) => a.to > a.from || (a.to === a.from && a.firing));
}

function legend(lines, overlay, alerts) {
  const item = (cls, text, shape = "line") => h("span", { class: "legend-item" },
    h("span", { class: `legend-swatch ${shape} ${cls}`, "aria-hidden": "true" }), text);
  const items = overlay
    ? lines.map((l) => item(`agent-${l.colour}`, l.agent))
    : [h("span", { class: "legend-item" }, "Median, coloured by loss:"), ...LOSS_LEGEND.map(([cls, text]) => item(cls, text))];
  return h("p", { class: "chart-legend smoke-legend" }, ...items, item("band", "min–max", "box"),
    item("fail", "failed (no value)", "cross"), alerts ? item("alert", "an alert firing", "box") : null);
}

/** The charts for a series answer; `mode` "overlay" or "multiples"; `width` the room
 * there is (each chart is drawn at its own width in pixels, so its text stays legible). */
export function smokeChart(answer, { from, to, mode = "multiples", alerts = [], onOpen, onZoom, width = 760 }) {
  const lines = answer.series.map((series, index) => ({
    agent: series.agent, colour: index % COLOURS, points: series.points.map((p) => normalize(p, answer.tier)),
  }));
  const overlay = mode === "overlay";
  const room = Math.max(MIN_WIDTH, Math.floor(width));
  const columns = overlay ? 1 : Math.max(1, Math.min(lines.length, Math.floor((room + GAP) / (COLUMN + GAP))));
  const options = { from, to, bucketSeconds: answer.bucket_seconds, alerts, onOpen, onZoom,
    width: Math.max(MIN_WIDTH, Math.floor((room - (columns - 1) * GAP) / columns)) };
  const charts = overlay
    ? [drawChart(lines, { ...options, overlay: true, title: lines.map((l) => l.agent).join(", ") || "No agent" })]
    : lines.map((line) => drawChart([line], { ...options, overlay: false, title: line.agent }));
  const grid = h("div", { class: `smoke-charts ${mode}` }, legend(lines, overlay, alertSpans(alerts, from, to).length > 0), ...charts);
  grid.style.setProperty("grid-template-columns", `repeat(${columns}, minmax(0, 1fr))`);
  return grid;
}
