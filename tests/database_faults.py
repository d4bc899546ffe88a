"""What the database-fault tests drive: an on-disk SecantusDB that can be killed and
started again on its port and path, a delaying TCP proxy, and a prober of ``/healthz``.

``DiskDatabase(binary, path)``: ``start()`` (on the same port every time), ``kill()``
(SIGKILL).  ``DelayProxy(target_port, delay)``: forwards 127.0.0.1 connections to the
target, each chunk ``delay`` seconds late in each direction (order kept), in a thread.
``Prober(url, path)`` fetches a path every ``every`` seconds with a 1 s client timeout and
keeps ``(seconds, status)`` for each (status None: no answer within the second).
"""

import asyncio
import http.client
import os
import socket
import subprocess
import threading
import time
import urllib.parse

import tornado.testing


def free_port():
    sock, port = tornado.testing.bind_unused_port()
    sock.close()
    return port


class DiskDatabase:
    """A SecantusDB on disk (``--sync-on-commit``): killed and started again on one port and path."""

    def __init__(self, binary, path):
        self.binary, self.path, self.port = binary, str(path), free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}"
        self.proc = None
        self.log = open(os.path.join(self.path, "secantusd.log"), "a")

    def start(self, timeout=30.0):
        self.proc = subprocess.Popen([self.binary, "--host", "127.0.0.1", "--port", str(self.port),
                                      "--storage-path", os.path.join(self.path, "data"), "--sync-on-commit",
                                      "--log-level", "WARNING"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"secantusd did not start (see {self.log.name})")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def close(self):
        self.kill()
        self.log.close()


class DelayProxy:
    """127.0.0.1:``port`` → 127.0.0.1:``target``, every chunk held ``delay`` seconds each way."""

    def __init__(self, target, delay):
        self.target, self.delay, self.port = target, delay, free_port()
        self.loop = asyncio.new_event_loop()
        self.connections = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self.loop.run_forever()

    async def _pipe(self, reader, writer):
        held = asyncio.Queue()

        async def send():
            while True:
                due, data = await held.get()
                if data is None:
                    break
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(send())
        try:
            while data := await reader.read(65536):
                held.put_nowait((self.loop.time() + self.delay, data))
        except (ConnectionError, OSError):
            pass
        held.put_nowait((0, None))
        try:
            await sender
        except (ConnectionError, OSError):
            pass

    async def _serve(self, reader, writer):
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def close(self):
        async def shut():
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class Prober:
    """GET ``path`` every ``every`` seconds (1 s client timeout) until ``stop``; ``answers``
    holds ``(seconds taken, status or None)``."""

    def __init__(self, url, path="/healthz", every=0.25, headers=None):
        self.url, self.path, self.every, self.headers = urllib.parse.urlsplit(url), path, every, headers or {}
        self.answers = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        for _ in range(2000):  # bounded: 2,000 probes at most
            if self._stop.is_set():
                return
            started = time.monotonic()
            status = None
            try:
                conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=1.0)
                conn.request("GET", self.path, headers=self.headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                conn.close()
            except OSError:
                pass
            self.answers.append((time.monotonic() - started, status))
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.answers
