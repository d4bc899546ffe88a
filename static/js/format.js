// Numbers as a network engineer reads them: times with a sensible precision and unit,
// percentages, durations.  One rule for every measured time, the server's too
// (toolbox/tools/outcomes.py format_ms), so a row's summary and its cells agree:
// milliseconds always; whole numbers as the tool gave them ("3 ms"); from 100 ms no
// decimals, from 10 ms one, below that 3 significant digits ("3.21 ms", "0.024 ms"); a 0
// from a tool that counts whole ms (dig) or tenths (mtr) is "<1 ms" / "<0.1 ms".

/** "0.024 ms", "3.21 ms", "3 ms", "28.1 ms", "152 ms", "<1 ms"; "—" for no value.
 * `resolution`: the tool's smallest step in ms (1 for dig, 0.1 for mtr), for a 0. */
export function formatMs(value, resolution = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  const v = Number(value);
  if (v === 0) return `<${resolution} ms`;
  if (Number.isInteger(v)) return `${v} ms`;
  if (Math.abs(v) >= 99.95) return `${Math.round(v)} ms`;
  if (Math.abs(v) >= 10) return `${v.toFixed(1)} ms`;
  if (Math.abs(v) >= 0.001) return `${Number(v.toPrecision(3))} ms`;
  return "<0.001 ms";
}

/** A percentage: "0 %", "12.5 %", "100 %". */
export function formatPct(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  const v = Number(value);
  return `${Number.isInteger(v) ? v : v.toFixed(1)} %`;
}

/** "850 ms", "4.2 s", "3 min 20 s", "1 h 5 min" from milliseconds. */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(s % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** "2026-12-01 14:03:07": an absolute local time people can compare. */
export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Round "nice" axis ticks from 0 to at least `max`: [0, step, 2·step, …]. */
export function niceTicks(max, count = 5) {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough) || 10 * power;
  const ticks = [];
  for (let t = 0; t < max + step * 0.999 && ticks.length < 50; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}
