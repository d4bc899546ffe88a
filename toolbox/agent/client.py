"""toolbox-agent: the reference agent that runs toolBox tasks on a machine.

It speaks the legacy Go agent's wire protocol (docs: legacy-agent.md), and does better:

- exactly one long-poll (``GET /agent/task``) is open at a time, also while a command runs,
  so a long run never looks like a dead agent. A task handed out meanwhile is queued:
  tasks run strictly one at a time, in the order received, each result to its own id;
- time limit: the ``timeout`` (seconds) the server sends with a task, if it is a positive
  number; otherwise ``--command-timeout`` (default 60; a malformed ``timeout`` is logged
  and ignored). A killed command is reported with exit code 124;
- 403 (disabled) on registration or fetch pauses it: it asks again every 30 s and carries
  on once answered 200; 401 (wrong name or token) stops it with exit code 2;
- an unreachable server is retried with exponential backoff (0.5 s doubling, capped at 30 s);
- results are proper JSON, sent with ``Authorization: Bearer TOKEN``, and re-sent for up to
  ten minutes while the server is unreachable;
- while a command runs, its output so far (the last ``STREAM_TAIL_BYTES``) is posted to
  ``POST /agent/task/output`` at most every ``stream_interval`` seconds (0.25), only
  when it grew: a toolbox-agent extension the field agent never uses (a server without
  it answers 404 and the agent stops streaming that task);
- a task stopped on the server (its job canceled while it runs) is named in the answer
  to the parked fetch (``stop``: ids) or to an output post (``stop: true``): the agent
  kills the command's process group and posts what it had (exit code 143);
- SIGTERM/SIGINT: a running command finishes and is posted, and so is a task already
  handed out; the fetch is closed before the last result is posted, so nothing more is
  handed to a leaving agent. Idle or paused, it stops at once; a second signal quits now.

Each request has a connection of its own, closed as soon as the agent gives the request up
(:mod:`toolbox.agent.http`).  Commands, the one-at-a-time ``TaskQueue``, backoff and waits
live in :mod:`toolbox.agent.runner`; the command line in :mod:`toolbox.agent.cli`. Usage::

    toolbox-agent --server http://toolbox.example:8000 --name lab-1 --token SECRET
"""

import asyncio
import json
import logging
import math
import urllib.parse
from typing import NamedTuple, Optional, Tuple, cast

from tornado.tcpclient import TCPClient

from toolbox.agent.http import Reply, TransientError, error_suffix, is_retryable, request
from toolbox.agent.runner import (
    Backoff, TaskQueue, run_command, sleep_unless_stopped, wait_unless_stopped)

__all__ = ["Agent", "AgentDisabled", "AgentError", "AgentTask", "Backoff", "TransientError"]

log = logging.getLogger(__name__)

POLL_TIMEOUT = 90.0  # seconds; above the server's long-poll park time
REQUEST_TIMEOUT = 30.0  # seconds; registration and result posts
POST_RETRY_WINDOW = 600.0  # keep re-sending one result for about ten minutes
PAUSE_INTERVAL = 30.0  # seconds between asks while the server has the agent disabled
BUSY_PAUSE_INTERVAL = 4.0  # the same while a command runs (it must not look offline)
EXIT_OK, EXIT_FORCED, EXIT_CONFIG = 0, 1, 2
STREAM_INTERVAL = 0.25  # seconds between output posts of a running command (at most)
STREAM_TAIL_BYTES = 16 * 1024  # the server keeps this much of a running task's output


class AgentError(Exception):
    """A condition the agent cannot recover from; ``exit_code`` is what main() returns."""

    def __init__(self, message: str, exit_code: int = EXIT_CONFIG):
        super().__init__(message)
        self.exit_code = exit_code


class AgentDisabled(AgentError):
    """403: the server knows the agent but has disabled it (the agent pauses and asks again)."""


class AgentTask(NamedTuple):
    """One task handed out by ``GET /agent/task``; ``timeout``: the server's bound, seconds."""

    task_id: int
    command: str
    timeout: Optional[float] = None


class Agent:
    """A toolBox agent: registers, long-polls for tasks, runs them and posts results."""

    def __init__(
        self,
        server: str,
        name: str,
        token: str,
        command_timeout: float = 60.0,
        output_cap: int = 1048576,
        *,
        poll_timeout: float = POLL_TIMEOUT,
        backoff_start: float = 0.5,
        backoff_cap: float = 30.0,
        post_retry_window: float = POST_RETRY_WINDOW,
        pause_interval: float = PAUSE_INTERVAL,
        stream_interval: float = STREAM_INTERVAL,
    ):
        self.stream_interval = stream_interval
        # the running task's id and the event that stops its command (set by a stop request)
        self._running: Optional[Tuple[int, asyncio.Event]] = None
        self.server = server.rstrip("/")
        self.name = name
        self.token = token
        self.command_timeout = command_timeout
        self.output_cap = output_cap
        self.poll_timeout = poll_timeout
        self.backoff_start = backoff_start
        self.backoff_cap = backoff_cap
        self.post_retry_window = post_retry_window
        self.pause_interval = pause_interval
        self._tcp: Optional[TCPClient] = None
        self._paused = False

    # --- Protocol steps ---

    async def register(self, stop_event: Optional[asyncio.Event] = None) -> bool:
        """Register with ``POST /agent/new``, retrying while the server is unreachable.

        A 403 (disabled) pauses: it asks again every ``pause_interval`` seconds. Returns
        True once registered, False if ``stop_event`` was set first. Raises AgentError on
        401 (wrong name/token) or another 4xx.
        """
        stop = stop_event if stop_event is not None else asyncio.Event()
        backoff = self._backoff()
        body = {"name": self.name, "token": self.token}
        while not stop.is_set():
            try:
                finished, response = await wait_unless_stopped(
                    self._request("POST", "/agent/new", body, REQUEST_TIMEOUT), stop)
                if not finished:
                    break
                response = cast(Reply, response)
                if response.code == 200:
                    self._resume()
                    log.info("registered as %s at %s", self.name, self.server)
                    return True
                self._raise_for_status(response, "registration")
            except AgentDisabled:
                self._pause()
                delay = self.pause_interval
            except TransientError as exc:
                delay = backoff.next()
                log.warning("%s; retrying in %gs", exc, delay)
            await sleep_unless_stopped(delay, stop)
        return False

    async def fetch_task(self) -> Optional[AgentTask]:
        """Long-poll ``GET /agent/task`` once; return the task, or None if there is none.

        Raises AgentDisabled on 403, AgentError on 401 and TransientError on anything worth
        retrying. Cancelling it closes the fetch's connection.
        """
        query = urllib.parse.urlencode({"agent_name": self.name})
        response = await self._request("GET", "/agent/task?" + query, None, self.poll_timeout)
        if response.code != 200:
            self._raise_for_status(response, "task fetch")
        try:
            reply = json.loads(response.body or b"null")
            task_id = int(reply.get("task_id") or 0)
            command = reply.get("command") or ""
        except (ValueError, TypeError, AttributeError) as exc:
            raise TransientError(f"server {self.server} sent an unreadable task: {exc}")
        if task_id == 0:
            stops = reply.get("stop")
            if isinstance(stops, list):
                for stop_id in stops:
                    self._stop_requested(stop_id)
        if task_id == 0 or not isinstance(command, str) or not command.strip():
            return None
        return AgentTask(task_id, command, _task_timeout(task_id, reply.get("timeout")))

    async def run_command(self, command: str, timeout: Optional[float] = None,
                          task_id: Optional[int] = None) -> Tuple[str, int, int]:
        """Run ``command`` without a shell; return ``(output, exit_code, duration_ms)``.

        It is killed after ``timeout`` seconds (default: ``command_timeout``). With a
        ``task_id``, its output is streamed to the server while it runs and a stop
        request for that task kills it.
        """
        limit = self.command_timeout if timeout is None else timeout
        if task_id is None:
            output, exit_code, duration_ms = await run_command(command, limit, self.output_cap)
            return output, exit_code, duration_ms
        stop, stream = asyncio.Event(), _OutputStream()
        stream.grown.set()  # a first post at once: a stop that came before the start is heard
        self._running = (task_id, stop)
        streamer = asyncio.ensure_future(self._stream_output(task_id, stream, stop))
        try:
            output, exit_code, duration_ms = await run_command(
                command, limit, self.output_cap, stream.add, stop)
        finally:
            self._running = None
            stream.close()  # ends the streamer even if the cancel below is swallowed
            streamer.cancel()  # (asyncio.wait_for before 3.12 may swallow it: bpo-37658)
            await asyncio.gather(streamer, return_exceptions=True)
        return output, exit_code, duration_ms

    def _stop_requested(self, task_id: object) -> None:
        """The server asks to stop ``task_id``: kill its command if it is the one running."""
        running = self._running
        if running is not None and running[0] == task_id and not running[1].is_set():
            log.info("task %d: stop requested by the server; killing the command", task_id)
            running[1].set()

    async def _stream_output(self, task_id: int, stream: "_OutputStream", stop: asyncio.Event) -> None:
        """Post the output so far while the command runs, at most every ``stream_interval``."""
        posted = -1
        while not stop.is_set():
            await stream.grown.wait()
            stream.grown.clear()
            if stream.closed:
                return
            if stream.total == posted:
                continue
            posted = stream.total
            body = {"name": self.name, "task_id": task_id, "bytes": stream.total,
                    "output": stream.tail().decode("utf-8", "replace")}
            try:
                response = await self._request("POST", "/agent/task/output", body, REQUEST_TIMEOUT)
            except TransientError as exc:
                log.debug("task %d: output post failed: %s", task_id, exc)
            else:
                if response.code != 200:  # an older server, or the task is no longer ours
                    log.info("task %d: the server took no output (HTTP %d); not streaming it",
                             task_id, response.code)
                    return
                try:
                    answer = json.loads(response.body or b"null")
                except ValueError:
                    answer = None
                if isinstance(answer, dict) and answer.get("stop") is True:
                    self._stop_requested(task_id)
                    return
            await asyncio.sleep(self.stream_interval)
            stream.grown.set()  # look again: the output may have grown meanwhile

    async def post_result(self, task_id: int, output: str, exit_code: int,
                          duration_ms: int) -> bool:
        """Send a result with ``POST /agent/task``; True if the server stored it (200).

        Retries with backoff for up to ``post_retry_window`` seconds while the server is
        unreachable or answers 5xx; 404/409 (unknown or no longer ours) end the attempt.
        """
        body = {
            "name": self.name,
            "task_id": task_id,
            "result": output,
            "exit_code": exit_code,
            "duration_ms": duration_ms,
        }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.post_retry_window
        backoff = self._backoff()
        while True:
            try:
                response = await self._request("POST", "/agent/task", body, REQUEST_TIMEOUT)
                if is_retryable(response.code):
                    raise TransientError(f"server {self.server} failed the result post: "
                                         f"HTTP {response.code}{error_suffix(response)}")
            except TransientError as exc:
                delay = backoff.next()
                if loop.time() + delay > deadline:
                    log.error("task %d: result lost, %s (gave up after retrying)", task_id, exc)
                    return False
                log.warning("task %d: %s; retrying the result in %gs", task_id, exc, delay)
                await asyncio.sleep(delay)
                continue
            if response.code == 200:
                return True
            level = logging.WARNING if response.code in (404, 409) else logging.ERROR
            log.log(level, "task %d: server did not take the result: HTTP %d%s",
                    task_id, response.code, error_suffix(response))
            return False

    # --- Main loop: a fetch loop and a runner that meet in a TaskQueue ---

    async def run(self, stop_event: Optional[asyncio.Event] = None, once: bool = False) -> int:
        """Register, then fetch and run tasks until ``stop_event`` is set; return 0.

        The fetch loop keeps one fetch open, also while a command runs, and queues what it
        gets; the runner runs the queued tasks one at a time and posts each result. A stop
        lets the runner finish what was handed out first. With ``once``, stop after the
        first answered poll (and its task, if any). Raises AgentError when the server
        refuses the agent (main() turns it into exit 2).
        """
        stop = stop_event if stop_event is not None else asyncio.Event()
        try:
            if await self.register(stop):
                queue = TaskQueue()
                jobs = [asyncio.ensure_future(self._fetch_loop(queue, once)),
                        asyncio.ensure_future(self._run_tasks(queue)),
                        asyncio.ensure_future(_stop_when_set(stop, queue))]
                try:
                    done, _ = await asyncio.wait(jobs[:2], return_when=asyncio.FIRST_EXCEPTION)
                    for job in done:
                        job.result()  # raises what ended it (AgentError on a 401)
                finally:
                    for job in jobs:
                        job.cancel()
                    await asyncio.gather(*jobs, return_exceptions=True)
            log.info("stopped")
            return EXIT_OK
        finally:
            self.close()

    async def _fetch_loop(self, queue: TaskQueue, once: bool) -> None:
        """Keep one fetch open until ``queue.fetching_over``; queue every task it brings."""
        backoff = self._backoff()
        try:
            while not queue.fetching_over.is_set():
                queue.fetch_closed.clear()
                delay = None
                try:
                    finished, task = await wait_unless_stopped(
                        self.fetch_task(), queue.fetching_over)
                except AgentDisabled:
                    self._pause()
                    # With a command running, ask more often: the server counts a refused
                    # fetch as a sign of life, and an agent silent for 10 s is offline (its
                    # running task would end lost).
                    delay = self.pause_interval
                    if not queue.idle:
                        delay = min(delay, BUSY_PAUSE_INTERVAL)
                except TransientError as exc:
                    delay = backoff.next()
                    log.warning("%s; retrying in %gs", exc, delay)
                finally:
                    queue.fetch_closed.set()
                if delay is not None:
                    await sleep_unless_stopped(delay, queue.fetching_over)
                    continue
                if not finished:
                    break
                self._resume()
                backoff.reset()
                if task is not None:
                    queue.put(task)
                if once:
                    queue.stop()
        finally:
            queue.fetching_ended()

    async def _run_tasks(self, queue: TaskQueue) -> None:
        """The runner: run queued tasks one at a time, in order, and post each result."""
        while True:
            task = await queue.take()
            if task is None:
                return
            limit = self.command_timeout if task.timeout is None else task.timeout
            log.info("task %d: running %r (time limit %gs%s)", task.task_id, task.command,
                     limit, "" if task.timeout is None else ", set by the server")
            output, exit_code, duration_ms = await self.run_command(task.command, limit, task.task_id)
            log.info("task %d: done, exit %d in %d ms", task.task_id, exit_code, duration_ms)
            queue.done()
            if queue.fetching_over.is_set():  # the last task before a stop:
                await queue.fetch_closed.wait()  # post it with no fetch open
            await self.post_result(task.task_id, output, exit_code, duration_ms)

    def _pause(self) -> None:
        if not self._paused:
            log.warning("agent is disabled on the server; asking again every %g s",
                        self.pause_interval)
        self._paused = True

    def _resume(self) -> None:
        if self._paused:
            log.info("enabled again")
        self._paused = False

    def close(self) -> None:
        """Release the connector (a new one is made if the agent is used again)."""
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None

    # --- HTTP ---

    def _backoff(self) -> Backoff:
        return Backoff(self.backoff_start, self.backoff_cap)

    async def _request(self, method: str, path: str, body: Optional[dict],
                       timeout: float) -> Reply:
        """Send one request on a connection of its own (``toolbox.agent.http.request``)."""
        if self._tcp is None:
            self._tcp = TCPClient()
        return await request(self._tcp, self.server, self.token, method, path, body, timeout)

    def _raise_for_status(self, response: Reply, what: str) -> None:
        """Turn a non-200 answer into AgentError (give up, or pause on 403) or TransientError."""
        code, suffix = response.code, error_suffix(response)
        if code == 401:
            raise AgentError(f"the server refused name/token ({code}){suffix}")
        if code == 403:
            raise AgentDisabled(f"agent is disabled (403){suffix}")
        if is_retryable(code):
            raise TransientError(f"server {self.server} failed the {what}: HTTP {code}{suffix}")
        raise AgentError(f"server {self.server} rejected the {what}: HTTP {code}{suffix}")


class _OutputStream:
    """A running command's output as it comes: the last ``STREAM_TAIL_BYTES`` and the total."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.total = 0
        self.grown = asyncio.Event()
        self.closed = False  # the command has ended

    def close(self) -> None:
        self.closed = True
        self.grown.set()

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > 2 * STREAM_TAIL_BYTES:
            del self.data[:-STREAM_TAIL_BYTES]
        self.grown.set()

    def tail(self) -> bytes:
        return bytes(self.data[-STREAM_TAIL_BYTES:])


async def _stop_when_set(stop: asyncio.Event, queue: TaskQueue) -> None:
    await stop.wait()
    queue.stop()


# --- Small helpers ---

def _task_timeout(task_id: int, value: object) -> Optional[float]:
    """The server's time bound for a task: a positive number of seconds, else None.

    No ``timeout`` (or null) is normal; any other value that is not a positive finite
    number is logged and ignored, so the agent's ``command_timeout`` applies.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer too large for a float
            seconds = math.inf
        if 0 < seconds < math.inf:
            return seconds
    log.warning("task %d: ignoring the malformed timeout %r sent by the server; "
                "using the agent's command timeout", task_id, value)
    return None


