// Traceroute and MTR hops per agent, side by side: one small table per agent (hop,
// address and name, loss, RTTs), a lossy hop tinted; no reply says so in words.

import { h } from "../dom.js";
import { formatMs, formatPct } from "../format.js";
import { lossKind, lossStart } from "./route.js";

function hopRow(hop, mtr, start) {
  const kind = hop.replied ? lossKind(hop.lossPct) : "bad";
  return h("tr", { class: kind === "ok" ? "" : `hop-${kind}`, dataset: { hop: String(hop.n) } },
    h("td", { class: "num" }, String(hop.n)),
    h("td", { class: "hop-where" }, hop.replied || hop.address
      ? [h("span", { class: "mono" }, hop.address || "—"), hop.host ? h("span", { class: "muted hop-host" }, hop.host) : null]
      : h("span", { class: "muted" }, "no reply"),
      start ? h("span", { class: "badge bad hop-flag" }, "loss starts") : null),
    h("td", { class: "num" }, hop.lossPct === null ? "—" : formatPct(hop.lossPct)),
    h("td", { class: "num" }, formatMs(hop.rtt)),
    mtr ? h("td", { class: "num" }, hop.replied ? `${formatMs(hop.best)} – ${formatMs(hop.worst)}` : "—") : null);
}

/** routes: [{agent, hops (normalHops), mtr}] → the cards, or null when no hops at all. */
export function hopTables(routes) {
  const usable = routes.filter((r) => r.hops.length);
  if (!usable.length) return null;
  return h("section", { class: "card", "aria-labelledby": "hops-title", "data-testid": "hop-tables" },
    h("h2", { id: "hops-title" }, "Hops per agent"),
    h("div", { class: "side-by-side" }, ...usable.map((route) => {
      const start = lossStart(route.hops);
      return h("div", { class: "agent-detail", dataset: { agent: route.agent } },
        h("h3", {}, route.agent, " ", h("span", { class: "muted" }, `${route.hops.length} hops${route.reached === false ? ", destination not reached" : ""}`)),
        h("div", {}, h("table", { class: "table hops" },
          h("caption", { class: "sr" }, `Hops from ${route.agent}`),
          h("thead", {}, h("tr", {}, h("th", { class: "num", scope: "col" }, "#"), h("th", { scope: "col" }, "Address"),
            h("th", { class: "num", scope: "col" }, "Loss"), h("th", { class: "num", scope: "col" }, route.mtr ? "Avg" : "RTT"),
            route.mtr ? h("th", { class: "num", scope: "col" }, "Best – worst") : null)),
          h("tbody", {}, ...route.hops.map((hop) => hopRow(hop, route.mtr, start === hop))))));
    })));
}
