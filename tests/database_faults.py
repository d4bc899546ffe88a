"""What the database-fault tests drive: an on-disk SecantusDB that can be killed and
started again on its port and path, a delaying TCP proxy, and a prober of ``/healthz``.

``DiskDatabase(binary, path)``: ``start()`` (on the same port every time), ``kill()``
(SIGKILL).  ``DelayProxy(target_port, delay)``: forwards 127.0.0.1 connections to the
target, each chunk ``delay`` seconds late in each direction (order kept), in a thread.
``CuttingProxy(target_port)`` forwards them reading the MongoDB wire messages, and
``cut(match, down, reply)`` drops every connection at the first command ``match`` accepts
(before it reaches the server, or, with ``reply``, after the server answered it) and refuses
connections for ``down`` seconds.
``Creator`` creates tasks steadily (retrying a 503 with its ``Idempotency-Key``);
``slow_database_run`` is the slow-database scenario (the test and ``bench/db_slow.py``).
``Prober(url, path)`` fetches a path every ``every`` seconds with a 1 s client timeout and
keeps ``(seconds, status)`` for each (status None: no answer within the second).
"""

import asyncio
import http.client
import json
import os
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import bson
import tornado.testing

from tests.field_agent import FieldAgent
from tests.processes import ServerProcess, wait_until
from tests.test_field_agent import ADMIN, Server


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
        self._writers = []
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
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def close(self):
        async def shut():  # every connection aborted, so that each task ends by itself (none cancelled)
            self.server.close()
            for writer in self._writers:
                writer.transport.abort()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            if tasks:
                await asyncio.wait(tasks, timeout=5)

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


OP_MSG = 2013


def _command(body):
    """The command document of an OP_MSG (its body section, after the flag bits), or {}."""
    if len(body) < 9 or body[4] != 0:
        return {}
    length = struct.unpack_from("<i", body, 5)[0]
    try:
        return bson.decode(bytes(body[5:5 + length]))
    except Exception:
        return {}


class CuttingProxy:
    """127.0.0.1:``port`` → 127.0.0.1:``target``, message by message.  ``cut(match, down,
    reply)``: the first client command (an OP_MSG's document) for which ``match`` is true is
    not sent on, and every connection is aborted, or, with ``reply``, it is sent and its
    answer is not: the server did it, the client never hears; then connections are refused
    for ``down`` seconds.  ``cuts``: the commands cut so far."""

    def __init__(self, target):
        self.target, self.port = target, free_port()
        self.loop = asyncio.new_event_loop()
        self.cuts = []
        self._armed = None
        self._down_until = 0.0
        self._transports = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def cut(self, match, down=0.0, reply=False):
        self.loop.call_soon_threadsafe(setattr, self, "_armed", (match, down, reply))

    @property
    def refusing(self):
        """Whether connections are still refused after a cut."""
        return self.loop.time() < self._down_until

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self.loop.run_forever()

    def _abort_all(self, down):
        self._down_until = self.loop.time() + down
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    @staticmethod
    async def _message(reader):
        header = await reader.readexactly(16)
        length, request_id, response_to, opcode = struct.unpack("<iiii", header)
        return header, await reader.readexactly(length - 16), request_id, response_to, opcode

    async def _serve(self, reader, writer):
        if self.loop.time() < self._down_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._transports |= {writer.transport, up_writer.transport}
        unanswered = {}  # request id → seconds down: a command whose answer is dropped

        async def to_server():
            while True:
                header, body, request_id, _to, opcode = await self._message(reader)
                armed = self._armed
                if armed is not None and opcode == OP_MSG and armed[0](command := _command(body)):
                    self._armed = None
                    self.cuts.append(command)
                    if not armed[2]:
                        self._abort_all(armed[1])
                        return
                    unanswered[request_id] = armed[1]
                up_writer.write(header + body)
                await up_writer.drain()

        async def to_client():
            while True:
                header, body, _id, response_to, _op = await self._message(up_reader)
                if response_to in unanswered:
                    self._abort_all(unanswered.pop(response_to))
                    return
                writer.write(header + body)
                await writer.drain()

        async def pipe(direction):
            try:
                await direction()
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                pass
            writer.transport.abort()
            up_writer.transport.abort()

        await asyncio.gather(pipe(to_server), pipe(to_client))
        self._transports -= {writer.transport, up_writer.transport}

    def close(self):
        async def shut():
            self.server.close()
            self._abort_all(0)
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            if tasks:
                await asyncio.wait(tasks, timeout=5)

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


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


def call(url, path, method="GET", body=None, headers=None, timeout=30):
    """(status, JSON body or None, headers) of one admin call; status None: no answer."""
    request = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                     method=method, headers={"Authorization": f"Bearer {ADMIN}",
                                                             "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null"), dict(error.headers)
    except OSError:
        return None, None, {}


def server_on(uri, tmp_path, query="", **env):
    return ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5",
                              "MONGODB_URI": f"{uri}/toolbox_faults_{uuid.uuid4().hex[:8]}{query}",
                              "TOOLBOX_AGENT_REFRESH": "0.5", "TOOLBOX_DB_TIMEOUT": "2",
                              "TOOLBOX_OFFLINE_AFTER": "30", **env}, cwd=tmp_path)


class Creator:
    """Creates one task every ``every`` seconds through ``POST /api/tasks`` (each with an
    ``Idempotency-Key``, tried again on a 503 with the same key) until stopped."""

    def __init__(self, url, agents, every=0.2):
        self.url, self.agents, self.every = url, agents, every
        self.created = {}  # task id → expected output
        self.statuses = []
        self.seconds = []  # how long each creation took to answer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        for n in range(500):  # bounded
            if self._stop.is_set():
                return
            agent = self.agents[n % len(self.agents)]
            body, key = {"agents": [agent], "command": f"echo made-{n}"}, uuid.uuid4().hex
            for _ in range(30):  # a refused creation is sent again, as a client would
                sent = time.monotonic()
                status, reply, _headers = call(self.url, "/api/tasks", "POST", body, {"Idempotency-Key": key},
                                               timeout=15)
                self.seconds.append(time.monotonic() - sent)
                self.statuses.append(status)
                if status == 201:
                    self.created[reply["items"][0]["task_id"]] = f"made-{n}"
                    break
                if self._stop.wait(0.5):
                    return
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._thread.join(30)


def unfinished(url, ids):
    states = {task_id: call(url, f"/api/tasks/{task_id}")[1] for task_id in ids}
    return [t for t in states.values() if not t or t.get("state") in ("queued", "dispatched")]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else None


def slow_database_run(binary, workdir, delay=0.15, workers=None, agents=5, seconds=12.0, every=0.2,
                      max_pending=8, burst=40):
    """A server on a SecantusDB ``delay`` seconds away each way (``DelayProxy``), ``agents``
    field agents, a task every ``every`` seconds for ``seconds``, ``/healthz`` and
    ``/metrics`` probed every 0.25 s, then ``burst`` list requests at once; the figures."""
    database = DiskDatabase(binary, workdir).start()
    proxy = DelayProxy(database.port, delay)
    env = {"TOOLBOX_DB_SLOW": "0.1", "TOOLBOX_MAX_PENDING": str(max_pending)}
    if workers:
        env["MOTOR_MAX_WORKERS"] = str(workers)
    # directConnection: SecantusDB names itself (its own port) in its hello, and a client
    # that discovers would go round the proxy
    process = server_on(f"mongodb://127.0.0.1:{proxy.port}", workdir, "?directConnection=true", **env)
    server = Server(process)
    names = [f"slow-{n}" for n in range(agents)]
    field = []
    try:
        tokens = {name: server.agent(name) for name in names}
        field = [FieldAgent(server.url, name, tokens[name], interval=1.0).start() for name in names]
        health = Prober(server.url).start()
        metrics = Prober(server.url, "/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).start()
        creator = Creator(server.url, names, every=every).start()
        memory, started = [], time.monotonic()
        while time.monotonic() - started < seconds:
            memory.append(rss_mib(process.proc.pid))
            time.sleep(1.0)
        creator.stop()
        states = [call(server.url, "/healthz", timeout=5)[1] for _ in range(1)]
        shed, threads = [], [threading.Thread(target=lambda: shed.append(call(server.url, "/api/tasks?limit=5")[0]))
                             for _ in range(burst)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        health_answers, metrics_answers = health.stop(), metrics.stop()
        done = wait_until(lambda: not unfinished(server.url, creator.created), timeout=40)
        memory.append(rss_mib(process.proc.pid))
        exposition = urllib.request.urlopen(urllib.request.Request(
            server.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN}"}), timeout=10).read().decode()
        return {"health": health_answers, "metrics": metrics_answers, "creations": creator.statuses,
                "created": creator.created, "create_seconds": creator.seconds, "done": bool(done),
                "fetched": {agent.name: list(agent.fetched) for agent in field},
                "crashed": [agent.crashed for agent in field if agent.crashed], "memory_mib": memory,
                "burst": shed, "state": states[-1], "exposition": exposition, "lines": process.lines}
    finally:
        for agent in field:
            agent.kill()
        try:
            assert process.stop() == 0
        finally:
            proxy.close()
            database.close()
