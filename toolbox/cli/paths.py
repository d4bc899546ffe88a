"""Traceroute and mtr routes as text: each agent's hops, the hops they share, where they part.

The same reading of the server's ``parsed`` hops as the console's path view
(``static/js/detail/route.js``): hops are keyed by address (a hop that did not answer
is its own), a hop two or more agents pass is shared, paths that shared a hop and then
go different ways diverge after it, and an agent's loss "starts" at the first hop from
which every later hop lost replies.
"""

from dataclasses import dataclass, field
from typing import Any

PROBES = 3  # traceroute's default probes per hop


@dataclass
class Hop:
    """One hop of one agent's route, in one shape for traceroute and mtr."""

    n: int
    address: str | None
    host: str | None
    rtt: float | None
    loss_pct: float


@dataclass
class Node:
    """A hop of the merged routes: the agents through it, in route order."""

    key: str
    address: str | None
    host: str | None
    agents: list[str] = field(default_factory=list)
    layer: int = 0

    @property
    def label(self) -> str:
        return self.address or self.host or "*"


def normal_hops(parsed: dict[str, Any] | None) -> list[Hop]:
    """An agent's hops from its ``parsed`` result (traceroute's ``rtt_ms`` lists or mtr's figures)."""
    hops = []
    for hop in (parsed or {}).get("hops") or []:
        address, host = hop.get("address") or None, hop.get("host") or None
        if "loss_pct" in hop:  # mtr
            loss = float(hop.get("loss_pct") or 0)
            replied = bool(address or host) and loss < 100
            hops.append(Hop(hop.get("hop", 0), address, host, hop.get("avg_ms") if replied else None, loss))
        else:
            rtts = [r for r in hop.get("rtt_ms") or [] if isinstance(r, (int, float))]
            probes = max(PROBES, len(rtts))
            rtt = sum(rtts) / len(rtts) if rtts else None
            hops.append(Hop(hop.get("hop", 0), address, host, rtt, round(100 * (probes - len(rtts)) / probes)))
    return hops


def loss_start(hops: list[Hop]) -> Hop | None:
    """The hop from which the route stays lossy to its end, or None."""
    start = None
    for hop in reversed(hops):
        if hop.loss_pct > 0:
            start = hop
        else:
            break
    return start


def _merge(routes: list[tuple[str, list[Hop]]]) -> tuple[dict[str, Node], dict[tuple[str, str], list[str]]]:
    """Nodes by key and edges ``(from, to) → agents`` of the merged routes."""
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str], list[str]] = {}
    for agent, hops in routes:
        previous = f"@{agent}"
        nodes.setdefault(previous, Node(previous, None, agent)).agents.append(agent)
        seen: set[str] = set()
        for hop in hops:
            key = hop.address if hop.address and hop.address not in seen else f"*{agent}#{hop.n}"
            if hop.address:
                seen.add(hop.address)
            node = nodes.setdefault(key, Node(key, hop.address, hop.host))
            node.host = node.host or hop.host
            node.agents.append(agent)
            edges.setdefault((previous, key), []).append(agent)
            previous = key
    for _ in range(len(nodes)):  # longest-path layers; the graph is acyclic by construction
        moved = False
        for src, dst in edges:
            if nodes[dst].layer < nodes[src].layer + 1:
                nodes[dst].layer = nodes[src].layer + 1
                moved = True
        if not moved:
            break
    return nodes, edges


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def path_lines(tasks: list[dict[str, Any]]) -> list[str]:
    """The path view as lines of text, from a job's finished traceroute or mtr tasks."""
    routes = [(t["agent"], normal_hops(t.get("parsed"))) for t in tasks
              if t.get("state") == "done" and t.get("parsed")]
    routes = [(agent, hops) for agent, hops in routes if hops]
    if not routes:
        return []
    lines = ["Paths:"]
    for agent, hops in routes:
        lines.append(f"  {agent}")
        for hop in hops:
            name = hop.address or "*"
            if hop.host and hop.host != hop.address:
                name += f" ({hop.host})"
            lines.append(f"    {hop.n:>2}  {name:<40} {_ms(hop.rtt):>11}  {hop.loss_pct:>3.0f}% loss")
    nodes, edges = _merge(routes)
    shared = sorted((n for n in nodes.values() if not n.key.startswith("@") and len(n.agents) > 1),
                    key=lambda n: n.layer)
    if len(routes) > 1:
        if shared:
            lines.append("  Shared hops: " + "; ".join(f"{n.label} ({', '.join(n.agents)})" for n in shared) + ".")
        else:
            lines.append("  No hop is shared: every agent takes its own way.")
    for node in shared:
        out = [agents for (src, _), agents in edges.items() if src == node.key]
        if len(out) > 1 or (len(out) == 1 and len(out[0]) < len(node.agents)):
            ends = " / ends there" if sum(len(g) for g in out) < len(node.agents) else ""
            lines.append(f"  Paths diverge after {node.label}: " + " / ".join(" and ".join(g) for g in out) + ends + ".")
    for node in nodes.values():
        into = [agents for (_, dst), agents in edges.items() if dst == node.key]
        if not node.key.startswith("@") and len(into) > 1:
            lines.append(f"  Paths join at {node.label}: " + " + ".join(" and ".join(g) for g in into) + ".")
    for agent, hops in routes:
        start = loss_start(hops)
        if start is not None:
            where = start.address or "a hop that did not answer"
            lines.append(f"  {agent}: loss starts at hop {start.n} ({where}, {start.loss_pct:.0f}%) and lasts to the end.")
    return lines
