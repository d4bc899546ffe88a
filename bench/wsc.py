"""A minimal websocket client on an asyncio Protocol: cheap enough for 1,000 consoles per process.

The load generators only listen: they read the server's text frames (unmasked, not
fragmented, no compression: what Tornado sends when none is negotiated), answer pings
(the server's keepalive) and note each message's arrival time as the bytes come in.
Tornado's own client costs several coroutine steps per message, which on a shared
two-core machine shows up in the very latencies being measured.
"""

import asyncio
import base64
import os
import struct
import time


class ConsoleProtocol(asyncio.Protocol):
    """One websocket; ``on_message(payload_bytes, t_arrived)`` for each text frame."""

    def __init__(self, on_message, request):
        self.on_message = on_message
        self.request = request
        self.buffer = bytearray()
        self.transport = None
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.close_code = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"closed before the upgrade: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def data_received(self, data):
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        if not self.upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            del buffer[:end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
                self.transport.close()
                return
            self.upgraded.set_result(True)
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, offset = struct.unpack_from(">H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, offset = struct.unpack_from(">Q", buffer, 2)[0], 10
            if second & 0x80 or not first & 0x80:
                raise ConnectionError("masked or fragmented frame from the server")
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset:offset + length])
            del buffer[:offset + length]
            opcode = first & 0x0F
            if opcode == 0x1:
                self.on_message(payload, now)
            elif opcode == 0x9:
                self._send(0xA, payload)  # pong
            elif opcode == 0x8:
                self.close_code = struct.unpack_from(">H", payload)[0] if len(payload) >= 2 else None
                self.transport.close()
                return

    def _send(self, opcode, payload):
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack(">H", 1000))
            self.transport.close()


async def connect(host, port, path, headers, on_message, timeout=30):
    """Open a websocket; return its ``ConsoleProtocol`` once the server has upgraded it."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: ConsoleProtocol(on_message, request), host, port)
    await asyncio.wait_for(protocol.upgraded, timeout)
    return protocol
