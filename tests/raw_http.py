"""A hostile HTTP client: raw bytes over a socket, for what Tornado's client refuses to send.

``await raw_request(base_url, b"GET /api HTTP/1.1\\r\\n...")`` → ``RawReply`` (``.code``,
``.headers`` (lower-case names), ``.body``, ``.json``; ``code`` is None when the server
closed the connection without answering).  ``request_bytes`` builds a request with any
method, target, headers and body, malformed or not.
"""

import asyncio
import dataclasses
import json
import urllib.parse


@dataclasses.dataclass
class RawReply:
    code: int | None
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)

    def assert_json_error(self, code=None):
        """The reply is ``{"status": false, "error": "..."}`` with a JSON content type."""
        assert self.code is not None, "the server closed the connection without an answer"
        if code is not None:
            assert self.code == code, (self.code, self.body[:300])
        assert self.headers.get("content-type", "").startswith("application/json"), (self.code, self.headers,
                                                                                   self.body[:300])
        data = self.json
        assert data["status"] is False and isinstance(data["error"], str) and data["error"], data
        return data


def address(base_url):
    parts = urllib.parse.urlsplit(base_url)
    return "127.0.0.1", parts.port  # "localhost" may name ::1 first: this machine only, by address


def request_bytes(method, target, headers=None, body=b"", host="127.0.0.1", content_length=True):
    """An HTTP/1.1 request as bytes; ``headers`` values are sent verbatim."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    if not any(name.lower() == "connection" for name in (headers or {})):
        lines.append("Connection: close")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if content_length and body and not any(k.lower() == "content-length" for k in (headers or {})):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def raw_request(base_url, data, timeout=10.0, read_limit=64 * 1024 * 1024):
    """Send ``data``; read one answer (by its Content-Length, else until the server closes)."""
    host, port = address(base_url)
    reader, writer = await asyncio.open_connection(host, port)
    raw = b""
    try:
        writer.write(data)
        await writer.drain()
        while len(raw) < read_limit:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            raw += chunk
            if _complete(raw):
                break
    except (ConnectionResetError, BrokenPipeError):
        pass  # what was answered before the reset still counts
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionResetError, BrokenPipeError):
            pass
    return parse_reply(raw)


def _complete(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    reply = parse_reply(head + sep)
    length = reply.headers.get("content-length")
    if length is not None:
        return len(body) >= int(length)
    if reply.headers.get("transfer-encoding") == "chunked":
        return body.endswith(b"0\r\n\r\n")
    return reply.code == 101


def parse_reply(raw):
    """A RawReply from the bytes of one HTTP/1.1 answer (code None for no answer)."""
    if not raw:
        return RawReply(None, {}, b"")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    code = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return RawReply(code, headers, body)


def _dechunk(data):
    out = []
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(data[:size])
        data = data[size + 2:]
    return b"".join(out)


async def send(base_url, method, target, headers=None, body=b"", **options):
    """Build a request (``request_bytes``) and send it raw → RawReply."""
    return await raw_request(base_url, request_bytes(method, target, headers, body, **options))
