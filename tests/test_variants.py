"""The seam (``toolbox.server.variants``): one decision, the database, builds every part
that differs, defaults included; the operator's settings override them on either."""

import uuid

import pytest

from toolbox.core.events.bus import MongoBus
from toolbox.core.events.hub import EventHub
from toolbox.core.jobs.owners import SharedOwners, SoleOwner
from toolbox.server.config import Config
from toolbox.server.variants import parts_for
from toolbox.store.db import open_database
from toolbox.store.repos.agents import AgentRepo, MemoryAgents
from toolbox.store.repos.audit import KnownAudit
from toolbox.store.repos.tasks import TaskRepo
from toolbox.store.repos.tasks_memory import MemoryTasks


@pytest.fixture
def wire(mongodb_wire_uri, io_loop):
    database = open_database(mongodb_wire_uri, name=f"toolbox_variants_{uuid.uuid4().hex[:8]}")
    yield database
    io_loop.run_sync(database.drop)
    database.close()


def test_the_embedded_database_gets_the_in_memory_parts_and_the_caps():
    db = open_database(None, name="test_variants")
    parts = parts_for(Config(), db)
    assert parts.kind == "embedded"
    assert isinstance(parts.events, EventHub) and isinstance(parts.owners, SoleOwner)
    assert isinstance(parts.tasks, MemoryTasks) and isinstance(parts.agents, MemoryAgents)
    assert isinstance(parts.audit, KnownAudit)
    assert (parts.history_limit, parts.audit_limit, parts.agent_refresh) == (5000, 20000, 0.0)
    assert parts.tokens_authoritative
    # a second server instance on the same object shares its in-memory collections
    assert parts_for(Config(), db).tasks is parts.tasks


def test_a_shared_database_gets_the_shared_parts_and_keeps_everything(wire):
    parts = parts_for(Config(), wire)
    assert parts.kind == "mongodb"
    assert isinstance(parts.events, MongoBus) and isinstance(parts.owners, SharedOwners)
    assert isinstance(parts.tasks, TaskRepo) and isinstance(parts.agents, AgentRepo)
    assert not isinstance(parts.audit, KnownAudit)
    assert (parts.history_limit, parts.audit_limit, parts.agent_refresh) == (0, 0, 2.0)
    assert not parts.tokens_authoritative and parts.token_refresh == 2.0


def test_the_operators_settings_override_the_defaults_on_either(wire):
    settings = Config(history_limit=7, audit_limit=8, agent_refresh=3.0)
    for db in (open_database(None, name="test_variants_set"), wire):
        parts = parts_for(settings, db)
        assert (parts.history_limit, parts.audit_limit, parts.agent_refresh) == (7, 8, 3.0)


def test_the_suite_runs_the_variant_of_its_database(db, app):
    """Under ``tox -e mongo`` the in-process servers run the shared parts with the shared
    defaults (the config names no URI; the database decides)."""
    parts = app.toolbox.parts
    if db.embedded:
        assert parts.kind == "embedded" and parts.history_limit == 5000
    else:
        assert parts.kind == "mongodb" and parts.history_limit == 0 and parts.agent_refresh == 2.0
