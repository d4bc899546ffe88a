"""An emulation of the Go agent deployed in the field, as ``shared/legacy-agent.md`` describes it.

It is built to fail the way the real one fails, so tests can show the server copes:

- it fires a fetch every ``interval`` seconds (1 s in the field), each in its own thread,
  without waiting for the previous one and with no client timeout (2);
- a fetch that gets a task hands the id and the command on through **one-slot queues**:
  ids in one, commands in another; the runner starts every command as soon as it takes
  it (commands run side by side), each output goes into a third one-slot queue as it
  finishes, and the reporter pairs "the next id" with "the next output" (2b) — so two
  tasks handed out at once come back crossed whenever the second finishes first;
- commands are split on whitespace and run without a shell; only stdout is kept, and
  all whitespace is collapsed into single spaces (3);
- a command that exits non-zero, or a request that is refused, reset or closed without
  an answer, makes the agent "crash": every thread stops and every open connection is
  closed at once, as the process's death would (2c, 3);
- bodies are built by string concatenation, without escaping (1, 4); only the status
  of a report is read;
- every request carries Go's default ``User-Agent: Go-http-client/1.1`` (net/http sets it;
  the agent sets no header of its own but ``Authorization`` and ``Content-Type``).

``run_prefix`` (tests only, not the agent's) goes before each command's argv, e.g.
``field_servers.empty_network()`` to run the commands where no packet can leave.

``FieldAgent(url, name, token).start()``; ``.crashed`` says why it died, if it did;
``.kill()`` ends it as ``kill -9`` would; ``.stop()`` ends it the same way (the Go agent
has no clean stop).  Only 127.0.0.1 is ever contacted.
"""

import http.client
import queue
import socket
import subprocess
import threading
import urllib.parse


GO_USER_AGENT = "Go-http-client/1.1"


class Crashed(Exception):
    """The emulated agent died (its reason is the message)."""


class FieldAgent:
    def __init__(self, url, name, token, interval=1.0, servers=None, run_prefix=()):
        self.name, self.token, self.interval = name, token, interval
        self.run_prefix = list(run_prefix)
        # Several server URLs are used in turn, as behind a round-robin load balancer.
        self.servers = [urllib.parse.urlsplit(u) for u in (servers or [url])]
        for server in self.servers:
            assert server.hostname == "127.0.0.1", "tests only ever reach 127.0.0.1"
        self.ids, self.commands, self.outputs = queue.Queue(1), queue.Queue(1), queue.Queue(1)
        self.reported = []  # (task_id, output, status) in the order they were sent
        self.fetched = []  # task ids handed out, in order
        self.crashed = None
        self._dead = threading.Event()
        self._connections = set()
        self._lock = threading.Lock()
        self._turn = 0
        self._threads = []

    # --- life ---

    def start(self):
        """Register (only the status is read), then fetch, run and report until it dies."""
        body = '{"name":"' + self.name + '",\n\t"token":"' + self.token + '"}'
        status = self._request("POST", "/agent/new", body, {"Content-Type": "application/json"})[0]
        if status != 200:
            raise AssertionError(f"registration refused: {status}")
        for target in (self._fetch_loop, self._runner, self._reporter):
            thread = threading.Thread(target=self._guard(target), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def kill(self, reason="killed"):
        """Die as a killed process does: every connection closed, nothing more sent."""
        with self._lock:
            if self.crashed is None:
                self.crashed = reason
            self._dead.set()
            connections = list(self._connections)
        for conn in connections:
            sock = getattr(conn, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            conn.close()

    stop = kill

    @property
    def alive(self):
        return not self._dead.is_set()

    def _guard(self, target):
        def run():
            try:
                target()
            except Crashed as crash:
                self.kill(str(crash))
        return run

    # --- HTTP, one connection per request (Go's client would reuse them; the server
    # sees the same requests) ---

    def _request(self, method, path, body=None, headers=None):
        with self._lock:
            server = self.servers[self._turn % len(self.servers)]
            self._turn += 1
        conn = http.client.HTTPConnection(server.hostname, server.port)  # no timeout, as in Go
        with self._lock:
            if self._dead.is_set():
                raise Crashed(self.crashed)
            self._connections.add(conn)
        try:
            conn.request(method, path, body=body.encode() if body is not None else None,
                         headers={"User-Agent": GO_USER_AGENT, **(headers or {}), "Authorization": self.token})
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            if self._dead.is_set():
                raise Crashed(self.crashed) from None
            raise Crashed(f"{method} {path}: {error!r}") from None  # 2c: a failed request is a panic
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    # --- the three goroutines ---

    def _fetch_loop(self):
        while not self._dead.wait(self.interval):
            threading.Thread(target=self._guard(self._fetch), daemon=True).start()

    def _fetch(self):
        import json

        status, body = self._request("GET", "/agent/task?agent_name=" + urllib.parse.quote(self.name))
        if status != 200:
            return  # logged and ignored
        reply = json.loads(body)
        task_id, command = int(reply.get("task_id") or 0), reply.get("command") or ""
        if task_id == 0 or not command:
            return
        self.fetched.append(task_id)
        self._put(self.ids, task_id)
        self._put(self.commands, command)

    def _runner(self):
        while True:
            command = self._get(self.commands)
            threading.Thread(target=self._guard(lambda: self._run(command)), daemon=True).start()

    def _run(self, command):
        proc = subprocess.run(self.run_prefix + command.split(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL)
        if self._dead.is_set():
            return
        if proc.returncode != 0:
            raise Crashed(f"{command!r} exited {proc.returncode}")
        output = " ".join(proc.stdout.decode("utf-8", "replace").split())
        self._put(self.outputs, output)

    def _reporter(self):
        while True:
            task_id = self._get(self.ids)
            output = self._get(self.outputs)
            body = ('{"name":"' + self.name + '",\n\t"task_id":' + str(task_id)
                    + ',\n\t"result":"' + output + '"}')
            status = self._request("POST", "/agent/task", body, {"Content-Type": "application/json"})[0]
            self.reported.append((task_id, output, status))

    # --- channels that give up when the process is dead ---

    def _put(self, channel, item):
        while True:
            try:
                channel.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._dead.is_set():
                    raise Crashed(self.crashed) from None

    def _get(self, channel):
        while True:
            try:
                return channel.get(timeout=0.1)
            except queue.Empty:
                if self._dead.is_set():
                    raise Crashed(self.crashed) from None

