"""The bare-Tornado baseline: toolBox's HTTP round trips with none of toolBox's logic.

It answers the same requests the load generators send to toolBox, with the same
shapes: ``POST /api/agents`` (a token per name, kept in a dict), ``GET /agent/task``
(a long poll parked on a per-request future, woken at once when a task is queued;
a newer fetch of the same agent answers the older one; a timer ends it), ``POST
/api/tasks`` (ids from a counter, per-agent queues in memory) and ``POST /agent/task``
(the result is kept in a dict and a small JSON ``{"type": "task.done", "data": {"task_id"}}``
is written to every websocket open on ``GET /api/ws``, after a ``hello``).  No database,
no event hub, no audit, no validation.

Run: ``python -m bench.baseline --port 0 --admin-token T --poll-timeout 600``.
"""

import argparse
import asyncio
import collections
import gc
import itertools
import json
import secrets
import signal

from tornado import web, websocket

EMPTY = b'{"task_id":0,"command":""}'


class State:
    def __init__(self, admin_token, poll_timeout):
        self.admin = "Bearer " + admin_token
        self.poll_timeout = poll_timeout
        self.tokens = {}
        self.queues = collections.defaultdict(collections.deque)
        self.parked = {}  # agent -> future of its parked fetch
        self.ids = itertools.count(1)
        self.results = {}
        self.consoles = set()

    def broadcast(self, text):
        for console in list(self.consoles):
            try:
                console.write_message(text)
            except websocket.WebSocketClosedError:
                self.consoles.discard(console)

    def wake(self, agent):
        future = self.parked.get(agent)
        if future is not None and not future.done():
            future.set_result(True)


class Handler(web.RequestHandler):
    def initialize(self, state):
        self.state = state
        self.future = None

    def send_json(self, data, status=200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(data if isinstance(data, bytes) else json.dumps(data))


class AgentsHandler(Handler):
    def post(self):
        if self.request.headers.get("Authorization") != self.state.admin:
            raise web.HTTPError(401)
        name = json.loads(self.request.body)["name"]
        token = secrets.token_urlsafe(32)
        self.state.tokens[name] = token
        self.send_json({"name": name, "token": token}, 201)


class TasksHandler(Handler):
    def post(self):
        if self.request.headers.get("Authorization") != self.state.admin:
            raise web.HTTPError(401)
        body = json.loads(self.request.body)
        items = []
        for agent in body["agents"]:
            task_id = next(self.state.ids)
            self.state.queues[agent].append((task_id, body["command"]))
            self.state.wake(agent)
            items.append({"task_id": task_id, "agent": agent, "state": "queued"})
        self.send_json({"items": items}, 201)


class JobsHandler(TasksHandler):
    """``POST /api/jobs``: the same queueing; the answer lists the tasks as a job does."""

    def post(self):
        if self.request.headers.get("Authorization") != self.state.admin:
            raise web.HTTPError(401)
        body = json.loads(self.request.body)
        tasks = []
        for agent in body["agents"]:
            task_id = next(self.state.ids)
            self.state.queues[agent].append((task_id, "ping -c 1 " + body["params"]["target"]))
            self.state.wake(agent)
            tasks.append({"task_id": task_id, "agent": agent, "state": "queued"})
        self.send_json({"job_id": 1, "tool": body["tool"], "tasks": tasks}, 201)


class AgentTaskHandler(Handler):
    async def get(self):
        state, agent = self.state, self.get_query_argument("agent_name")
        if state.tokens.get(agent) != self.request.headers.get("Authorization"):
            raise web.HTTPError(401)
        queue = state.queues[agent]
        if not queue:
            previous = state.parked.get(agent)
            if previous is not None and not previous.done():
                previous.set_result(False)  # superseded
            loop = asyncio.get_running_loop()
            self.future = future = loop.create_future()
            state.parked[agent] = future
            timer = loop.call_later(state.poll_timeout, future.cancel)
            try:
                woken = await future
            except asyncio.CancelledError:
                woken = False
            finally:
                timer.cancel()
                if state.parked.get(agent) is future:
                    del state.parked[agent]
            if not woken or not queue or self.request.connection.stream.closed():
                if not self.request.connection.stream.closed():
                    self.send_json(EMPTY)
                return
        task_id, command = queue.popleft()
        self.send_json({"task_id": task_id, "command": command})

    def on_connection_close(self):
        if self.future is not None and not self.future.done():
            self.future.cancel()

    def post(self):
        report = json.loads(self.request.body)
        if self.state.tokens.get(report["name"]) != self.request.headers.get("Authorization"):
            raise web.HTTPError(401)
        self.state.results[report["task_id"]] = report["result"]
        if self.state.consoles:
            self.state.broadcast(json.dumps({"type": "task.done", "data": {"task_id": report["task_id"]}}))
        self.send_json({"status": True, "task_id": report["task_id"]})


class ConsoleHandler(websocket.WebSocketHandler):
    """``GET /api/ws`` (admin token): a hello, then one small JSON per stored result."""

    def initialize(self, state):
        self.state = state

    async def get(self, *args, **kwargs):
        if self.request.headers.get("Authorization") != self.state.admin:
            raise web.HTTPError(401)
        await super().get(*args, **kwargs)

    def open(self):
        self.write_message('{"type":"hello","seq":0}')
        self.state.consoles.add(self)

    def on_close(self):
        self.state.consoles.discard(self)


async def serve(port, admin_token, poll_timeout, freeze):
    state = State(admin_token, poll_timeout)
    app = web.Application([
        (r"/api/agents", AgentsHandler, {"state": state}),
        (r"/api/tasks", TasksHandler, {"state": state}),
        (r"/api/jobs", JobsHandler, {"state": state}),
        (r"/agent/task", AgentTaskHandler, {"state": state}),
        (r"/api/ws", ConsoleHandler, {"state": state}),
    ])
    server = app.listen(port, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    if freeze:
        gc.collect()
        gc.freeze()
    print(f"baseline: listening on http://127.0.0.1:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--poll-timeout", type=float, default=600.0)
    parser.add_argument("--no-freeze", action="store_true", help="skip gc.freeze() after start-up")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.admin_token, args.poll_timeout, not args.no_freeze))


if __name__ == "__main__":
    main()
