"""toolbox-agent: the reference agent that runs toolBox tasks on a machine.

It speaks the same wire protocol as the legacy Go agent (docs: legacy-agent.md) but behaves
better on the client side:

- one long-poll at a time (``GET /agent/task``), with a client timeout above the server's
  park time, instead of a new overlapping fetch every second;
- a wrong token (401) or a disabled agent (403) stops it with exit code 2 instead of a loop;
- an unreachable server is retried with exponential backoff (0.5 s doubling, capped at 30 s);
- results are proper JSON, sent with ``Authorization: Bearer TOKEN``, and re-sent for up to
  ten minutes while the server is unreachable;
- SIGTERM/SIGINT stop it cleanly: a running command finishes and its result is posted; a
  second signal quits at once.

Commands, backoff and stop-aware waits live in :mod:`toolbox.agent_runner`. Usage::

    toolbox-agent --server http://toolbox.example:8000 --name lab-1 --token SECRET
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
import urllib.parse
from typing import NamedTuple, Optional, Tuple

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse

from toolbox.agent_runner import (
    Backoff, run_command, sleep_unless_stopped, wait_unless_stopped)

__all__ = ["Agent", "AgentError", "AgentTask", "Backoff", "TransientError", "main"]

log = logging.getLogger(__name__)

POLL_TIMEOUT = 90.0  # seconds; above the server's long-poll park time
REQUEST_TIMEOUT = 30.0  # seconds; registration and result posts
CONNECT_TIMEOUT = 10.0
POST_RETRY_WINDOW = 600.0  # keep re-sending one result for about ten minutes
EXIT_OK, EXIT_FORCED, EXIT_CONFIG = 0, 1, 2
_RETRY_STATUSES = {408, 429}  # plus every 5xx


class AgentError(Exception):
    """A condition the agent cannot recover from; ``exit_code`` is what main() returns."""

    def __init__(self, message: str, exit_code: int = EXIT_CONFIG):
        super().__init__(message)
        self.exit_code = exit_code


class TransientError(Exception):
    """The server could not be reached or answered with a retryable error."""


class AgentTask(NamedTuple):
    """One task handed out by ``GET /agent/task``."""

    task_id: int
    command: str


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
        self._client: Optional[AsyncHTTPClient] = None

    # --- Protocol steps ---

    async def register(self, stop_event: Optional[asyncio.Event] = None) -> bool:
        """Register with ``POST /agent/new``, retrying while the server is unreachable.

        Returns True once registered, False if ``stop_event`` was set while waiting to
        retry. Raises AgentError on 401 (wrong name/token), 403 (disabled) or another 4xx.
        """
        backoff = self._backoff()
        body = {"name": self.name, "token": self.token}
        while True:
            try:
                response = await self._request("POST", "/agent/new", body, REQUEST_TIMEOUT)
                if response.code == 200:
                    log.info("registered as %s at %s", self.name, self.server)
                    return True
                self._raise_for_status(response, "registration")
            except TransientError as exc:
                delay = backoff.next()
                log.warning("%s; retrying in %gs", exc, delay)
                if await sleep_unless_stopped(delay, stop_event):
                    return False

    async def fetch_task(self) -> Optional[AgentTask]:
        """Long-poll ``GET /agent/task`` once; return the task, or None if there is none.

        Raises AgentError on 401/403 and TransientError on anything worth retrying.
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
        return AgentTask(task_id, command)

    async def run_command(self, command: str) -> Tuple[str, int, int]:
        """Run ``command`` without a shell; return ``(output, exit_code, duration_ms)``."""
        return tuple(await run_command(command, self.command_timeout, self.output_cap))

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

    # --- Main loop ---

    async def run(self, stop_event: Optional[asyncio.Event] = None, once: bool = False) -> int:
        """Register, then fetch and run tasks until ``stop_event`` is set; return 0.

        With ``once``, stop after the first successful poll (and its task, if any).
        Raises AgentError when the server refuses the agent (main() turns it into exit 2).
        """
        stop = stop_event if stop_event is not None else asyncio.Event()
        try:
            if not await self.register(stop):
                return EXIT_OK
            backoff = self._backoff()
            while not stop.is_set():
                try:
                    finished, task = await wait_unless_stopped(self.fetch_task(), stop)
                except TransientError as exc:
                    delay = backoff.next()
                    log.warning("%s; retrying in %gs", exc, delay)
                    await sleep_unless_stopped(delay, stop)
                    continue
                if not finished:
                    break
                backoff.reset()
                if task is not None:
                    await self._handle(task)
                if once:
                    break
            log.info("stopped")
            return EXIT_OK
        finally:
            self.close()

    async def _handle(self, task: AgentTask) -> None:
        """Run one task and post its result; a stop request does not interrupt this."""
        log.info("task %d: running %r", task.task_id, task.command)
        output, exit_code, duration_ms = await self.run_command(task.command)
        log.info("task %d: done, exit %d in %d ms", task.task_id, exit_code, duration_ms)
        await self.post_result(task.task_id, output, exit_code, duration_ms)

    def close(self) -> None:
        """Release the HTTP client (a new one is made if the agent is used again)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- HTTP helpers ---

    def _backoff(self) -> Backoff:
        return Backoff(self.backoff_start, self.backoff_cap)

    async def _request(self, method: str, path: str, body: Optional[dict],
                       timeout: float) -> HTTPResponse:
        """Send one request; connection failures become TransientError."""
        if self._client is None:
            self._client = AsyncHTTPClient(force_instance=True)
        headers = {"Authorization": "Bearer " + self.token}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            return await self._client.fetch(
                self.server + path, method=method, headers=headers, body=payload,
                connect_timeout=CONNECT_TIMEOUT, request_timeout=timeout, raise_error=False,
            )
        except (OSError, HTTPClientError) as exc:
            raise TransientError(f"server {self.server} unreachable: {_reason(exc)}") from exc

    def _raise_for_status(self, response: HTTPResponse, what: str) -> None:
        """Turn a non-200 answer into AgentError (give up) or TransientError (retry)."""
        code, suffix = response.code, _error_suffix(response)
        if code == 401:
            raise AgentError(f"the server refused name/token ({code}){suffix}")
        if code == 403:
            raise AgentError(f"agent is disabled (403){suffix}")
        if _is_retryable(code):
            raise TransientError(f"server {self.server} failed the {what}: HTTP {code}{suffix}")
        raise AgentError(f"server {self.server} rejected the {what}: HTTP {code}{suffix}")


# --- Small helpers ---

def _is_retryable(code: int) -> bool:
    """Whether an HTTP status means "try again later" rather than "no"."""
    return code >= 500 or code in _RETRY_STATUSES


def _reason(exc: BaseException) -> str:
    """A short human reason for a connection failure."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _error_suffix(response: HTTPResponse) -> str:
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
                        help="kill a command after this long (default 60)")
    parser.add_argument("--output-cap", type=int, default=1048576, metavar="BYTES",
                        help="keep at most this much output per command (default 1048576)")
    parser.add_argument("--once", action="store_true",
                        help="poll once, run at most one task, then exit")
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
            log.info("%s: stopping (a running task finishes and is posted first)", signame)
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
