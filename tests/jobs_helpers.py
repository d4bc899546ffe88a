"""The in-process tests' agent, waiting and settling.

The agent stand-ins of the suite, one per purpose:

- ``FakeAgent`` (here): the in-process tests' one well-behaved agent.  It speaks the agent
  protocol (``/agent/new``, ``/agent/task``) through the ``api`` fixture, the way a
  deployed agent does; ``fake_agent`` (conftest.py) makes one with the admin API.
- ``FieldAgent`` (tests/field_agent.py): the Go agent deployed in the field, emulated with
  its faults (unescaped bodies, crossed results, crashes) against a real server process.
- ``AgentProcess`` (tests/processes.py): the real ``toolbox-agent``, run as a process.
- ``RecordedAgent`` (tests/console_scenes.py): answers tasks with recorded outputs for the
  browser tests' scenes; synchronous, since those tests drive the browser from threads.

Hostile tests that send malformed bytes over raw sockets (tests/raw_http.py) are
attackers, not agents, and speak for themselves; tests of real server processes
(test_end_to_end.py, test_shared_database.py) send the one exact agent request they
need with urllib, from their threads.

Waiting: ``wait_for`` (async, here) is the in-process tests' one polling wait;
``tests.processes.wait_until`` its synchronous twin for tests that drive real processes
from threads; ``settle()`` the one way to let the loop run what is already scheduled.
"""

import asyncio
import inspect
import json

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
    """Fetches tasks and posts results through ``/agent/task``, as a deployed agent does.

    ``fetch()`` and ``post()`` are the agent that works (they assert a 200); ``fetch_reply()``
    and ``post_reply(body)`` return the whole ``Reply`` for tests of refusals, with
    ``authorization=`` for another credential (``"Bearer ..."``, a wrong token) and
    ``body`` a dict (sent as JSON) or the raw ``str``/``bytes`` an agent may send.
    """

    def __init__(self, api, name, token):
        self.api, self.name, self.token = api, name, token

    def register(self, **options):
        """``POST /agent/new`` with the name and token → the ``Reply``."""
        return self.api("/agent/new", "POST", token=None, json={"name": self.name, "token": self.token},
                        **options)

    def fetch_reply(self, authorization=None, **options):
        """One long poll → the ``Reply`` (``options``: the ``api`` fixture's, e.g. ``request_timeout``)."""
        return self.api(f"/agent/task?agent_name={self.name}", token=None,
                        headers={"Authorization": authorization or self.token}, **options)

    async def fetch(self):
        """One long poll: the task dict, or None for the empty reply."""
        reply = await self.fetch_reply()
        assert reply.code == 200, reply.json
        return reply.json if reply.json["task_id"] else None

    def post_reply(self, body, authorization=None, **options):
        """``POST /agent/task`` with ``body`` as it is (a dict is sent as JSON) → the ``Reply``."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return self.api("/agent/task", "POST", token=None, body=body,
                        headers={"Authorization": authorization or self.token,
                                 "Content-Type": "application/json"}, **options)

    async def post(self, task_id, result, exit_code=0):
        """Post a task's result as the agent that works → the reply's JSON."""
        reply = await self.post_reply({"name": self.name, "task_id": task_id, "result": result,
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
