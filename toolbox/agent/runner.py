"""How the agent runs things: commands (no shell, time limit, output cap), tasks one at a
time, and waits.

The wire protocol (shared/legacy-agent.md, section 3) says a command is split
on whitespace and executed directly: no shell, so pipes, quotes and redirections do not
work. This module keeps that rule and adds what the legacy agent lacks:

- stdout and stderr are merged and read incrementally; at most ``output_cap`` bytes are
  kept, the rest is drained and dropped so the child never blocks on a full pipe;
- the command is killed (with its whole process group on POSIX) after ``timeout`` seconds;
- a missing program is reported as a result (exit code 127), never raised;
- each chunk read is handed to ``on_output`` as it comes (the agent streams it), and a
  ``stop`` event kills the process group at once (exit code 143, what it wrote kept).

Notes added to the output use the ``[toolbox-agent: ...]`` form so a reader can tell them
apart from the command's own output.

``TaskQueue`` is where the agent's fetch loop and its runner meet: tasks run strictly one
at a time, in the order they were handed out, and it tells the fetch loop when to stop
fetching (see its docstring).

The waiting helpers at the end (``Backoff``, ``wait_unless_stopped``,
``sleep_unless_stopped``) let the agent loop give up a wait as soon as it is told to stop.
"""

import asyncio
import collections
import os
import signal
import time
from typing import Any, Awaitable, Callable, NamedTuple, Optional, Tuple

__all__ = [
    "Backoff",
    "CommandResult",
    "TaskQueue",
    "run_command",
    "sleep_unless_stopped",
    "wait_unless_stopped",
    "NOT_FOUND_EXIT_CODE",
    "CANNOT_RUN_EXIT_CODE",
    "TIMEOUT_EXIT_CODE",
    "STOPPED_EXIT_CODE",
]

#: Exit code reported when the program does not exist (the shell's convention).
NOT_FOUND_EXIT_CODE = 127
#: Exit code reported when the program exists but cannot be started.
CANNOT_RUN_EXIT_CODE = 126
#: Exit code reported when the command was killed for running too long (as coreutils' timeout).
TIMEOUT_EXIT_CODE = 124
#: Exit code reported when the command was stopped on the server's request (128 + SIGTERM, as shells say).
STOPPED_EXIT_CODE = 143

_READ_CHUNK = 64 * 1024
# After a kill, how long to wait for the rest of the output still sitting in the pipe.
_DRAIN_AFTER_KILL_SECONDS = 1.0
_POSIX = os.name == "posix"


class CommandResult(NamedTuple):
    """What a command produced: decoded output, exit code and wall-clock time."""

    output: str
    exit_code: int
    duration_ms: int


class _CappedBuffer:
    """Keep the first ``cap`` bytes written to it; remember whether anything was dropped."""

    def __init__(self, cap: int, on_add: Optional[Callable[[bytes], None]] = None):
        self.cap = max(0, cap)
        self.data = bytearray()
        self.truncated = False
        self.on_add = on_add

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[: max(room, 0)]
        self.data += chunk
        if chunk and self.on_add is not None:
            self.on_add(chunk)


async def run_command(command: str, timeout: float, output_cap: int,
                      on_output: Optional[Callable[[bytes], None]] = None,
                      stop: Optional[asyncio.Event] = None) -> CommandResult:
    """Run ``command`` (split on whitespace, no shell) and return its result.

    ``on_output`` is called with each chunk as it is read (the kept output, capped);
    setting ``stop`` kills the command's process group and returns what it had written
    (exit code ``STOPPED_EXIT_CODE``, noted). Never raises for a failing or missing
    program; only cancellation propagates (and the child is killed first).
    """
    argv = command.split()
    started = time.monotonic()
    if not argv:
        return CommandResult("[toolbox-agent: empty command]", NOT_FOUND_EXIT_CODE, 0)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Own process group: a Ctrl-C aimed at the agent does not hit the command
            # (it is allowed to finish), and a timeout kill reaches its children too.
            start_new_session=_POSIX,
        )
    except FileNotFoundError:
        note = f"[toolbox-agent: command not found: {argv[0]}]"
        return CommandResult(note, NOT_FOUND_EXIT_CODE, _elapsed_ms(started))
    except PermissionError:
        note = f"[toolbox-agent: permission denied: {argv[0]}]"
        return CommandResult(note, CANNOT_RUN_EXIT_CODE, _elapsed_ms(started))
    except OSError as exc:
        note = f"[toolbox-agent: cannot run {argv[0]}: {exc.strerror or exc}]"
        return CommandResult(note, CANNOT_RUN_EXIT_CODE, _elapsed_ms(started))

    buffer = _CappedBuffer(output_cap, on_output)
    timed_out = stopped = False
    try:
        finished, _ = await wait_unless_stopped(
            asyncio.wait_for(_read_until_exit(proc, buffer), timeout), stop or asyncio.Event())
        if not finished:
            stopped = True
            await _kill_and_reap(proc)
            await _drain_briefly(proc, buffer)
    except asyncio.TimeoutError:
        timed_out = True
        await _kill_and_reap(proc)
        await _drain_briefly(proc, buffer)
    except asyncio.CancelledError:
        await _kill_and_reap(proc)
        raise

    exit_code = (TIMEOUT_EXIT_CODE if timed_out else STOPPED_EXIT_CODE if stopped
                 else _exit_code(proc.returncode))
    notes = []
    if buffer.truncated:
        notes.append(f"[toolbox-agent: output truncated at {buffer.cap} bytes]")
    if timed_out:
        notes.append(f"[toolbox-agent: command timed out after {timeout:g}s]")
    if stopped:
        notes.append("[toolbox-agent: command stopped on request]")
    output = _with_notes(buffer.data.decode("utf-8", errors="replace"), notes)
    return CommandResult(output, exit_code, _elapsed_ms(started))


async def _read_until_exit(proc: asyncio.subprocess.Process, buffer: _CappedBuffer) -> None:
    """Read the merged output to EOF, then wait for the process to exit."""
    await _read_to_eof(proc, buffer)
    await proc.wait()


async def _read_to_eof(proc: asyncio.subprocess.Process, buffer: _CappedBuffer) -> None:
    """Copy the child's output into ``buffer`` until the pipe closes."""
    assert proc.stdout is not None
    while True:
        chunk = await proc.stdout.read(_READ_CHUNK)
        if not chunk:
            return
        buffer.add(chunk)


async def _drain_briefly(proc: asyncio.subprocess.Process, buffer: _CappedBuffer) -> None:
    """Collect output still in the pipe after a kill, without waiting for long."""
    try:
        await asyncio.wait_for(_read_to_eof(proc, buffer), _DRAIN_AFTER_KILL_SECONDS)
    except asyncio.TimeoutError:
        pass


async def _kill_and_reap(proc: asyncio.subprocess.Process) -> None:
    """Kill the child (and its process group on POSIX) and wait for it to exit."""
    try:
        if _POSIX:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:  # already gone
        pass
    await proc.wait()


def _exit_code(returncode: Optional[int]) -> int:
    """Map a process return code to the reported exit code."""
    return -1 if returncode is None else returncode


def _with_notes(output: str, notes: list) -> str:
    """Append the agent's notes to ``output``, each on its own line."""
    if not notes:
        return output
    if output and not output.endswith("\n"):
        output += "\n"
    return output + "\n".join(notes)


def _elapsed_ms(started: float) -> int:
    """Milliseconds since ``started`` (a ``time.monotonic()`` value)."""
    return int((time.monotonic() - started) * 1000)


# --- Tasks one at a time: where the fetch loop and the runner meet ---

class TaskQueue:
    """Tasks handed out and not yet run, taken one at a time in the order they came.

    The fetch loop ``put``s every task the server hands out (also one that arrives while
    another runs: it is queued, never dropped, never run alongside). The runner ``take``s
    the next one and calls ``done`` when its command has ended (before posting the result,
    so the fetch stays parked meanwhile and the next task can already arrive).

    ``stop()`` asks for an end without dropping anything: from then on ``fetching_over`` is
    set whenever no task is queued or running. The fetch loop gives up (and closes) its
    fetch when it is set; the runner, before posting the last result, waits for
    ``fetch_closed`` so the server sees no open fetch when it stores that result and cannot
    hand out another task to an agent that is leaving. ``fetching_ended()`` (the fetch loop
    is over) makes ``take`` return None once the queue is empty.
    """

    def __init__(self):
        self._tasks = collections.deque()
        self.running: Any = None
        self.stopping = False
        self.fetching_over = asyncio.Event()
        self.fetch_closed = asyncio.Event()  # no fetch open right now
        self.fetch_closed.set()
        self._ended = False
        self._changed = asyncio.Event()

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing running."""
        return not self._tasks and self.running is None

    def put(self, task: Any) -> None:
        """Queue a task handed out by the server (it runs after those queued before it)."""
        self._tasks.append(task)
        self._update()

    async def take(self) -> Any:
        """The next task (now running), waiting for one; None once fetching has ended."""
        while not self._tasks:
            if self._ended:
                return None
            self._changed.clear()
            await self._changed.wait()
        self.running = self._tasks.popleft()
        self._update()
        return self.running

    def done(self) -> None:
        """The running task's command has ended."""
        self.running = None
        self._update()

    def stop(self) -> None:
        """Finish what was handed out, then let the fetch loop end."""
        self.stopping = True
        self._update()

    def fetching_ended(self) -> None:
        """The fetch loop is over: no task will be added any more."""
        self._ended = True
        self._changed.set()

    def _update(self) -> None:
        if self.stopping and self.idle:
            self.fetching_over.set()
        else:
            self.fetching_over.clear()
        self._changed.set()


# --- Waiting: backoff and stop-aware waits ---

class Backoff:
    """Exponential delays: ``start``, doubling on each call, never above ``cap``."""

    def __init__(self, start: float = 0.5, cap: float = 30.0):
        self.start = start
        self.cap = cap
        self._next = start

    def next(self) -> float:
        """Return the delay to wait now and double the following one."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        """Start again from the shortest delay (after a success)."""
        self._next = self.start


async def wait_unless_stopped(awaitable: Awaitable, stop: asyncio.Event) -> Tuple[bool, object]:
    """Await ``awaitable`` unless ``stop`` is set first (then cancel it).

    Returns ``(True, result)`` or ``(False, None)``. A result that arrives together with
    the stop request wins, so a task already handed out is not dropped.
    """
    work = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (work, stopper):
            pending.cancel()
        await asyncio.gather(work, stopper, return_exceptions=True)
    if work.cancelled():
        return False, None
    return True, work.result()


async def sleep_unless_stopped(delay: float, stop: Optional[asyncio.Event]) -> bool:
    """Sleep ``delay`` seconds; return True early if ``stop`` gets set."""
    if stop is None:
        await asyncio.sleep(delay)
        return False
    finished, _ = await wait_unless_stopped(asyncio.sleep(delay), stop)
    return not finished or stop.is_set()
