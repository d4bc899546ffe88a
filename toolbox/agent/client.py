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
- SIGTERM/SIGINT: a running command finishes and is posted, and so is a task already
  handed out; the fetch is closed before the last result is posted, so nothing more is
  handed to a leaving agent. Idle or paused, it stops at once; a second signal quits now.

Each request has a connection of its own, closed as soon as the agent gives the request up
(Tornado's HTTP client would leave an abandoned long-poll open for the server to fill).
Commands, the one-at-a-time ``TaskQueue``, backoff and waits live in
:mod:`toolbox.agent.runner`. Usage::

    toolbox-agent --server http://toolbox.example:8000 --name lab-1 --token SECRET
"""

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import ssl
import sys
import threading
import urllib.parse
from typing import NamedTuple, Optional, Tuple

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.tcpclient import TCPClient

from toolbox.agent.runner import (
    Backoff, TaskQueue, run_command, sleep_unless_stopped, wait_unless_stopped)

__all__ = ["Agent", "AgentDisabled", "AgentError", "AgentTask", "Backoff", "TransientError",
           "main"]

log = logging.getLogger(__name__)

POLL_TIMEOUT = 90.0  # seconds; above the server's long-poll park time
REQUEST_TIMEOUT = 30.0  # seconds; registration and result posts
CONNECT_TIMEOUT = 10.0
POST_RETRY_WINDOW = 600.0  # keep re-sending one result for about ten minutes
PAUSE_INTERVAL = 30.0  # seconds between asks while the server has the agent disabled
BUSY_PAUSE_INTERVAL = 4.0  # the same while a command runs (it must not look offline)
MAX_REPLY_BYTES = 1 << 20  # the server's answers are small JSON documents
EXIT_OK, EXIT_FORCED, EXIT_CONFIG = 0, 1, 2
_RETRY_STATUSES = {408, 429}  # plus every 5xx


class AgentError(Exception):
    """A condition the agent cannot recover from; ``exit_code`` is what main() returns."""

    def __init__(self, message: str, exit_code: int = EXIT_CONFIG):
        super().__init__(message)
        self.exit_code = exit_code


class AgentDisabled(AgentError):
    """403: the server knows the agent but has disabled it (the agent pauses and asks again)."""


class TransientError(Exception):
    """The server could not be reached or answered with a retryable error."""


class AgentTask(NamedTuple):
    """One task handed out by ``GET /agent/task``; ``timeout``: the server's bound, seconds."""

    task_id: int
    command: str
    timeout: Optional[float] = None


class Reply(NamedTuple):
    """One HTTP answer from the server."""

    code: int
    body: bytes


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
    ):
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
        if task_id == 0 or not isinstance(command, str) or not command.strip():
            return None
        return AgentTask(task_id, command, _task_timeout(task_id, reply.get("timeout")))

    async def run_command(self, command: str,
                          timeout: Optional[float] = None) -> Tuple[str, int, int]:
        """Run ``command`` without a shell; return ``(output, exit_code, duration_ms)``.

        It is killed after ``timeout`` seconds (default: ``command_timeout``).
        """
        limit = self.command_timeout if timeout is None else timeout
        return tuple(await run_command(command, limit, self.output_cap))

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
                if _is_retryable(response.code):
                    raise TransientError(f"server {self.server} failed the result post: "
                                         f"HTTP {response.code}{_error_suffix(response)}")
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
                    task_id, response.code, _error_suffix(response))
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
            output, exit_code, duration_ms = await self.run_command(task.command, limit)
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
        """Send one request on a connection of its own and read the answer.

        Connection failures, timeouts and garbled answers become TransientError.
        Cancelling the call closes the connection at once.
        """
        url = urllib.parse.urlsplit(self.server + path)
        https = url.scheme == "https"
        headers = httputil.HTTPHeaders({
            "Host": url.netloc, "Authorization": "Bearer " + self.token,
            "User-Agent": "toolbox-agent", "Connection": "close"})
        payload = b""
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if method != "GET":
            headers["Content-Length"] = str(len(payload))
        target = url.path + ("?" + url.query if url.query else "")
        if self._tcp is None:
            self._tcp = TCPClient()
        stream = None
        try:
            try:
                stream = await asyncio.wait_for(self._tcp.connect(
                    url.hostname, url.port or (443 if https else 80),
                    ssl_options=ssl.create_default_context() if https else None),
                    CONNECT_TIMEOUT)
            except asyncio.TimeoutError as exc:
                raise TransientError(f"server {self.server} unreachable: connect timed out "
                                     f"after {CONNECT_TIMEOUT:g}s") from exc
            try:
                return await asyncio.wait_for(
                    _exchange(stream, method, target, headers, payload), timeout)
            except asyncio.TimeoutError as exc:
                raise TransientError(f"server {self.server} did not answer within "
                                     f"{timeout:g}s") from exc
        except (OSError, httputil.HTTPInputError) as exc:
            raise TransientError(f"server {self.server} unreachable: {_reason(exc)}") from exc
        finally:
            if stream is not None:
                stream.close()

    def _raise_for_status(self, response: Reply, what: str) -> None:
        """Turn a non-200 answer into AgentError (give up, or pause on 403) or TransientError."""
        code, suffix = response.code, _error_suffix(response)
        if code == 401:
            raise AgentError(f"the server refused name/token ({code}){suffix}")
        if code == 403:
            raise AgentDisabled(f"agent is disabled (403){suffix}")
        if _is_retryable(code):
            raise TransientError(f"server {self.server} failed the {what}: HTTP {code}{suffix}")
        raise AgentError(f"server {self.server} rejected the {what}: HTTP {code}{suffix}")


class _ReplyReader(httputil.HTTPMessageDelegate):
    """Collects one HTTP answer: its status code and body."""

    def __init__(self):
        self.code: Optional[int] = None
        self.chunks = []
        self.complete = False

    def headers_received(self, start_line, headers) -> None:
        self.code = start_line.code

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def finish(self) -> None:
        self.complete = True


async def _exchange(stream, method: str, target: str, headers: httputil.HTTPHeaders,
                    payload: bytes) -> Reply:
    """Write one HTTP/1.1 request on ``stream`` and read its answer."""
    connection = HTTP1Connection(stream, True, HTTP1ConnectionParameters(
        no_keep_alive=True, max_body_size=MAX_REPLY_BYTES))
    await connection.write_headers(
        httputil.RequestStartLine(method, target, "HTTP/1.1"), headers, payload or None)
    connection.finish()
    reader = _ReplyReader()
    await connection.read_response(reader)
    if reader.code is None or not reader.complete:
        raise httputil.HTTPInputError("the connection closed before a complete answer")
    return Reply(reader.code, b"".join(reader.chunks))


async def _stop_when_set(stop: asyncio.Event, queue: TaskQueue) -> None:
    await stop.wait()
    queue.stop()


# --- Small helpers ---

def _is_retryable(code: int) -> bool:
    """Whether an HTTP status means "try again later" rather than "no"."""
    return code >= 500 or code in _RETRY_STATUSES


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


def _reason(exc: BaseException) -> str:
    """A short human reason for a connection failure."""
    exc = getattr(exc, "real_error", None) or exc  # tornado's StreamClosedError wraps it
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _error_suffix(response: Reply) -> str:
    """``": <error>"`` from a JSON error body (``error`` or ``message``), else ``""``."""
    try:
        reply = json.loads(response.body or b"")
    except (ValueError, TypeError):
        return ""
    if isinstance(reply, dict):
        message = reply.get("error") or reply.get("message")
        if message:
            return f": {message}"
    return ""


# --- Command line ---

def parse_args(argv=None, environ=None) -> argparse.Namespace:
    """Parse the command line; flags win over TOOLBOX_* environment variables."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="toolbox-agent", description="Run toolBox tasks on this machine.")
    parser.add_argument("--server", default=env.get("TOOLBOX_SERVER"),
                        help="server URL, e.g. http://host:8000 (env TOOLBOX_SERVER)")
    parser.add_argument("--name", default=env.get("TOOLBOX_AGENT_NAME"),
                        help="agent name (env TOOLBOX_AGENT_NAME)")
    parser.add_argument("--token", default=env.get("TOOLBOX_AGENT_TOKEN"),
                        help="agent token (env TOOLBOX_AGENT_TOKEN; preferred, as flags "
                             "are visible to other local users)")
    parser.add_argument("--command-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="kill a command after this long (default 60) when its task "
                             "carries no time bound; a positive 'timeout' the server sends "
                             "with a task takes precedence")
    parser.add_argument("--output-cap", type=int, default=1048576, metavar="BYTES",
                        help="keep at most this much output per command (default 1048576)")
    parser.add_argument("--once", action="store_true",
                        help="poll until the server answers once, run the task it hands "
                             "out (if any), then exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    for flag, env_name in (("server", "TOOLBOX_SERVER"), ("name", "TOOLBOX_AGENT_NAME"),
                           ("token", "TOOLBOX_AGENT_TOKEN")):
        if not getattr(args, flag):
            parser.error(f"--{flag} (or {env_name}) is required")
    if not args.server.startswith(("http://", "https://")):
        parser.error(f"--server must be an http:// or https:// URL, not {args.server!r}")
    if args.command_timeout <= 0 or args.output_cap < 0:
        parser.error("--command-timeout must be > 0 and --output-cap >= 0")
    return args


def main(argv=None) -> int:
    """Console entry point: ``toolbox-agent``. Returns the process exit code."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse already printed the message
        return exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="toolbox-agent: %(message)s", stream=sys.stderr)
    agent = Agent(args.server, args.name, args.token, args.command_timeout, args.output_cap)
    try:
        return asyncio.run(_run_with_signals(agent, args.once))
    except AgentError as exc:
        print(f"toolbox-agent: {exc}", file=sys.stderr)
        return exc.exit_code


async def _run_with_signals(agent: Agent, once: bool) -> int:
    """Run ``agent`` with SIGTERM/SIGINT wired to a graceful stop (twice: quit now)."""
    stop = asyncio.Event()
    run_task = asyncio.ensure_future(agent.run(stop, once=once))
    loop = asyncio.get_running_loop()

    def on_signal(signame: str) -> None:
        if stop.is_set():
            log.warning("%s again: quitting now (a running task's result is lost)", signame)
            run_task.cancel()
        else:
            log.info("%s: stopping (a running task, and one already handed out, finish and "
                     "are posted first)", signame)
            stop.set()

    installed = _install_signal_handlers(loop, on_signal)
    try:
        return await run_task
    except asyncio.CancelledError:
        if not run_task.cancelled():
            raise
        return EXIT_FORCED
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _install_signal_handlers(loop: asyncio.AbstractEventLoop, callback) -> list:
    """Route SIGTERM/SIGINT to ``callback(name)``; return the signals handled this way."""
    installed = []
    if threading.current_thread() is not threading.main_thread():
        return installed  # signals are only delivered to the main thread
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, callback, signum.name)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # e.g. Windows
            signal.signal(signum, lambda num, _frame: loop.call_soon_threadsafe(
                callback, signal.Signals(num).name))
    return installed


if __name__ == "__main__":
    sys.exit(main())
