// The merged path view: every agent's route to the target in one SVG graph (the
// ThousandEyes path-visualisation idea).  Agents on the left, hops as nodes (shared hops
// merged), the destination last; a node's colour says its loss (ok / some / all), its
// label the address, name and RTT; the place where paths diverge and where loss starts
// are marked on the graph and said in words below it (the text alternative).

import { h, svg } from "../dom.js";
import { formatMs, formatPct } from "../format.js";
import { mergeRoutes, sharedHops, worstLoss, meanRtt, lossKind } from "./route.js";
import { hopCount } from "./hops.js";
import { MTR_RES } from "../results.js";

const COL_MAX = 168;
const COL_MIN = 118;
const LANE = 74;
const PAD = 24;
const R = 9;

function text(x, y, value, cls, anchor = "middle") {
  const node = svg("text", { x, y, class: cls, "text-anchor": anchor });
  node.textContent = value;
  return node;
}

function short(value, room = 22) {
  return value && value.length > room ? `${value.slice(0, room - 1)}…` : value;
}

/** Place nodes: x by layer, y near the mean lane of their agents, spread in a column. */
function place(graph, lanes, col) {
  const columns = new Map();
  for (const n of graph.nodes.values()) {
    const mean = n.agents.reduce((sum, a) => sum + lanes.get(a), 0) / n.agents.length;
    n.want = mean;
    if (!columns.has(n.layer)) columns.set(n.layer, []);
    columns.get(n.layer).push(n);
  }
  let rows = lanes.size;
  for (const column of columns.values()) {
    column.sort((a, b) => a.want - b.want);
    let last = -Infinity;
    for (const n of column) {
      n.row = Math.max(n.want, last + 1);
      last = n.row;
      rows = Math.max(rows, n.row + 1);
    }
  }
  for (const n of graph.nodes.values()) {
    n.x = PAD + 70 + n.layer * col;
    n.y = PAD + 10 + n.row * LANE;
  }
  return rows;
}

function describe(graph) {
  const items = [];
  const shared = sharedHops(graph);
  if (shared.length) {
    items.push(h("li", { "data-testid": "path-shared" }, `Shared hops: ${shared.map((n) => `${n.address || n.host} (${n.agents.join(", ")})`).join("; ")}.`));
  } else {
    items.push(h("li", { "data-testid": "path-shared" }, "No hop is shared: every agent takes its own way."));
  }
  for (const j of graph.joins) {
    const n = graph.nodes.get(j.key);
    items.push(h("li", { "data-testid": "path-join" }, `Paths join at ${n.address || n.host}: ${j.groups.map((g) => g.join(" and ")).join(" + ")}.`));
  }
  for (const d of graph.divergences) {
    const n = graph.nodes.get(d.key);
    items.push(h("li", { "data-testid": "path-diverge" },
      `Paths diverge after ${n.address || n.host}: ${d.groups.map((g) => g.join(" and ")).join(" / ")}${d.groups.flat().length < n.agents.length ? " / ends there" : ""}.`));
  }
  for (const loss of graph.losses) {
    const n = graph.nodes.get(loss.key);
    const where = n && n.address ? n.address : "a hop that did not answer";
    items.push(h("li", { "data-testid": "path-loss", class: "bad-text" },
      `${loss.agent}: loss starts at hop ${loss.hop} (${where}, ${formatPct(loss.lossPct)}) and lasts to the end.`));
  }
  return h("ul", { class: "path-notes" }, ...items);
}

/**
 * routes: [{agent, hops (normalHops), reached}] in the table's order; `target` the
 * destination address (drawn last); `room` the width to fit in (wider graphs scroll).
 * Returns the section (graph + words), or null.
 */
export function pathView(routes, target, room = 1100) {
  const usable = routes.filter((r) => r.hops.length);
  const ms = (v) => formatMs(v, usable.some((r) => r.mtr) ? MTR_RES : 1);
  if (!usable.length) return null;
  const graph = mergeRoutes(usable);
  if (target && graph.nodes.has(target)) graph.nodes.get(target).layer = graph.layers - 1;
  const lanes = new Map(usable.map((r, i) => [r.agent, i]));
  const col = Math.max(COL_MIN, Math.min(COL_MAX, (room - PAD * 2 - 70 - 60) / Math.max(1, graph.layers - 1)));
  const rows = place(graph, lanes, col);
  const width = PAD * 2 + 70 + (graph.layers - 1) * col + 60;
  const height = PAD * 2 + rows * LANE;
  const diverging = new Set(graph.divergences.map((d) => d.key));
  const lossAt = new Map(graph.losses.map((l) => [l.key, l]));
  const chart = svg("svg", { class: "path-graph", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": `merged route of ${usable.length} agents: ${hopCount(graph.nodes.size - usable.length)}, described below` });
  for (const edge of graph.edges) {
    const a = graph.nodes.get(edge.from);
    const b = graph.nodes.get(edge.to);
    const mid = (a.x + b.x) / 2;
    const silent = b.kind === "silent";
    chart.append(svg("path", { d: `M${a.x},${a.y} C${mid},${a.y} ${mid},${b.y} ${b.x},${b.y}`,
      class: `path-edge${silent ? " silent" : ""}`, "stroke-width": 1.5 + 1.5 * edge.agents.length,
      "data-agents": edge.agents.join(" ") }));
  }
  for (const n of graph.nodes.values()) {
    const group = svg("g", { class: `path-node ${n.kind}`, "data-key": n.key, "data-agents": n.agents.join(" "),
      "data-address": n.address || "" });
    const title = svg("title", {});
    if (n.kind === "agent") {
      group.append(svg("rect", { x: n.x - 62, y: n.y - 13, width: 62, height: 26, rx: 6, class: "path-agent" }));
      group.append(text(n.x - 6, n.y + 4, short(n.host, 10), "path-agent-label", "end"));
      title.textContent = `agent ${n.host}`;
    } else {
      const loss = worstLoss(n);
      const kind = n.kind === "silent" ? "bad" : lossKind(loss);
      group.setAttribute("data-loss", loss === null ? "" : String(loss));
      group.setAttribute("data-kind", kind);
      if (n.address && n.address === target) group.classList.add("destination");
      group.append(svg("circle", { cx: n.x, cy: n.y, r: n.agents.length > 1 ? R + 3 : R, class: `path-dot ${kind}` }));
      const rtt = meanRtt(n);
      const name = n.kind === "silent" ? "no reply" : n.address || n.host;
      group.append(text(n.x, n.y - 16, short(name), "path-label"));
      if (n.host && n.address) group.append(text(n.x, n.y + 24, short(n.host), "path-sub"));
      const numbers = n.kind === "silent" ? "" : `${ms(rtt)}${loss ? ` · ${formatPct(loss)} loss` : ""}`;
      if (numbers) group.append(text(n.x, n.y + (n.host && n.address ? 38 : 24), numbers, `path-sub ${kind === "ok" ? "" : `${kind}-text`}`));
      if (diverging.has(n.key)) {
        group.append(svg("circle", { cx: n.x, cy: n.y, r: R + 8, class: "path-mark diverge" }));
      }
      if (lossAt.has(n.key)) group.append(svg("circle", { cx: n.x, cy: n.y, r: R + 6, class: "path-mark loss" }));
      const per = n.agents.map((a) => `${a}: hop ${n.hop[a]}, ${n.rtt[a] === null ? "no reply" : ms(n.rtt[a])}, ${formatPct(n.loss[a])} loss`);
      title.textContent = `${name}${n.host && n.address ? ` (${n.host})` : ""}\n${per.join("\n")}`;
    }
    group.append(title);
    chart.append(group);
  }
  const legend = h("p", { class: "path-legend muted" },
    h("span", { class: "key dot ok", "aria-hidden": "true" }), " no loss ",
    h("span", { class: "key dot warn", "aria-hidden": "true" }), " some loss ",
    h("span", { class: "key dot bad", "aria-hidden": "true" }), " no reply / all lost ",
    h("span", { class: "key ring diverge", "aria-hidden": "true" }), " paths diverge ",
    h("span", { class: "key ring loss", "aria-hidden": "true" }), " loss starts · a thicker line: more agents");
  return h("section", { class: "card path-card", "aria-labelledby": "path-title", "data-testid": "path-view" },
    h("h2", { id: "path-title" }, "Paths to the target"),
    h("div", { class: "path-scroll", tabindex: "0", role: "region", "aria-label": "Merged path graph (scrolls sideways)" }, chart),
    legend, describe(graph));
}
