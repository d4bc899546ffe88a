"""The agent's HTTP: one request on a connection of its own, closed when the request is given up.

Tornado's HTTP client would leave an abandoned long-poll open for the server to fill, so
the agent writes HTTP/1.1 itself over a ``TCPClient`` connection: ``request`` sends one
request and reads the answer (at most ``MAX_REPLY_BYTES``); connection failures, timeouts
and garbled answers become ``TransientError``; cancelling the call closes the connection.
"""

import asyncio
import json
import ssl
import urllib.parse
from typing import NamedTuple, Optional

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.tcpclient import TCPClient

CONNECT_TIMEOUT = 10.0
MAX_REPLY_BYTES = 1 << 20  # the server's answers are small JSON documents
_RETRY_STATUSES = {408, 429}  # plus every 5xx


class TransientError(Exception):
    """The server could not be reached or answered with a retryable error."""


class Reply(NamedTuple):
    """One HTTP answer from the server."""

    code: int
    body: bytes


async def request(tcp: TCPClient, server: str, token: str, method: str, path: str,
                  body: Optional[dict], timeout: float) -> Reply:
    """Send one request to ``server`` on a connection of its own and read the answer."""
    url = urllib.parse.urlsplit(server + path)
    https = url.scheme == "https"
    headers = httputil.HTTPHeaders({
        "Host": url.netloc, "Authorization": "Bearer " + token,
        "User-Agent": "toolbox-agent", "Connection": "close"})
    payload = b""
    if body is not None:
        headers["Content-Type"] = "application/json"
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    if method != "GET":
        headers["Content-Length"] = str(len(payload))
    target = url.path + ("?" + url.query if url.query else "")
    stream = None
    try:
        try:
            stream = await asyncio.wait_for(tcp.connect(
                url.hostname or "", url.port or (443 if https else 80),
                ssl_options=ssl.create_default_context() if https else None),
                CONNECT_TIMEOUT)
        except asyncio.TimeoutError as exc:
            raise TransientError(f"server {server} unreachable: connect timed out "
                                 f"after {CONNECT_TIMEOUT:g}s") from exc
        try:
            return await asyncio.wait_for(
                _exchange(stream, method, target, headers, payload), timeout)
        except asyncio.TimeoutError as exc:
            raise TransientError(f"server {server} did not answer within "
                                 f"{timeout:g}s") from exc
    except (OSError, httputil.HTTPInputError) as exc:
        raise TransientError(f"server {server} unreachable: {reason(exc)}") from exc
    finally:
        if stream is not None:
            stream.close()


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


def is_retryable(code: int) -> bool:
    """Whether an HTTP status means "try again later" rather than "no"."""
    return code >= 500 or code in _RETRY_STATUSES


def reason(exc: BaseException) -> str:
    """A short human reason for a connection failure."""
    exc = getattr(exc, "real_error", None) or exc  # tornado's StreamClosedError wraps it
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def error_suffix(response: Reply) -> str:
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
