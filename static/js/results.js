// What each tool's parsed result looks like side by side: table columns and the value
// charted per agent.  `parsed` comes from the server (toolbox/parsers); when it is null
// the raw output is what the user sees.  Only an answer (outcome ok or partial) gives
// numbers to compare (`measured`: for curl also a complete HTTP exchange such as a 404):
// a failed task's timings (a refused connection's 0.07 ms, an NXDOMAIN's query time) are
// never shown as values; columns marked `keep` (what the answer was: loss, HTTP status,
// DNS status, port state) still are.

import { formatMs, formatPct } from "./format.js";

const ms = (v) => (v === null || v === undefined ? null : v);
export const MTR_RES = 0.1;  // mtr prints times in tenths of a ms: its 0.0 is "<0.1 ms"

function lastHop(parsed) {
  const hops = (parsed && parsed.hops) || [];
  return hops.length ? hops[hops.length - 1] : null;
}

function hopAvg(hop) {
  if (!hop) return null;
  if (hop.avg_ms !== undefined) return hop.avg_ms;
  const rtts = hop.rtt_ms || [];
  return rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null;
}

// Each column: key, title, unit, value(parsed) → number | string | null, `keep` when it
// still says something true about a failed task, and `res`, the tool's smallest step in ms.
export const COLUMNS = {
  ping: [
    { key: "loss", title: "Loss", unit: "%", keep: true, value: (p) => p.loss_pct },
    { key: "recv", title: "Received", keep: true, value: (p) => (p.transmitted === null || p.transmitted === undefined ? null : `${p.received}/${p.transmitted}`), sortValue: (p) => p.received },
    { key: "min", title: "RTT min", unit: "ms", value: (p) => ms(p.rtt_min_ms) },
    { key: "avg", title: "RTT avg", unit: "ms", value: (p) => ms(p.rtt_avg_ms) },
    { key: "max", title: "RTT max", unit: "ms", value: (p) => ms(p.rtt_max_ms) },
  ],
  traceroute: [
    { key: "hops", title: "Hops", value: (p) => (p.hops || []).length },
    { key: "reached", title: "Reached", keep: true, value: (p) => (p.reached === undefined || p.reached === null ? null : (p.reached ? "yes" : "no")) },
    { key: "last", title: "Last hop RTT", unit: "ms", value: (p) => hopAvg(lastHop(p)) },
  ],
  mtr: [
    { key: "hops", title: "Hops", value: (p) => (p.hops || []).length },
    { key: "loss", title: "Final loss", unit: "%", keep: true, value: (p) => (lastHop(p) ? lastHop(p).loss_pct : null) },
    { key: "avg", title: "Final avg", unit: "ms", res: MTR_RES, value: (p) => hopAvg(lastHop(p)) },
    { key: "worst", title: "Final worst", unit: "ms", res: MTR_RES, value: (p) => (lastHop(p) ? lastHop(p).worst_ms : null) },
  ],
  dig: [
    { key: "status", title: "Status", keep: true, value: (p) => p.status },
    { key: "answers", title: "Answers", value: (p) => (p.answers || []).length },
    { key: "first", title: "First answer", value: (p) => ((p.answers || [])[0] || {}).data || null },
    { key: "time", title: "Query time", unit: "ms", value: (p) => ms(p.query_time_ms) },
  ],
  curl: [
    { key: "http", title: "HTTP", keep: true, value: (p) => p.http_status || null },  // 0: no HTTP answer
    // curl's times count from the start of the request (cumulative): "Connected" is when
    // the connection stood, not the connect phase (the waterfall's "TCP connect").
    { key: "dns", title: "DNS done", unit: "ms", value: (p) => ms(p.dns_ms) },
    { key: "connect", title: "Connected", unit: "ms", value: (p) => ms(p.connect_ms) },
    { key: "tls", title: "TLS done", unit: "ms", value: (p) => ms(p.tls_ms) },
    { key: "ttfb", title: "First byte", unit: "ms", value: (p) => ms(p.ttfb_ms) },
    { key: "total", title: "Total", unit: "ms", value: (p) => ms(p.total_ms) },
  ],
  tcp: [
    { key: "open", title: "Port", keep: true, value: (p) => (p.open === null || p.open === undefined ? null : (p.open ? "open" : "closed")) },
    { key: "address", title: "Address", keep: true, value: (p) => p.address },
    { key: "connect", title: "Connect", unit: "ms", value: (p) => ms(p.connect_ms) },
  ],
};

// The number charted per agent (with an optional min–max range), by tool; `name` and
// `range` are what the bar and the whisker are, in the legend and tooltips.
const CHART = {
  ping: { title: "Average RTT per agent", name: "average RTT", range: "min–max of the replies", value: (p) => p.rtt_avg_ms, low: (p) => p.rtt_min_ms, high: (p) => p.rtt_max_ms },
  traceroute: { title: "Last hop RTT per agent", name: "last hop RTT", value: (p) => hopAvg(lastHop(p)) },
  mtr: { title: "Final hop average per agent", name: "final hop average", res: MTR_RES, range: "best–worst of the final hop", value: (p) => hopAvg(lastHop(p)), low: (p) => (lastHop(p) || {}).best_ms, high: (p) => (lastHop(p) || {}).worst_ms },
  dig: { title: "Query time per agent", name: "query time", value: (p) => p.query_time_ms },
  curl: { title: "Total time per agent", name: "total time", value: (p) => p.total_ms },
  tcp: { title: "Connect time per agent", name: "connect time", value: (p) => p.connect_ms },
};

/** What a tool's table says its times mean (shown under the table), or null. */
export const TABLE_NOTES = {
  curl: "Times count from the start of the request, as curl measures them; the waterfall below shows each phase's own time.",
  tcp: "Connect: from the start of the check to the open connection, name lookup included.",
};

/** A cell's text for column `col`: times with their unit and precision (formatMs). */
export function cellText(col, value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (col.unit === "ms") return formatMs(value, col.res || 1);
  if (col.unit === "%") return formatPct(value);
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export function columnsFor(tool) {
  return COLUMNS[tool] || [];
}

export function chartFor(tool) {
  return CHART[tool] || null;
}

/** Whether a task is an answer whose numbers can be compared (outcome ok or partial). */
export function answered(task) {
  if (task.state !== "done" || !task.parsed) return false;
  if (task.outcome) return task.outcome === "ok" || task.outcome === "partial";
  return !parsedError(task.parsed);  // stored before outcomes were read
}

/** Whether a task's times are measurements: an answer, or for curl any complete HTTP
 * exchange (a 404 is a failure whose timings are as real as a 200's; a refused
 * connection's are not). */
export function measured(tool, task) {
  if (answered(task)) return true;
  const p = task.state === "done" ? task.parsed : null;
  return tool === "curl" && Boolean(p) && p.http_status >= 100 && !p.exit_code;
}

/** The error a parser found (unknown host, timed out…), if any. */
export function parsedError(parsed) {
  return parsed && parsed.error ? String(parsed.error) : null;
}
