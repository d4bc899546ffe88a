"""A minimal HTTP/1.1 client on asyncio streams: cheap enough for 15,000 connections per process.

It speaks just what the benchmarks need: keep-alive requests with a Content-Length
body, and responses with a Content-Length (toolBox and Tornado always send one here).
"""

import asyncio
import json


class HTTPConnection:
    """One keep-alive connection; ``send`` then ``response``, or ``request`` for both."""

    __slots__ = ("reader", "writer", "host_header")

    def __init__(self, reader, writer, host, port):
        self.reader, self.writer = reader, writer
        self.host_header = f"Host: {host}:{port}\r\n"

    @classmethod
    async def open(cls, host, port):
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, host, port)

    def send(self, method, path, headers=None, body=None):
        head = [f"{method} {path} HTTP/1.1\r\n", self.host_header]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}\r\n")
        if body is not None:
            head.append(f"Content-Length: {len(body)}\r\n")
        head.append("\r\n")
        data = "".join(head).encode()
        self.writer.write(data + body if body else data)

    async def response(self):
        """(status, body bytes) of the next response on this connection."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        start = lower.find(b"\r\ncontent-length:")
        length = 0
        if start >= 0:
            end = lower.find(b"\r\n", start + 2)
            length = int(head[start + 17:end])
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    async def request(self, method, path, headers=None, body=None):
        self.send(method, path, headers, body)
        return await self.response()

    async def json(self, method, path, headers=None, data=None):
        """Send ``data`` as JSON; return (status, parsed JSON body)."""
        body = None if data is None else json.dumps(data).encode()
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = "application/json"
        status, raw = await self.request(method, path, headers, body)
        return status, (json.loads(raw) if raw else None)

    def close(self):
        try:
            self.writer.close()
        except Exception:  # already gone
            pass


def fetch_path(agent):
    return f"/agent/task?agent_name={agent}"


def result_body(agent, task_id):
    return json.dumps({"name": agent, "task_id": task_id, "result": "ok", "exit_code": 0}).encode()
