"""Load-generator coroutines; each runs in its own process (``procs.Worker``).

They talk to toolBox and to the baseline alike (same paths, same bodies).  Times are
``time.monotonic()``, which is one clock for every process on the machine, so a
create time taken in one process and a receive time taken in another compare.
"""

import asyncio
import gc
import json
import time

from tornado import httpclient, websocket

from bench import wsc
from bench.httpc import HTTPConnection, fetch_path, result_body

OPEN_CONCURRENCY = 64  # connection attempts in flight: stay under the listen backlog (128)


async def finish_posting(tasks, posting, timeout=10.0):
    """Stop agent coroutines, but let those holding a task post its result first.

    A real agent always reports the task it was handed; one cut off mid-task would
    keep its agent busy (one task in flight per agent) into the next scenario.
    """
    for task in tasks:
        if task not in posting:
            task.cancel()
    holding = [task for task in tasks if task in posting and not task.done()]
    if holding:  # each posts, then fetches again: cancel it once its result is in
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and any(task in posting for task in holding if not task.done()):
            await asyncio.sleep(0.01)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def create_agents(ctl, host, port, admin_token, names, concurrency=16):
    """POST /api/agents once per name; return {"tokens": {name: token}, "seconds": s}."""
    tokens, pending = {}, iter(names)
    auth = {"Authorization": f"Bearer {admin_token}"}

    async def one_connection():
        conn = await HTTPConnection.open(host, port)
        for name in pending:
            status, body = await conn.json("POST", "/api/agents", auth, {"name": name})
            if status != 201:
                raise RuntimeError(f"creating agent {name}: {status} {body}")
            tokens[name] = body["token"]
        conn.close()

    start = time.monotonic()
    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return {"tokens": tokens, "seconds": time.monotonic() - start}


async def _open_all(host, port, count):
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one():
        async with gate:
            return await HTTPConnection.open(host, port)

    return await asyncio.gather(*(one() for _ in range(count)))


async def park_and_hold(ctl, host, port, agents):
    """Park one fetch per (name, token); report, hold until told, then report early answers."""
    start = time.monotonic()
    conns = await _open_all(host, port, len(agents))
    for conn, (name, token) in zip(conns, agents):
        conn.send("GET", fetch_path(name), {"Authorization": token})
    waiting = [asyncio.ensure_future(conn.response()) for conn in conns]
    ctl.send(("parked", {"count": len(conns), "seconds": time.monotonic() - start}))
    await ctl.recv()  # the harness has measured
    answered = sum(1 for future in waiting if future.done())
    failed = sum(1 for future in waiting if future.done() and future.exception() is not None)
    for future in waiting:
        future.cancel()
    for conn in conns:
        conn.close()
    await asyncio.sleep(0.1)
    return {"answered_early": answered, "failed": failed}


async def agents_loop(ctl, host, port, agents, post_results=True):
    """Agents that fetch, take a task, post its result at once and fetch again.

    Sends ("parked", n) once every first fetch is sent; answers "count" with
    ("count", results posted so far); runs until told to stop; returns receipts
    [(task_id, t_received)] and stores [(task_id, t_stored)].
    """
    received, stored, errors = [], [], []
    posting = set()

    async def agent(conn, name, token):
        auth = {"Authorization": token}
        path = fetch_path(name)
        while True:
            posting.discard(asyncio.current_task())
            conn.send("GET", path, auth)
            status, body = await conn.response()
            now = time.monotonic()
            if status != 200:
                errors.append(f"fetch {status}")
                await asyncio.sleep(0.5)
                continue
            task_id = json.loads(body)["task_id"]
            if not task_id:
                continue
            received.append((task_id, now))
            if post_results:
                posting.add(asyncio.current_task())
                status, _ = await conn.request("POST", "/agent/task", auth, result_body(name, task_id))
                if status != 200:
                    errors.append(f"result {status}")
                stored.append((task_id, time.monotonic()))

    conns = await _open_all(host, port, len(agents))
    tasks = [asyncio.ensure_future(agent(conn, name, token)) for conn, (name, token) in zip(conns, agents)]
    await asyncio.sleep(0)
    ctl.send(("parked", len(tasks)))
    while await ctl.recv() == "count":  # the harness waits for results: how many are in so far
        ctl.send(("count", len(stored)))
    crashed = [task for task in tasks if task.done() and task.exception() is not None]
    await finish_posting(tasks, posting)
    for conn in conns:
        conn.close()
    errors += [repr(task.exception()) for task in crashed[:5]]
    return {"received": received, "stored": stored, "errors": errors, "cpu_s": time.process_time()}


async def create_tasks(ctl, host, port, admin_token, batches, gap, until=None, job=False):
    """POST /api/tasks for each batch of agent names, ``gap`` seconds apart (until ``until``).

    With ``job``, each batch is one ``POST /api/jobs`` (ping 127.0.0.1) instead.
    Returns [(task_ids, t_sent, t_answered)] per batch.
    """
    auth = {"Authorization": f"Bearer {admin_token}"}
    conn = await HTTPConnection.open(host, port)
    records = []
    for batch in batches:
        sent = time.monotonic()
        if until is not None and sent >= until:
            break
        if job:
            status, body = await conn.json("POST", "/api/jobs", auth, {
                "tool": "ping", "params": {"target": "127.0.0.1"}, "agents": batch})
        else:
            status, body = await conn.json("POST", "/api/tasks", auth, {"agents": batch, "command": "echo ok"})
        answered = time.monotonic()
        if status != 201:
            raise RuntimeError(f"creating tasks: {status} {body}")
        items = body["tasks"] if job else body["items"]
        records.append(([item["task_id"] for item in items], sent, answered))
        await asyncio.sleep(gap)
    conn.close()
    return records


async def legacy_fleet(ctl, host, port, agents, duration):
    """Agents like the legacy client: a new fetch every second, never waiting for the last.

    Each agent keeps a pool of idle keep-alive connections (like Go's http.Client) and
    opens a new one only when none is idle.  Returns received task ids, the most
    connections any agent had open, and errors.
    """
    received, errors = [], []
    most_open = [0]
    loop = asyncio.get_running_loop()
    end = loop.time() + duration
    posting = set()  # fetches that got a task: their result is posted even at the end

    async def fetch(conn, name, auth, pool, opened):
        try:
            status, body = await conn.request("GET", fetch_path(name), auth)
            if status != 200:
                errors.append(f"fetch {status}")
            task_id = json.loads(body)["task_id"] if status == 200 else 0
            if task_id:
                posting.add(asyncio.current_task())
                received.append(task_id)
                status, _ = await conn.request("POST", "/agent/task", auth, result_body(name, task_id))
                if status != 200:
                    errors.append(f"result {status}")
            pool.append(conn)
        except (OSError, asyncio.IncompleteReadError) as error:
            errors.append(repr(error))
            opened[0] -= 1
            conn.close()

    async def agent(index, name, token):
        auth, pool, inflight, opened = {"Authorization": token}, [], set(), [0]
        await asyncio.sleep(index % 1000 / 1000)  # spread the fleet over the second
        next_tick = loop.time()
        while next_tick < end:
            conn = pool.pop() if pool else None
            if conn is None:
                conn = await HTTPConnection.open(host, port)
                opened[0] += 1
                most_open[0] = max(most_open[0], opened[0])
            task = asyncio.ensure_future(fetch(conn, name, auth, pool, opened))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            next_tick += 1.0
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
        await finish_posting(list(inflight), posting)
        for conn in pool:
            conn.close()

    ctl.send(("started", len(agents)))
    await asyncio.gather(*(agent(i, name, token) for i, (name, token) in enumerate(agents)),
                         return_exceptions=False)
    return {"received": received, "most_open_per_agent": most_open[0], "errors": errors[:20],
            "error_count": len(errors)}


async def throughput(ctl, host, port, admin_token, agents, duration, warmup=1.0, window=200,
                     creators=4):
    """Instant agents plus creators keeping ``window`` tasks in flight; tasks done per second.

    A task is done when its ``task.done`` event reaches a console websocket (``GET
    /api/ws`` with the admin token) that is open throughout; the result POST being
    answered is counted too.  Counts only what finished between ``warmup`` and
    ``duration`` seconds.
    """
    auth_admin = {"Authorization": f"Bearer {admin_token}"}
    gate = asyncio.Semaphore(window)
    outstanding = [0]  # tasks created and not yet answered
    done_times, errors = [], []
    seen = {}  # task id -> when its task.done event arrived on the console
    names = [name for name, _ in agents]
    console = await open_console(host, port, admin_token)

    async def watch():
        while True:
            message = await console.read_message()
            if message is None:
                errors.append(f"console closed: {console.close_code} {console.close_reason}")
                return
            task_id = done_task_id(message)
            if task_id is not None:
                seen.setdefault(task_id, time.monotonic())

    posting = set()

    async def agent(conn, name, token):
        auth = {"Authorization": token}
        while True:
            posting.discard(asyncio.current_task())
            status, body = await conn.request("GET", fetch_path(name), auth)
            task_id = json.loads(body)["task_id"] if status == 200 else 0
            if not task_id:
                continue
            posting.add(asyncio.current_task())
            status, _ = await conn.request("POST", "/agent/task", auth, result_body(name, task_id))
            if status != 200:
                errors.append(f"result {status}")
            done_times.append(time.monotonic())
            outstanding[0] -= 1
            gate.release()

    stopping = []

    async def creator(conn, offset):
        turn = offset
        while not stopping:
            await gate.acquire()
            if stopping:
                return
            name = names[turn % len(names)]
            turn += creators
            status, body = await conn.json("POST", "/api/tasks", auth_admin,
                                           {"agents": [name], "command": "echo ok"})
            if status != 201:
                errors.append(f"create {status}")
                gate.release()
            else:
                outstanding[0] += 1

    conns = await _open_all(host, port, len(agents) + creators)
    jobs = [asyncio.ensure_future(watch())]
    jobs += [asyncio.ensure_future(agent(conn, name, token)) for conn, (name, token) in zip(conns, agents)]
    await asyncio.sleep(0.5)  # let every agent park
    start = time.monotonic()
    jobs += [asyncio.ensure_future(creator(conn, i)) for i, conn in enumerate(conns[len(agents):])]
    await asyncio.sleep(duration)
    crashed = [repr(job.exception()) for job in jobs if job.done() and job.exception() is not None]
    stopping.append(True)  # stop creating (a create under way completes), then let the agents
    for _ in range(len(jobs)):  # finish what is queued
        gate.release()  # wake creators waiting for room: they see ``stopping`` and return
    await asyncio.gather(*jobs[1 + len(agents):], return_exceptions=True)
    for _ in range(500):
        if outstanding[0] <= 0:  # every created task was answered
            break
        await asyncio.sleep(0.01)
    jobs[0].cancel()
    await finish_posting(jobs[1:1 + len(agents)], posting)
    for conn in conns:
        conn.close()
    console.close()
    window_of = lambda times: [t for t in times if start + warmup <= t <= start + duration]  # noqa: E731
    counted = window_of(seen.values())
    return {"done_per_second": len(counted) / (duration - warmup),
            "stored_per_second": len(window_of(done_times)) / (duration - warmup),
            "done": len(seen), "stored": len(done_times), "generator_cpu_s": time.process_time(),
            "errors": (errors + crashed)[:20], "error_count": len(errors) + len(crashed)}


# --- consoles: websockets on GET /api/ws ---

async def open_console(host, port, admin_token, timeout=30):
    """A console websocket (``GET /api/ws``, admin bearer token) that has said hello."""
    request = httpclient.HTTPRequest(f"ws://{host}:{port}/api/ws", request_timeout=timeout,
                                     headers={"Authorization": f"Bearer {admin_token}"})
    conn = await websocket.websocket_connect(request, max_message_size=1 << 20)
    hello = await conn.read_message()
    if hello is None or '"hello"' not in hello:
        conn.close()
        raise RuntimeError(f"console: expected hello, got {hello!r}")
    return conn


def done_task_id(message):
    """The task id of a ``task.done`` event (toolBox's or the baseline's), else None."""
    if message is None or '"task.done"' not in message:
        return None
    event = json.loads(message)
    return event["data"]["task_id"] if event.get("type") == "task.done" else None


async def consoles(ctl, host, port, admin_token, count):
    """Hold ``count`` open consoles; record when each ``task.done`` event reaches each.

    Uses ``bench.wsc`` (a frame parser on an asyncio Protocol, arrival time taken as
    the bytes come in).  Sends ("open", n) once all are open and have said hello;
    answers ("count", task ids) with ("count", how many of their task.done events all
    consoles received so far); runs until told to stop; returns {task_id: [receipt
    times, one per console]}.
    """
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    received, errors, hellos = {}, [], []
    headers = {"Authorization": f"Bearer {admin_token}"}

    def on_message(payload, now):
        if b'"task.done"' in payload:
            event = json.loads(payload)
            if event.get("type") == "task.done":
                received.setdefault(event["data"]["task_id"], []).append(now)
        elif b'"hello"' in payload:
            hellos.append(now)

    async def one():
        async with gate:
            return await wsc.connect(host, port, "/api/ws", headers, on_message)

    conns = await asyncio.gather(*(one() for _ in range(count)))
    while len(hellos) < count:
        await asyncio.sleep(0.01)
    # No collector pauses in the receiving process while measuring (it runs for seconds).
    gc.collect()
    gc.disable()
    ctl.send(("open", len(conns)))
    message = await ctl.recv()
    while isinstance(message, tuple) and message[0] == "count":
        ctl.send(("count", sum(len(received.get(task_id, ())) for task_id in message[1])))
        message = await ctl.recv()
    gc.enable()
    errors += [f"closed: {conn.close_code}" for conn in conns if conn.closed.done()]
    for conn in conns:
        conn.close()
    await asyncio.sleep(0.1)
    return {"received": received, "errors": errors[:20], "error_count": len(errors)}


async def post_results(ctl, host, port, admin_token, agent, tasks, gap, agent_port=None):
    """One agent: a task is created for it, fetched, and its result posted, ``gap`` s apart.

    With ``agent_port`` the agent fetches and posts through that server (another process
    on the same database) while the tasks are created through ``port``.
    Returns [(task_id, t_posted)]: the time just before the result POST was sent.
    """
    name, token = agent
    auth_admin, auth = {"Authorization": f"Bearer {admin_token}"}, {"Authorization": token}
    control = await HTTPConnection.open(host, port)
    conn = await HTTPConnection.open(host, agent_port) if agent_port else control
    posted = []
    for _ in range(tasks):
        status, body = await control.json("POST", "/api/tasks", auth_admin, {"agents": [name], "command": "echo ok"})
        if status != 201:
            raise RuntimeError(f"creating a task: {status} {body}")
        status, body = await conn.request("GET", fetch_path(name), auth)
        task_id = json.loads(body)["task_id"]
        await asyncio.sleep(gap / 2)  # the queued / dispatched events go out before the result
        sent = time.monotonic()
        status, _ = await conn.request("POST", "/agent/task", auth, result_body(name, task_id))
        if status != 200:
            raise RuntimeError(f"posting a result: {status}")
        posted.append((task_id, sent))
        await asyncio.sleep(gap / 2)
    conn.close()
    control.close()
    return posted
