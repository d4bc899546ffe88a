"""``GET /api/ws?since=SEQ``: the console's live feed (see ``toolbox.core.events.console_feed``).

Authenticated like every API call (``APIHandler.authenticate``: session cookie or
bearer token), refused before the upgrade when it is not (401/403 JSON).  The origin
check is Tornado's default: a browser page from another site is refused (403),
which is what protects the cookie-authenticated socket from cross-site use.  Keepalive
is Tornado's ``websocket_ping_interval``/``websocket_ping_timeout`` (see ``make_app``).
The feed is one-way: messages from the client are ignored.  Credentials are checked
again every ``RECHECK_SECONDS`` while the socket is open: a logout, a disabled account
or a revoked token closes it (code 1008).
"""

import logging
import struct
from collections.abc import Awaitable
from typing import Any

from tornado import ioloop, websocket

from .base import APIHandler, require_role
from toolbox import validation
from toolbox.core.events.console_feed import LiveClient
from toolbox.errors import Forbidden, ToolboxError, ValidationError

log = logging.getLogger("toolbox.live")

MAX_SEQ = 2**62
CLOSE_POLICY = 1008


class LiveSocketHandler(APIHandler, websocket.WebSocketHandler):
    counts_as_request = False  # a stop closes consoles (1001); they reconnect elsewhere

    RECHECK_SECONDS = 30.0
    _stream_request_body = False  # an upgrade has no body to stream

    def initialize(self, **kwargs: Any) -> None:
        super().initialize(**kwargs)
        self.client: LiveClient | None = None
        self.since: int | None = None
        self.recheck: ioloop.PeriodicCallback | None = None

    @require_role("viewer")
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Check ``since``, then upgrade (Tornado checks the origin here)."""
        self.refuse_before_upgrade()
        since = self.query_args("since").get("since")
        if since is not None:
            self.since = validation.int_in(since, "since", 0, MAX_SEQ)
        await super().get(*args, **kwargs)

    def refuse_before_upgrade(self) -> None:
        """Tornado's own handshake checks, answered as JSON errors instead of plain text."""
        headers = self.request.headers
        if headers.get("Upgrade", "").lower() != "websocket":
            raise ValidationError("this is a websocket endpoint: send Upgrade: websocket")
        if "upgrade" not in {part.strip().lower() for part in headers.get("Connection", "").split(",")}:
            raise ValidationError("this is a websocket endpoint: send Connection: Upgrade")
        refusal = self.cross_origin_refusal()
        if refusal is not None:
            raise Forbidden(f"cross-origin websocket refused: {refusal[:200]}")
        if headers.get("Sec-WebSocket-Version") != "13":
            raise ToolboxError("websocket version 13 is required", status=426,
                               headers={"Sec-WebSocket-Version": "13"})
        if not headers.get("Sec-WebSocket-Key"):
            raise ValidationError("Sec-WebSocket-Key: required")

    def cross_origin_refusal(self) -> str | None:
        """Why the upgrade will refuse this origin, or None: Tornado's own same-origin check,
        run here so that its refusal is JSON (the upgrade runs it again, to the same end).

        Tornado 6.6 checks ``Sec-Fetch-Site``, then ``Origin`` against ``Host``, in a method
        it keeps private; Tornado 6.5 (what pip gives Python 3.10 here) checks ``Origin`` (or
        ``Sec-Websocket-Origin``) with ``check_origin`` only, which is public.
        """
        check = getattr(self, "_check_cross_origin", None)
        if check is not None:
            return check(self.check_origin)
        headers = self.request.headers
        origin = headers.get("Origin") if "Origin" in headers else headers.get("Sec-Websocket-Origin")
        if origin is not None and not self.check_origin(origin):
            return "Cross origin websockets not allowed"
        return None

    def open(self, *args: str, **kwargs: str) -> None:
        user = self.current_user
        self.client = self.toolbox.console_feed.connect(
            self.write_message, self._close_from_hub, since=self.since,
            label=f"{user.name}@{self.request.remote_ip}",
            send_many=None if self.get_compression_options() is not None else self.write_messages)
        self.recheck = ioloop.PeriodicCallback(self._recheck, self.RECHECK_SECONDS * 1000)
        self.recheck.start()

    def write_messages(self, texts: list[bytes]) -> Awaitable[None]:
        """Write each of ``texts`` (UTF-8 JSON) as its own text message, in one write to the
        socket: the frames ``write_message`` would write one by one, without its per-message
        write and task (for the console feed's batches; uncompressed connections only)."""
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            raise websocket.WebSocketClosedError()
        stream = connection.stream
        if stream is None:
            raise websocket.WebSocketClosedError()
        return stream.write(b"".join(text_frame(text) for text in texts))

    async def _recheck(self) -> None:
        try:
            await self.authenticate()
        except ToolboxError as error:
            log.info("live client %s: closing, %s", self.client.label if self.client else "?", error.message)
            self.close(CLOSE_POLICY, error.message[:120])

    def _close_from_hub(self, code: int | None, reason: str | None) -> None:
        self.close(code, reason)

    def on_message(self, message: str | bytes) -> None:
        """The feed is one-way; what the client says is ignored."""

    def on_close(self) -> None:
        if self.recheck is not None:
            self.recheck.stop()
        if self.client is not None:
            self.toolbox.console_feed.disconnect(self.client)


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (RFC 6455 section 5.2, what a server sends) of ``payload``."""
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size <= 0xFFFF:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


default_handlers = [(r"/api/ws", LiveSocketHandler)]
