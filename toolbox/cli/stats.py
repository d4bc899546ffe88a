"""Running statistics per agent over repeated runs (``--watch``, ``--repeat N``).

Each run adds every task of the job: how many runs an agent answered ok, its last
summary, and the tool's headline number (the one the console charts per agent) as
last, min, average and max over the runs that answered.
"""

from dataclasses import dataclass, field
from typing import Any, Callable

Metric = Callable[[dict[str, Any]], Any]


def _last_hop_avg(parsed: dict[str, Any]) -> Any:
    hops = parsed.get("hops") or []
    if not hops:
        return None
    hop = hops[-1]
    if "avg_ms" in hop:
        return hop.get("avg_ms")
    rtts = [r for r in hop.get("rtt_ms") or [] if isinstance(r, (int, float))]
    return sum(rtts) / len(rtts) if rtts else None


#: tool → (what the number is, how to read it from ``parsed``); as static/js/results.js charts.
METRICS: dict[str, tuple[str, Metric]] = {
    "ping": ("rtt avg", lambda p: p.get("rtt_avg_ms")),
    "traceroute": ("last hop", _last_hop_avg),
    "mtr": ("final hop avg", _last_hop_avg),
    "dig": ("query time", lambda p: p.get("query_time_ms")),
    "curl": ("total", lambda p: p.get("total_ms")),
    "tcp": ("connect", lambda p: p.get("connect_ms")),
}

ANSWERED = ("ok", "partial")  # outcomes whose numbers mean something


def task_outcome(task: dict[str, Any]) -> str:
    """A finished task's outcome (``ok``, ``partial``, ``failed``), else its state."""
    if task.get("state") == "done":
        return task.get("outcome") or "failed"
    return task.get("state") or "unknown"


@dataclass
class AgentStats:
    """One agent's figures over the runs so far."""

    runs: int = 0
    ok: int = 0
    last_outcome: str = ""
    last_summary: str = ""
    values: list[float] = field(default_factory=list)

    def line(self) -> dict[str, str]:
        """The figures as text, by column."""
        numbers = self.values
        fmt = (lambda v: f"{v:.2f}") if numbers else (lambda v: "-")
        return {"runs": str(self.runs), "ok": f"{self.ok}/{self.runs}", "last": self.last_outcome,
                "min": fmt(min(numbers)) if numbers else "-", "avg": fmt(sum(numbers) / len(numbers)) if numbers else "-",
                "max": fmt(max(numbers)) if numbers else "-", "summary": self.last_summary}


class RunningStats:
    """Per-agent statistics of one tool's repeated jobs."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.metric_name, self.metric = METRICS.get(tool, ("", lambda p: None))
        self.agents: dict[str, AgentStats] = {}
        self.runs = 0

    def add(self, job: dict[str, Any]) -> None:
        """Count one finished job's tasks."""
        self.runs += 1
        for task in job.get("tasks") or []:
            stats = self.agents.setdefault(task["agent"], AgentStats())
            outcome = task_outcome(task)
            stats.runs += 1
            stats.ok += outcome == "ok"
            stats.last_outcome = outcome
            stats.last_summary = task.get("summary") or task.get("reason") or ""
            parsed = task.get("parsed")
            if outcome in ANSWERED and isinstance(parsed, dict):
                value = self.metric(parsed)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    stats.values.append(float(value))

    def rows(self) -> list[tuple[str, dict[str, str]]]:
        """``(agent, figures)`` in agent order."""
        return [(name, self.agents[name].line()) for name in sorted(self.agents)]

    def lines(self) -> list[str]:
        """The statistics as plain lines (``--ci``)."""
        unit = f" ({self.metric_name}, ms)" if self.metric_name else ""
        out = [f"After {self.runs} run{'s' if self.runs != 1 else ''}{unit}:"]
        for name, row in self.rows():
            out.append(f"  {name}  ok {row['ok']}  min {row['min']}  avg {row['avg']}  max {row['max']}"
                       f"  last {row['last']}")
        return out
