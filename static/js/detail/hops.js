// Traceroute and MTR hops per agent, side by side: one small table per agent (hop,
// address and name, loss, RTTs; mtr's report columns Snt, Last, Avg, Best, Wrst, StDev),
// a lossy hop tinted; no reply says so in words.

import { h } from "../dom.js";
import { formatMs, formatPct } from "../format.js";
import { lossKind, lossStart } from "./route.js";

// mtr's report columns after Loss, as mtr names them: [title, hop → value, is a time].
const MTR_COLUMNS = [
  ["Snt", (hop) => hop.sent, false], ["Last", (hop) => hop.last, true], ["Avg", (hop) => hop.rtt, true],
  ["Best", (hop) => hop.best, true], ["Wrst", (hop) => hop.worst, true], ["StDev", (hop) => hop.stdev, true],
];

/** "1 hop", "5 hops". */
export function hopCount(count) {
  return `${count} ${count === 1 ? "hop" : "hops"}`;
}

function numberCell(value, time, hop, title) {
  const text = value === null || value === undefined ? "—" : time ? formatMs(value, hop.res) : String(value);
  return h("td", { class: "num", dataset: { col: title.toLowerCase() } }, text);
}

function hopRow(hop, mtr, start) {
  const kind = hop.replied ? lossKind(hop.lossPct) : "bad";
  const times = mtr
    ? MTR_COLUMNS.map(([title, value, time]) => numberCell(hop.replied || !time ? value(hop) : null, time, hop, title))
    : [numberCell(hop.rtt, true, hop, "RTT")];
  return h("tr", { class: kind === "ok" ? "" : `hop-${kind}`, dataset: { hop: String(hop.n) } },
    h("td", { class: "num" }, String(hop.n)),
    h("td", { class: "hop-where" }, hop.replied || hop.address
      ? [h("span", { class: "mono" }, hop.address || "—"), hop.host ? h("span", { class: "muted hop-host" }, hop.host) : null]
      : h("span", { class: "muted" }, "no reply"),
      start ? h("span", { class: "badge bad hop-flag" }, "loss starts") : null),
    h("td", { class: "num", dataset: { col: "loss" } }, hop.lossPct === null ? "—" : formatPct(hop.lossPct)),
    ...times);
}

/** routes: [{agent, hops (normalHops), mtr}] → the cards, or null when no hops at all. */
export function hopTables(routes) {
  const usable = routes.filter((r) => r.hops.length);
  if (!usable.length) return null;
  return h("section", { class: "card", "aria-labelledby": "hops-title", "data-testid": "hop-tables" },
    h("h2", { id: "hops-title" }, "Hops per agent"),
    h("div", { class: "side-by-side" }, ...usable.map((route) => {
      const start = lossStart(route.hops);
      const titles = route.mtr ? MTR_COLUMNS.map(([title]) => title) : ["RTT"];
      return h("div", { class: "agent-detail", dataset: { agent: route.agent } },
        h("h3", {}, route.agent, " ", h("span", { class: "muted", "data-testid": "hop-count" },
          `${hopCount(route.hops.length)}${route.reached === false ? ", destination not reached" : ""}`)),
        h("div", route.mtr ? { class: "table-scroll", tabindex: "0", role: "region", "aria-label": `mtr report of ${route.agent} (scrolls sideways)` } : {},
          h("table", { class: "table hops" },
          h("caption", { class: "sr" }, `Hops from ${route.agent}`),
          h("thead", {}, h("tr", {}, h("th", { class: "num", scope: "col" }, "#"), h("th", { scope: "col" }, "Address"),
            h("th", { class: "num", scope: "col" }, "Loss"),
            ...titles.map((title) => h("th", { class: "num", scope: "col" }, title)))),
          h("tbody", {}, ...route.hops.map((hop) => hopRow(hop, route.mtr, start === hop))))));
    })));
}
