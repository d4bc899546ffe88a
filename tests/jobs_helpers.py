"""Helpers for the job tests: a fake agent speaking the real agent protocol, and waiting."""

import asyncio
import inspect

PING_OUTPUT = (
    "PING 93.184.216.34 (93.184.216.34) 56(84) bytes of data.\n"
    "64 bytes from 93.184.216.34: icmp_seq=1 ttl=56 time=11.6 ms\n"
    "64 bytes from 93.184.216.34: icmp_seq=2 ttl=56 time=11.4 ms\n"
    "64 bytes from 93.184.216.34: icmp_seq=3 ttl=56 time=11.5 ms\n"
    "64 bytes from 93.184.216.34: icmp_seq=4 ttl=56 time=11.4 ms\n"
    "\n"
    "--- 93.184.216.34 ping statistics ---\n"
    "4 packets transmitted, 4 received, 0% packet loss, time 3004ms\n"
    "rtt min/avg/max/mdev = 11.387/11.474/11.612/0.088 ms\n"
)


class FakeAgent:
    """Fetches tasks and posts results through ``/agent/task``, as a deployed agent does."""

    def __init__(self, api, name, token):
        self.api, self.name, self.token = api, name, token

    async def fetch(self):
        """One long poll: the task dict, or None for the empty reply."""
        reply = await self.api(f"/agent/task?agent_name={self.name}", token=None,
                               headers={"Authorization": self.token})
        assert reply.code == 200, reply.json
        return reply.json if reply.json["task_id"] else None

    async def post(self, task_id, result, exit_code=0):
        reply = await self.api("/agent/task", "POST", token=None, headers={"Authorization": self.token},
                               json={"name": self.name, "task_id": task_id, "result": result,
                                     "exit_code": exit_code, "duration_ms": 3004})
        assert reply.code == 200, reply.json
        return reply.json


async def wait_for(predicate, timeout=10.0, step=0.01):
    """Poll ``predicate`` (a function, or a coroutine function) until it is true: True, or
    False after about ``timeout`` seconds (a bound, not an expectation; bounded in count).
    The tests' one async wait: ``assert await wait_for(...)``.  (Tests that drive real
    processes from threads use ``tests.processes.wait_until``.)"""
    for _ in range(int(timeout / step)):
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return True
        await asyncio.sleep(step)
    return False


async def settle():
    """Let what is already scheduled on the loop run (job saves, websocket writes).  The
    tests' one way to let the loop settle."""
    for _ in range(5):
        await asyncio.sleep(0)


async def events_of(app, prefix):
    """The events of the live feed whose type starts with ``prefix``, once every event
    published so far is in it (with a shared database they come back through it)."""
    await settle()
    await app.toolbox.events.caught_up()
    return [event for event in app.toolbox.events.buffer if event["type"].startswith(prefix)]
