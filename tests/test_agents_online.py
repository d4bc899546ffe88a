"""Online tracking: the offline sweep announces exactly the agents that stopped fetching."""

import datetime

import pytest

from toolbox import clock
from toolbox.core.dispatch.agents import AgentRegistry
from toolbox.server.config import Config
from toolbox.server.variants import parts_for
from toolbox.store.repos.agents import MemoryAgents
from toolbox.core.events.hub import EventHub


class Parked:
    """The agents holding a fetch open, as the registry asks about them."""

    def __init__(self):
        self.names = set()

    def is_parked(self, name):
        return name in self.names


class AskedParked(Parked):
    """Records which agents the registry asked about."""

    def __init__(self):
        super().__init__()
        self.asked = []

    def is_parked(self, name):
        self.asked.append(name)
        return super().is_parked(name)


def registry(names, parked=None):
    hub = EventHub()
    agents = AgentRegistry(MemoryAgents(), hub, parked or Parked(),
                           offline_after=5)
    for name in names:
        agents.cache[name] = {"_id": name}
    return agents, hub


def offline_events(hub):
    return [event["data"]["name"] for event in hub.buffer if event["type"] == "agent.offline"]


@pytest.mark.gen_test
async def test_only_agents_unseen_for_the_window_go_offline():
    parked = Parked()
    agents, hub = registry(["old", "fresh", "parked", "renewed"], parked)
    # The registry's own clock is passed in: a loaded machine's pauses must not age anyone.
    now = clock.utcnow()
    long_ago = now - datetime.timedelta(seconds=60)
    for name in ("old", "parked", "renewed"):
        agents.mark_seen(name, long_ago)
    agents.mark_seen("fresh", now)
    agents.mark_seen("renewed", now)  # seen again: no longer at the stale end
    parked.names.add("parked")
    assert await agents.check_offline(now=now) == ["old"]
    assert offline_events(hub) == ["old"]
    assert agents.online == {"fresh", "parked", "renewed"}
    await agents.check_offline(now=now)
    assert offline_events(hub) == ["old"]  # announced once
    assert agents.last_seen["parked"] > long_ago  # a parked fetch counts as a request
    parked.names.clear()
    await agents.check_offline(now=now + datetime.timedelta(seconds=1))
    assert offline_events(hub) == ["old"]  # its fetch just ended: online for the window
    later = now + datetime.timedelta(seconds=6)
    assert await agents.check_offline(now=later) == ["fresh", "renewed", "parked"]
    agents.mark_seen("old")
    assert "old" in agents.online and hub.buffer[-1]["type"] == "agent.online"


@pytest.mark.gen_test
async def test_sweep_reads_only_the_stale_end():
    asked = AskedParked()
    agents, _ = registry([f"a{i}" for i in range(2000)], asked)
    now = clock.utcnow()
    agents.mark_seen("a0", now - datetime.timedelta(seconds=4))  # at the stale end, not gone yet
    for i in range(1, 2000):
        agents.mark_seen(f"a{i}", now)
    assert await agents.check_offline(now=now) == []
    assert asked.asked == ["a0"]  # everyone else was seen just now: nothing to look at


@pytest.mark.gen_test(timeout=30)
async def test_last_seen_times_are_stored_for_other_processes_and_never_go_back(db):
    agents = AgentRegistry(parts_for(Config(), db).agents, EventHub(), Parked(), offline_after=5,
                           refresh=1.0)  # refresh: as on a shared database
    now = clock.utcnow()
    newer = now + datetime.timedelta(seconds=30)  # another process saw a3 later
    for name in [f"a{i}" for i in range(500)] + ["gone"]:
        await agents.repo.insert({"_id": name})
    await agents.repo.update("a3", {"last_seen": newer})
    await agents.reload()
    for i in range(500):
        agents.mark_seen(f"a{i}", now)
    agents.mark_seen("never-registered", now)  # not in the cache: not written
    await agents.flush_last_seen()
    stored = {doc["_id"]: doc.get("last_seen") for doc in await agents.repo.all()}
    assert stored.pop("a3") == newer and stored.pop("gone") is None
    assert set(stored.values()) == {now} and len(stored) == 499
    assert "never-registered" not in stored
    await agents.flush_last_seen()  # nothing seen since: nothing to write
