"""The agent protocol, as the deployed Go agent speaks it (see shared/legacy-agent.md).

``POST /agent/new`` registers, ``GET /agent/task`` parks until a task arrives, and
``POST /agent/task`` reports a result.  The legacy agent reads only status codes and
``task_id``/``command``; every error body is still JSON.

The field agent dies on a refused or dropped request and cannot re-send a report, so
while the database is away: a fetch is answered the empty reply once ``FAULT_WAIT``
seconds have passed (never an error); a report and a registration are tried again for
up to ``FAULT_HOLD`` seconds (a report is stored once however often it is tried) before
they are answered 503.
"""

import asyncio
import sys
import time
from typing import Any, cast

from tornado import iostream, web
from tornado.http1connection import HTTP1Connection

from .base import BaseHandler, bearer_token
from toolbox.core.dispatch.agent_results import HEAD_RE, parse_output, parse_report
from toolbox.core.tasks.live_output import TAIL_BYTES
from toolbox.core.dispatch.dispatcher import Parked
from toolbox.errors import AuthError, TooLarge, ToolboxError, ValidationError
from toolbox.store.faults import patiently
from toolbox.tools.field_wrap import REFERENCE_USER_AGENT

EMPTY_REPLY = {"task_id": 0, "command": ""}
OVERFLOW_TAIL_BYTES = 4096
AUTH_HEAD_BYTES = 16 * 1024  # a report's credentials are checked once this much has come in
FAULT_WAIT = 2.0  # seconds a fetch the database cannot serve waits before its empty reply
FAULT_HOLD = 20.0  # seconds a report or a registration is tried again while the database is away

class AgentNewHandler(BaseHandler):
    """``POST /agent/new``: check an agent's name and token and record where it runs."""

    def check_xsrf_cookie(self) -> None:
        """Agents authenticate with their token, never a cookie: XSRF does not apply."""

    body_limit = 64 * 1024  # a name and a token

    async def post(self) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ValidationError("the body must be a JSON object")
        name, token = body.get("name"), body.get("token")
        if not isinstance(name, str) or not isinstance(token, str):
            raise ValidationError("name and token: required strings")

        async def register() -> None:
            await self.authenticate_agent(name, token)
            await self.toolbox.fleet.registered(name, self.request.remote_ip, self.request.headers.get("User-Agent"))

        await patiently(register, FAULT_HOLD)
        self.write_json({"status": True})

@web.stream_request_body
class AgentTaskHandler(BaseHandler):
    """``GET /agent/task`` hands out tasks; ``POST /agent/task`` takes results."""

    def check_xsrf_cookie(self) -> None:
        """Agents authenticate with their token, never a cookie: XSRF does not apply."""

    def initialize(self, **kwargs: Any) -> None:
        super().initialize(**kwargs)
        self.parked: Parked | None = None
        self.closed = False
        self.chunks: list[bytes] = []
        self.kept = 0
        self.keep_limit = 0  # a body on GET (or a method it does not take) is not kept
        self.overflow_tail: bytes | None = None
        self.head_checked = False

    # --- GET: the long poll ---

    async def get(self) -> None:
        name = self.get_query_argument("agent_name", None)
        if not name:
            raise ValidationError("agent_name: required query argument")
        started = time.monotonic()
        try:
            await self._fetch(name)
        except Exception as error:
            unavailable = self.toolbox.outages.refused(error, "GET /agent/task")
            if unavailable is None:
                raise
            if self.parked is not None:
                self.toolbox.fleet.leave(self.parked)
            if self._finished or self.closed:  # the task was written before the fault
                return
            await asyncio.sleep(max(0.0, FAULT_WAIT - (time.monotonic() - started)))
            if not self.closed and not self._finished:
                self.write_json(EMPTY_REPLY)  # what the field agent takes for "no task"

    async def _fetch(self, name: str) -> None:
        fleet = self.toolbox.fleet
        agent = await self.authenticate_agent(name, bearer_token(self.request), allow_disabled=True)
        hears_stop = self.request.headers.get("User-Agent") == REFERENCE_USER_AGENT
        self.parked = fleet.park(name, agent, hears_stop)
        if self.closed:  # the client left while we authenticated
            fleet.leave(self.parked)
        doc = await fleet.next_task(name, self.parked, self.config.poll_timeout)
        if doc is None:
            if not self.closed:
                if self.toolbox.requests.draining:  # answered because the process stops: next fetch elsewhere
                    self.set_header("Connection", "close")
                stops = fleet.stops(self.parked)  # toolbox-agent only: the tasks to stop now
                self.write_json(EMPTY_REPLY | {"stop": stops} if stops else EMPTY_REPLY)
            return
        await fleet.hand_over(doc, self.send_task)

    async def send_task(self, reply: dict[str, Any]) -> bool:
        """Write ``reply`` and finish; False when the fetch is gone (before or while writing)."""
        if self.closed:
            return False
        self.write_json(reply)
        try:
            await self.finish()
        except iostream.StreamClosedError:
            return False
        return True

    def on_connection_close(self) -> None:
        super().on_connection_close()  # a body still streaming in ends the request
        self.closed = True
        if self.parked is not None:
            self.toolbox.fleet.leave(self.parked)

    # --- POST: results, streamed so that a huge body is cut, not refused ---

    def prepare(self) -> None:
        """Results are streamed and cut (``data_received``), never refused for their size."""
        if self.request.method == "POST":
            # served by Tornado's HTTP/1 server, whose connections are HTTP1Connections
            cast(HTTP1Connection, self.request.connection).set_max_body_size(1 << 40)
            self.keep_limit = 4 * self.config.result_max_bytes + 64 * 1024

    # Tornado awaits a coroutine data_received (RequestHandler.data_received: Awaitable[None] | None);
    # BaseHandler's, which this replaces, is a plain method.
    async def data_received(self, chunk: bytes) -> None:  # type: ignore[override]
        if self.request.method != "POST" or self._finished:
            return
        if not self.head_checked and self.kept + len(chunk) >= AUTH_HEAD_BYTES:
            self.head_checked = True
            if not await self._head_authenticates(b"".join(self.chunks) + chunk[:AUTH_HEAD_BYTES]):
                return
        if self.overflow_tail is None and self.kept + len(chunk) <= self.keep_limit:
            self.chunks.append(chunk)
            self.kept += len(chunk)
            return
        if self.overflow_tail is None:
            room = self.keep_limit - self.kept
            self.chunks.append(chunk[:room])
            self.kept += room
            self.overflow_tail = b""
        self.overflow_tail = (self.overflow_tail + chunk)[-OVERFLOW_TAIL_BYTES:]

    async def _head_authenticates(self, head: bytes) -> bool:
        """Check a long report's credentials before reading on: the name in its head and the
        token in its header (a head that names no agent: any agent's token); on failure
        answer at once, which closes the connection, the rest of the body unread."""
        token = bearer_token(self.request)
        match = HEAD_RE.match(head.decode("utf-8", "ignore"))
        try:
            if match:
                await self.authenticate_agent(match.group("name"), token, allow_disabled=True)
            elif not self.toolbox.agents.any_has_token(token):
                self.toolbox.guard.failed(self.request.remote_ip)
                raise AuthError("unknown agent or wrong token")
        except ToolboxError:
            self.chunks, self.kept = [], 0
            # the exception being handled: a ToolboxError
            self.send_error(cast(ToolboxError, sys.exc_info()[1]).status_code, exc_info=sys.exc_info())
            return False
        return True

    async def post(self) -> None:
        if self._finished:  # refused while the body came in (see data_received)
            return
        body = b"".join(self.chunks)
        if not body.strip():
            raise ValidationError("the body is empty; a JSON result report is expected")
        try:
            report = parse_report(body, self.config.result_max_bytes, self.overflow_tail)
        except ValidationError as error:
            if self.overflow_tail is not None:
                raise TooLarge(error.message) from None
            raise

        async def store() -> str:
            agent = await self.authenticate_agent(report.name, bearer_token(self.request), allow_disabled=True)
            return await self.toolbox.fleet.report(agent, report)

        outcome = await patiently(store, FAULT_HOLD)
        self.write_json({"status": True, "task_id": report.task_id, "duplicate": outcome == "duplicate",
                         "result_truncated": report.truncated, "result_recovered": report.recovered,
                         "result_repaired": report.repaired})

class AgentOutputHandler(BaseHandler):
    """``POST /agent/task/output``: toolbox-agent's output so far of its running task (an
    extension the field agent never calls), answered with whether to stop it."""

    def check_xsrf_cookie(self) -> None:
        """Agents authenticate with their token, never a cookie: XSRF does not apply."""

    body_limit = 2 * TAIL_BYTES + 64 * 1024  # the tail of the output, JSON-escaped, and the fields

    async def post(self) -> None:
        report = parse_output(self.json_body(), TAIL_BYTES)
        agent = await self.authenticate_agent(report.name, bearer_token(self.request), allow_disabled=True)
        stop = await self.toolbox.fleet.output(report.name, agent, report.task_id, report.output, report.total)
        self.write_json({"status": True, "task_id": report.task_id, "stop": stop})

default_handlers = [
    (r"/agent/new", AgentNewHandler),
    (r"/agent/task", AgentTaskHandler),
    (r"/agent/task/output", AgentOutputHandler),
]
