// Routes as data: each agent's traceroute or mtr hops in one shape, and the merged graph
// of all of them (hops as nodes keyed by address, shared hops merged), with where the
// paths diverge and where loss starts.  No DOM here: path.js draws it, hops.js tables it.

import { MTR_RES } from "../results.js";

const PROBES = 3;  // traceroute's default probes per hop

/** One agent's hops as [{n, address, host, rtt, best, worst, lossPct, replied, res}]; mtr's also
 * {sent, last, stdev}.  `res`: the smallest step of the hop's times in ms (for formatMs). */
export function normalHops(parsed) {
  return ((parsed && parsed.hops) || []).map((hop) => {
    if (hop.loss_pct !== undefined) {  // mtr
      const replied = Boolean(hop.address || hop.host) && hop.loss_pct < 100;
      return { n: hop.hop, address: hop.address || null, host: hop.host || null, rtt: replied ? hop.avg_ms : null,
        best: replied ? hop.best_ms : null, worst: replied ? hop.worst_ms : null, lossPct: hop.loss_pct, replied,
        sent: hop.sent ?? null, last: replied ? hop.last_ms ?? null : null, stdev: replied ? hop.stdev_ms ?? null : null,
        res: MTR_RES };
    }
    const rtts = hop.rtt_ms || [];
    const probes = Math.max(PROBES, rtts.length);
    return { n: hop.hop, address: hop.address || null, host: hop.host || null,
      rtt: rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null,
      best: rtts.length ? Math.min(...rtts) : null, worst: rtts.length ? Math.max(...rtts) : null,
      lossPct: Math.round((100 * (probes - rtts.length)) / probes), replied: rtts.length > 0, res: 1 };
  });
}

/** The hop from which an agent's replies stay lossy to the end, or null. */
export function lossStart(hops) {
  let start = null;
  for (let i = hops.length - 1; i >= 0; i -= 1) {
    if (hops[i].lossPct > 0) start = hops[i];
    else break;
  }
  return start;
}

/**
 * The merged graph of routes: routes = [{agent, hops}] in the table's order.
 * → {nodes: Map key → node, edges: [{from, to, agents}], layers, joins, divergences, losses}.
 * A node: {key, address, host, agents: [names], rtt: {agent: ms}, loss: {agent: pct},
 * hop: {agent: n}, layer, kind: "agent" | "hop" | "silent"}.
 */
export function mergeRoutes(routes) {
  const nodes = new Map();
  const edges = new Map();
  const node = (key, fields) => {
    if (!nodes.has(key)) nodes.set(key, { key, agents: [], rtt: {}, loss: {}, hop: {}, layer: 0, ...fields });
    return nodes.get(key);
  };
  const losses = [];
  routes.forEach(({ agent, hops }) => {
    let previous = node(`@${agent}`, { kind: "agent", address: null, host: agent });
    previous.agents.push(agent);
    const seen = new Set();
    const start = lossStart(hops);
    for (const hop of hops) {
      // A hop's address twice in one route (a loop) stays its own node: the graph stays acyclic.
      let key = hop.address && !seen.has(hop.address) ? hop.address : `*${agent}#${hop.n}`;
      if (hop.address) seen.add(hop.address);
      const current = node(key, { kind: hop.address || hop.host ? "hop" : "silent", address: hop.address, host: hop.host });
      if (!current.host && hop.host) current.host = hop.host;
      current.agents.push(agent);
      current.rtt[agent] = hop.rtt;
      current.loss[agent] = hop.lossPct;
      current.hop[agent] = hop.n;
      const edgeKey = `${previous.key}→${current.key}`;
      if (!edges.has(edgeKey)) edges.set(edgeKey, { from: previous.key, to: current.key, agents: [] });
      edges.get(edgeKey).agents.push(agent);
      previous = current;
      key = null;
    }
    if (start) losses.push({ agent, hop: start.n, key: start.address && nodes.has(start.address) ? start.address : `*${agent}#${start.n}`, lossPct: start.lossPct });
  });
  // Longest-path layers (bounded: the graph is acyclic by construction).
  const list = [...edges.values()];
  for (let round = 0; round < nodes.size; round += 1) {
    let moved = false;
    for (const edge of list) {
      const want = nodes.get(edge.from).layer + 1;
      if (nodes.get(edge.to).layer < want) { nodes.get(edge.to).layer = want; moved = true; }
    }
    if (!moved) break;
  }
  const layers = Math.max(0, ...[...nodes.values()].map((n) => n.layer)) + 1;
  // Where paths from different hops meet.
  const joins = [];
  for (const n of nodes.values()) {
    const into = list.filter((e) => e.to === n.key);
    if (n.kind !== "agent" && into.length > 1) joins.push({ key: n.key, groups: into.map((e) => e.agents) });
  }
  // Where paths that shared a hop go different ways next.
  const divergences = [];
  for (const n of nodes.values()) {
    if (n.kind === "agent" || n.agents.length < 2) continue;
    const out = list.filter((e) => e.from === n.key);
    if (out.length > 1 || (out.length === 1 && out[0].agents.length < n.agents.length)) {
      divergences.push({ key: n.key, groups: out.map((e) => e.agents) });
    }
  }
  return { nodes, edges: list, layers, divergences, joins, losses };
}

/** Hops shared by two or more agents, in route order: [{node, agents}]. */
export function sharedHops(graph) {
  return [...graph.nodes.values()].filter((n) => n.kind !== "agent" && n.agents.length > 1)
    .sort((a, b) => a.layer - b.layer);
}

/** A node's worst loss over its agents (0–100), or null when no agent measured it. */
export function worstLoss(node) {
  const values = Object.values(node.loss).filter((v) => typeof v === "number");
  return values.length ? Math.max(...values) : null;
}

/** A node's mean RTT over the agents that measured it, or null. */
export function meanRtt(node) {
  const values = Object.values(node.rtt).filter((v) => typeof v === "number");
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

/** The colour family of a loss: ok (none), warn (some), bad (all, or no reply). */
export function lossKind(loss) {
  if (loss === null || loss === undefined) return "muted";
  if (loss >= 100) return "bad";
  return loss > 0 ? "warn" : "ok";
}
