"""What ``tbx`` shows of a job: the live table, plain CI lines, the summary, the exit code.

The live table (``rich``) has one row per task, in the job's order, each one line high
(long summaries are cut with an ellipsis) and columns of fixed widths: redrawn in
place, it keeps its height and its columns, so nothing jumps as tasks finish.  The CI
lines are plain text without colour or cursor movement: one line per task as it ends.
"""

from typing import Any

from rich.table import Table
from rich.text import Text

from toolbox.cli.stats import RunningStats, task_outcome

FINISHED = ("done", "canceled", "delivery_timeout", "lost")
STYLES = {"ok": "green", "partial": "yellow", "failed": "red", "lost": "red", "delivery_timeout": "red",
          "canceled": "magenta", "queued": "dim", "dispatched": "cyan"}
SHOWN_STATE = {"queued": "queued", "dispatched": "running"}
STATUS_WIDTH = 16
TIME_WIDTH = 8


def task_status(task: dict[str, Any]) -> str:
    """A task's status word: its outcome once finished, else queued or running."""
    state = task.get("state", "")
    return SHOWN_STATE.get(state) or task_outcome(task)


def task_text(task: dict[str, Any]) -> str:
    """A task's one-line summary (or why it ended without a result)."""
    if task.get("state") not in FINISHED:
        return ""
    return " ".join(str(task.get("summary") or task.get("reason") or task.get("state") or "").split())


def duration(task: dict[str, Any]) -> str:
    """The task's run time in seconds, or empty."""
    ms = task.get("duration_ms")
    return "" if ms is None else f"{ms / 1000:.1f}s"


def job_ended(job: dict[str, Any]) -> bool:
    """Whether the job is over: not running and every task finished."""
    return job.get("state") != "running" and all(t.get("state") in FINISHED for t in job.get("tasks") or [])


def exit_code(jobs: list[dict[str, Any]]) -> int:
    """0 when every task of every job is ok, else 1 (failed, partial, lost, timed out, canceled)."""
    for job in jobs:
        tasks = job.get("tasks") or []
        if not tasks or job.get("state") == "canceled":
            return 1
        if any(task_outcome(t) != "ok" for t in tasks):
            return 1
    return 0


def _agent_width(job: dict[str, Any]) -> int:
    return max([5] + [len(t.get("agent", "")) for t in job.get("tasks") or []])


def live_table(job: dict[str, Any], width: int, stats: RunningStats | None = None) -> Table:
    """The job's table for a terminal ``width`` wide (with running statistics when given)."""
    agent_width = _agent_width(job)
    title = f"Job #{job['job_id']}  {job['tool']} {job.get('full_target') or job['target']}  {job.get('summary') or ''}"
    table = Table(title=Text(title[:max(10, width - 1)], no_wrap=True, overflow="ellipsis"), title_justify="left",
                  box=None, expand=False, show_edge=False, pad_edge=False)
    table.add_column("agent", width=agent_width, no_wrap=True, overflow="ellipsis")
    table.add_column("status", width=STATUS_WIDTH, no_wrap=True)
    table.add_column("time", width=TIME_WIDTH, no_wrap=True, justify="right")
    used = agent_width + STATUS_WIDTH + TIME_WIDTH + 6
    if stats is not None:
        for name in ("ok", "min", "avg", "max"):
            table.add_column(name, width=9, no_wrap=True, justify="right")
        used += 4 * 11
    table.add_column("summary", width=max(10, width - used - 2), no_wrap=True, overflow="ellipsis")
    figures = dict(stats.rows()) if stats is not None else {}
    for task in job.get("tasks") or []:
        status = task_status(task)
        cells: list[Any] = [task["agent"], Text(status, style=STYLES.get(status, "")), duration(task)]
        if stats is not None:
            row = figures.get(task["agent"], {})
            cells += [row.get(key, "-") for key in ("ok", "min", "avg", "max")]
        cells.append(task_text(task))
        table.add_row(*cells)
    return table


def ci_line(task: dict[str, Any], agent_width: int = 0) -> str:
    """One plain line for a finished task: agent, outcome, time, summary."""
    return f"{task['agent']:<{agent_width}}  {task_status(task):<{STATUS_WIDTH}}  {duration(task):>{TIME_WIDTH}}  " \
           f"{task_text(task)}".rstrip()


def ci_width(job: dict[str, Any]) -> int:
    """The width of the agent column in CI lines."""
    return _agent_width(job)


def header_line(job: dict[str, Any]) -> str:
    """The first plain line of a job: its number, tool, target and agents."""
    agents = ", ".join(job.get("agents") or [])
    return f"Job #{job['job_id']}: {job['tool']} {job.get('full_target') or job['target']} from {agents}"


def summary_lines(job: dict[str, Any]) -> list[str]:
    """The job's closing lines: its summary, skipped and offline agents."""
    lines = [f"Job #{job['job_id']} {job.get('state')}: {job.get('summary') or ''}".rstrip()]
    for skipped in job.get("skipped") or []:
        lines.append(f"  skipped {skipped.get('agent')}: {skipped.get('reason')}")
    if job.get("offline_agents"):
        lines.append("  offline when it started: " + ", ".join(job["offline_agents"]))
    return lines


def share_link(url: str, job_id: int) -> str:
    """The console's page of the job."""
    return f"{url}/#/jobs/{job_id}"
