"""Running a tool: start the job, follow it until it ends, show it, and say how it went.

``run`` starts one job (or, with ``--repeat``/``--watch``, one after another on the
agents the first one chose), polls ``GET /api/jobs/{id}`` until the job has ended and
hands every state to a display: the live table in a terminal, plain lines in CI,
the job document (``--json``) or the job's CSV export (``--csv``).  Ctrl-C stops
waiting and leaves the job running (it says how to follow it), unless
``cancel_on_exit``; the exit code is then 130.
"""

import json
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from toolbox.cli import views
from toolbox.cli.client import CliError, Client
from toolbox.cli.paths import path_lines
from toolbox.cli.stats import RunningStats

POLL_SECONDS = 0.5
MAX_RETRY_WAIT = 60.0  # the longest a repeated run waits on a 429 before trying again
INTERRUPTED = 130
PATH_TOOLS = ("traceroute", "mtr")


@dataclass(frozen=True)
class RunOptions:
    """What to run and how to show it."""

    tool: str
    params: dict[str, Any]
    selection: dict[str, Any]  # {"agents": [...]}, {"tags": [...], "tags_match"?}, or {"all": True}
    mode: str  # "live", "ci", "json" or "csv"
    share: bool = False
    runs: int | None = 1  # None: until interrupted (--watch)
    interval: float = 2.0
    cancel_on_exit: bool = False


class Display:
    """Plain lines (``--ci``): a header, a line per task as it ends, then the summary."""

    def __init__(self, client: Client, options: RunOptions, out: TextIO, err: TextIO) -> None:
        self.client, self.options, self.out, self.err = client, options, out, err
        self.printed: set[int] = set()
        self.run = 0

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def start(self, job: dict[str, Any]) -> None:
        self.run += 1
        self.printed = set()
        self.say(views.header_line(job))

    def update(self, job: dict[str, Any], stats: RunningStats | None) -> None:
        width = views.ci_width(job)
        for task in job.get("tasks") or []:
            if task.get("state") in views.FINISHED and task["task_id"] not in self.printed:
                self.printed.add(task["task_id"])
                self.say(views.ci_line(task, width))

    def finish(self, job: dict[str, Any], stats: RunningStats | None) -> None:
        self.update(job, stats)
        for line in views.summary_lines(job) + self.details(job):
            self.say(line)
        if stats is not None:
            for line in stats.lines():
                self.say(line)
        if self.options.share:
            self.say(views.share_link(self.client.url, job["job_id"]))

    def details(self, job: dict[str, Any]) -> list[str]:
        return path_lines(job.get("tasks") or []) if job["tool"] in PATH_TOOLS else []

    def close(self) -> None:
        """Leave the terminal as it was (the live view restores its cursor)."""


class LiveDisplay(Display):
    """The live table, redrawn in place as tasks move; the summary printed under it at the end."""

    def __init__(self, client: Client, options: RunOptions, out: TextIO, err: TextIO) -> None:
        super().__init__(client, options, out, err)
        self.console = Console(file=out, highlight=False)
        self.live: Live | None = None
        self.shown: Any = None  # what the table last showed: redrawn only when it changes

    def start(self, job: dict[str, Any]) -> None:
        self.run += 1
        if self.live is None:
            self.live = Live(console=self.console, auto_refresh=False, transient=False)
            self.live.start()

    def render(self, job: dict[str, Any], stats: RunningStats | None, note: str = "") -> None:
        run = f"run {self.run}" + (f" of {self.options.runs}" if self.options.runs else "") + ": " \
            if stats is not None else ""
        footer = note or f"{run}waiting (Ctrl-C stops waiting{'' if self.options.cancel_on_exit else ', not the job'})"
        seen = (job.get("job_id"), job.get("summary"), footer, self.console.width,
                [(t.get("state"), t.get("outcome"), t.get("summary")) for t in job.get("tasks") or []])
        if seen == self.shown:
            return
        self.shown = seen
        table = views.live_table(job, self.console.width, stats)
        assert self.live is not None
        self.live.update(Group(table, Text(footer, no_wrap=True, overflow="ellipsis")), refresh=True)

    def update(self, job: dict[str, Any], stats: RunningStats | None) -> None:
        self.render(job, stats)

    def finish(self, job: dict[str, Any], stats: RunningStats | None) -> None:
        last = stats is None or (self.options.runs is not None and self.run >= self.options.runs)
        self.render(job, stats, " ".join(views.summary_lines(job)[:1]) if last else "")
        if last:
            self.close()
            for line in views.summary_lines(job)[1:] + self.details(job):
                self.console.print(Text(line))
            if self.options.share:
                self.console.print(Text(views.share_link(self.client.url, job["job_id"])))

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


class JsonDisplay(Display):
    """``--json``: the finished job document and nothing else (one compact line per run when repeating)."""

    def start(self, job: dict[str, Any]) -> None:
        self.run += 1

    def update(self, job: dict[str, Any], stats: RunningStats | None) -> None:
        pass

    def finish(self, job: dict[str, Any], stats: RunningStats | None) -> None:
        repeating = self.options.runs != 1
        self.say(json.dumps(job, separators=(",", ":")) if repeating else json.dumps(job, indent=2))
        if self.options.share:
            print(views.share_link(self.client.url, job["job_id"]), file=self.err, flush=True)


class CsvDisplay(JsonDisplay):
    """``--csv``: the server's CSV export of each finished job (the header once)."""

    def finish(self, job: dict[str, Any], stats: RunningStats | None) -> None:
        text = self.client.request("GET", f"/api/jobs/{job['job_id']}/export", query={"format": "csv"},
                                   want_text=True)
        lines = text.splitlines()
        for line in lines if self.run == 1 else lines[1:]:
            self.say(line)
        if self.options.share:
            print(views.share_link(self.client.url, job["job_id"]), file=self.err, flush=True)


DISPLAYS = {"ci": Display, "live": LiveDisplay, "json": JsonDisplay, "csv": CsvDisplay}


def start_job(client: Client, options: RunOptions, selection: dict[str, Any], patient: bool) -> dict[str, Any]:
    """``POST /api/jobs``; a repeated run (``patient``) waits out a 429 instead of failing."""
    body = {"tool": options.tool, "params": options.params, **selection}
    while True:
        try:
            return client.post("/api/jobs", body)
        except CliError as error:
            if not (patient and error.status == 429):
                raise
            time.sleep(min(MAX_RETRY_WAIT, error.retry_after or options.interval))


def follow(client: Client, job: dict[str, Any], display: Display, stats: RunningStats | None) -> dict[str, Any]:
    """Poll the job until it has ended, showing each state; the final document."""
    job = client.get(f"/api/jobs/{job['job_id']}")
    while not views.job_ended(job):
        display.update(job, stats)
        time.sleep(POLL_SECONDS)
        job = client.get(f"/api/jobs/{job['job_id']}")
    return job


def run(client: Client, options: RunOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the tool as asked; the exit code (0 all ok, 1 any task not ok, 130 interrupted)."""
    out, err = out or sys.stdout, err or sys.stderr
    display = DISPLAYS[options.mode](client, options, out, err)
    stats = RunningStats(options.tool) if options.runs != 1 else None
    selection, failed, done, current = options.selection, False, 0, None
    try:
        while options.runs is None or done < options.runs:
            if done:
                time.sleep(options.interval)
            job = start_job(client, options, selection, patient=done > 0)
            current = job["job_id"]
            selection = {"agents": job["agents"]}  # the next runs: the same agents
            display.start(job)
            job = follow(client, job, display, stats)
            current = None
            if stats is not None:
                stats.add(job)
            failed = failed or views.exit_code([job]) != 0
            done += 1
            display.finish(job, stats)
    except KeyboardInterrupt:
        display.close()
        if current is None:
            print(f"tbx: stopped after {done} run{'s' if done != 1 else ''}", file=err, flush=True)
        elif options.cancel_on_exit:
            try:
                client.post(f"/api/jobs/{current}/cancel")
                print(f"tbx: stopped; job {current} canceled", file=err, flush=True)
            except CliError as error:
                print(f"tbx: stopped; job {current} not canceled: {error}", file=err, flush=True)
        else:
            print(f"tbx: stopped waiting; job {current} keeps running: follow it with `tbx jobs show {current}` "
                  f"or {views.share_link(client.url, current)}", file=err, flush=True)
        return INTERRUPTED
    finally:
        display.close()
    return 1 if failed else 0
