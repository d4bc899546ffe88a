"""The event loop is an option (``TOOLBOX_EVENT_LOOP``): asyncio by default, uvloop when asked
for and installed (docs/benchmarks.md measures it).  A server on uvloop serves the field agent
as one on asyncio does; a name it does not know, or uvloop missing, is one line and exit 2."""

import importlib.util

import pytest

from tests.field_agent import FieldAgent
from tests.processes import wait_until
from tests.test_field_agent import Server, _serve
from toolbox.server import config as config_module
from toolbox.server.config import Config, ConfigError

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


def test_asyncio_is_the_default_and_a_name_it_does_not_know_is_refused():
    assert Config.load([], {}).event_loop == "asyncio"
    assert Config.load(["--event-loop", "AsyncIO"], {}).event_loop == "asyncio"
    with pytest.raises(ConfigError, match=r"^TOOLBOX_EVENT_LOOP must be one of asyncio, uvloop, not 'tokio'$"):
        Config.load([], {"TOOLBOX_EVENT_LOOP": "tokio"})


def test_uvloop_asked_for_but_not_installed_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(config_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"uvloop is not installed \(pip install uvloop\)$"):
        Config.load([], {"TOOLBOX_EVENT_LOOP": "uvloop"})


@pytest.fixture
def uvloop_server(tmp_path):
    yield from _serve(tmp_path, TOOLBOX_EVENT_LOOP="uvloop")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed (tox installs it: pip install uvloop)")
def test_a_server_on_uvloop_serves_the_field_agent(uvloop_server: Server):
    import uvloop  # noqa: F401  (the loop the server process runs: it says so at start)

    assert Config.load([], {"TOOLBOX_EVENT_LOOP": "uvloop"}).event_loop == "uvloop"
    token = uvloop_server.agent("loop-1")
    agent = FieldAgent(uvloop_server.url, "loop-1", token, interval=0.2).start()
    try:
        ids = uvloop_server.queue("loop-1", "echo one", "ping -c 2 -i 0.2 127.0.0.1", "echo two")
        tasks = wait_until(lambda: uvloop_server.finished(ids), timeout=60)
        assert tasks and [task["state"] for task in tasks] == ["done"] * 3
        assert [tasks[0]["result"], tasks[2]["result"]] == ["one", "two"]
        assert agent.crashed is None
        assert any("event loop: uvloop" in line for line in uvloop_server.process.lines)
    finally:
        agent.kill()
