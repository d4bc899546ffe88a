// HTTP timing per agent as a waterfall: name lookup, TCP connect, TLS handshake, waiting
// for the first byte and the transfer, on one time scale for all agents, with the status.
// curl's times are cumulative; each phase is the difference to the one before.

import { h, svg } from "../dom.js";
import { formatMs } from "../format.js";

// Each phase's own time (the table above shows curl's cumulative times under other names).
export const PHASES = [["dns", "DNS lookup"], ["connect", "TCP connect"], ["tls", "TLS handshake"], ["wait", "waiting"], ["transfer", "transfer"]];

/** The phases of one curl result: [{key, label, start, ms}] (TLS only when there was one). */
export function phases(p) {
  const cut = [["dns", p.dns_ms], ["connect", p.connect_ms], ["tls", p.tls_ms], ["wait", p.ttfb_ms], ["transfer", p.total_ms]];
  const out = [];
  let at = 0;
  for (const [key, end] of cut) {
    if (end === null || end === undefined) continue;
    const ms = Math.max(0, end - at);
    out.push({ key, label: PHASES.find(([k]) => k === key)[1], start: at, ms });
    at = Math.max(at, end);
  }
  return out;
}

/** rows: [{agent, parsed, answer, status}] → the waterfall, or null. */
export function httpDetail(rows) {
  const usable = rows.filter((r) => r.parsed && typeof r.parsed.total_ms === "number" && r.parsed.http_status);
  if (!usable.length) return null;
  const max = Math.max(...usable.map((r) => r.parsed.total_ms)) || 1;
  const width = 420;
  return h("section", { class: "card", "aria-labelledby": "http-title", "data-testid": "http-detail" },
    h("h2", { id: "http-title" }, "Where the time went"),
    h("p", { class: "path-legend muted" }, ...PHASES.flatMap(([key, label]) => [h("span", { class: `key phase-${key}`, "aria-hidden": "true" }), ` ${label} `]),
      `· one scale for all agents, 0 to ${formatMs(max)}`),
    h("table", { class: "table waterfall" },
      h("caption", { class: "sr" }, "HTTP timing phases per agent"),
      h("thead", {}, h("tr", {}, ...["Agent", "Status", "Phases", "Total"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...usable.map(({ agent, parsed, answer }) => {
        const parts = phases(parsed);
        const bar = svg("svg", { class: "waterfall-bar", viewBox: `0 0 ${width} 18`, width, height: 18, role: "img",
          "aria-label": parts.map((p) => `${p.label} ${formatMs(p.ms)}`).join(", ") });
        for (const part of parts) {
          const rect = svg("rect", { x: (part.start / max) * width, y: 2, width: Math.max(1, (part.ms / max) * width), height: 14,
            class: `phase-${part.key}`, "data-phase": part.key, "data-ms": part.ms });
          const title = svg("title", {});
          title.textContent = `${part.label}: ${formatMs(part.ms)} (from ${formatMs(part.start)})`;
          rect.append(title);
          bar.append(rect);
        }
        const ok = parsed.http_status < 400;
        return h("tr", { dataset: { agent } },
          h("td", { "data-label": "Agent" }, h("strong", {}, agent)),
          h("td", { "data-label": "Status" }, h("span", { class: `badge ${ok ? "ok" : "bad"}`, "data-testid": "http-status" }, `HTTP ${parsed.http_status}`)),
          h("td", { "data-label": "Phases", class: "waterfall-cell" }, bar,
            h("span", { class: "phase-text muted" }, parts.map((p) => `${p.label} ${formatMs(p.ms)}`).join(" · "))),
          h("td", { class: "num", "data-label": "Total" }, answer ? formatMs(parsed.total_ms) : `${formatMs(parsed.total_ms)} (failed)`));
      }))));
}
