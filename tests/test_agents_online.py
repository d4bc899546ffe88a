"""Online tracking: the offline sweep announces exactly the agents that stopped fetching."""

import datetime

import pytest

from toolbox import clock
from toolbox.core.agents import AgentRegistry
from toolbox.store.db import open_database
from toolbox.core.events import EventHub


class Parked:
    """The agents holding a fetch open, as the registry asks about them."""

    def __init__(self):
        self.names = set()

    def is_parked(self, name):
        return name in self.names


def registry(names, parked=None):
    hub = EventHub()
    agents = AgentRegistry(open_database(None, name="test_agents_online"), hub, parked or Parked(),
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
    long_ago = clock.utcnow() - datetime.timedelta(seconds=60)
    for name in ("old", "parked", "renewed"):
        agents.mark_seen(name, long_ago)
    agents.mark_seen("fresh")
    agents.mark_seen("renewed")  # seen again: no longer at the stale end
    parked.names.add("parked")
    assert await agents.check_offline() == ["old"]
    assert offline_events(hub) == ["old"]
    assert agents.online == {"fresh", "parked", "renewed"}
    await agents.check_offline()
    assert offline_events(hub) == ["old"]  # announced once
    assert agents.last_seen["parked"] > long_ago  # a parked fetch counts as a request
    parked.names.clear()
    await agents.check_offline()
    assert offline_events(hub) == ["old"]  # its fetch just ended: online for the window
    later = clock.utcnow() + datetime.timedelta(seconds=6)
    assert await agents.check_offline(now=later) == ["fresh", "renewed", "parked"]
    agents.mark_seen("old")
    assert "old" in agents.online and hub.buffer[-1]["type"] == "agent.online"


@pytest.mark.gen_test
async def test_sweep_reads_only_the_stale_end():
    agents, _ = registry([f"a{i}" for i in range(2000)])
    for i in range(2000):
        agents.mark_seen(f"a{i}")
    checked = []
    agents.is_online = lambda doc, now=None: checked.append(doc["_id"]) or True
    await agents.check_offline()
    assert checked == []  # everyone was seen just now: nothing to look at
