// Ping per agent: every reply's RTT as a strip (one bar per reply in order, within the
// agent's own min–max, lost requests as ×), with loss, jitter (the mean change between
// consecutive replies) and the spread (min–max, mdev).

import { h, svg } from "../dom.js";
import { formatMs, formatPct } from "../format.js";

/** Mean absolute difference of consecutive replies (ms), or null with fewer than two. */
export function jitter(replies) {
  if (!replies || replies.length < 2) return null;
  let sum = 0;
  for (let i = 1; i < replies.length; i += 1) sum += Math.abs(replies[i] - replies[i - 1]);
  return sum / (replies.length - 1);
}

function strip(replies, lost, agent) {
  const width = 260;
  const height = 40;
  const lo = Math.min(...replies);
  const hi = Math.max(...replies);
  const span = hi - lo || 1;
  const slots = replies.length + lost;
  const step = (width - 8) / Math.max(1, slots);
  const chart = svg("svg", { class: "rtt-strip", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": `${agent}: ${replies.length} replies from ${formatMs(lo)} to ${formatMs(hi)}${lost ? `, ${lost} lost` : ""}` });
  chart.append(svg("line", { x1: 4, x2: width - 4, y1: height - 2, y2: height - 2, class: "strip-axis" }));
  replies.forEach((rtt, i) => {
    // One bar per reply in order, its height within this agent's own min–max (the spread).
    const bar = 8 + ((rtt - lo) / span) * (height - 14);
    const x = 4 + step * i + step / 2;
    const mark = svg("line", { x1: x, x2: x, y1: height - 3, y2: height - 3 - bar, class: "strip-mark", "data-rtt": rtt });
    const title = svg("title", {});
    title.textContent = `reply ${i + 1}: ${formatMs(rtt)}`;
    mark.append(title);
    chart.append(mark);
  });
  for (let i = 0; i < lost; i += 1) {
    const cross = svg("text", { x: 4 + step * (replies.length + i) + step / 2, y: height - 6, class: "strip-lost", "text-anchor": "middle" });
    cross.textContent = "×";
    const title = svg("title", {});
    title.textContent = "a lost request";
    cross.append(title);
    chart.append(cross);
  }
  return chart;
}

/** rows: [{agent, parsed, answer}] → the per-agent cards, or null. */
export function pingDetail(rows) {
  const usable = rows.filter((r) => r.answer && r.parsed && (r.parsed.replies || []).length);
  if (!usable.length) return null;
  return h("section", { class: "card", "aria-labelledby": "ping-title", "data-testid": "ping-detail" },
    h("h2", { id: "ping-title" }, "Replies per agent"),
    h("p", { class: "muted help-text" }, "One bar per reply in the order they came, from the agent's fastest (short) to its slowest (tall); × is a lost request (where it fell in the order is not known)."),
    h("div", { class: "side-by-side narrow" }, ...usable.map(({ agent, parsed }) => {
      const j = jitter(parsed.replies);
      const lost = (parsed.transmitted || 0) - (parsed.received || 0);
      return h("div", { class: "agent-detail", dataset: { agent } },
        h("h3", {}, agent),
        strip(parsed.replies, Math.max(0, lost), agent),
        h("dl", { class: "stats" },
          h("dt", {}, "Loss"), h("dd", { class: lost > 0 ? "warn-text" : "", "data-testid": "ping-loss" },
            `${formatPct(parsed.loss_pct)} (${lost} of ${parsed.transmitted} lost)`),
          h("dt", {}, "Jitter"), h("dd", { "data-testid": "ping-jitter" }, formatMs(j)),
          h("dt", {}, "Min – max"), h("dd", {}, `${formatMs(parsed.rtt_min_ms)} – ${formatMs(parsed.rtt_max_ms)}`),
          h("dt", {}, "mdev"), h("dd", {}, formatMs(parsed.rtt_mdev_ms))));
    })));
}
