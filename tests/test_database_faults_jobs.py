"""A job is stored with all its tasks or not at all, whatever the database does in the middle
of its creation (issue 22): a real toolbox server on a SecantusDB on disk, through a proxy
that drops every connection at one command of the creation's transaction
(``tests.database_faults.CuttingProxy``).  What the database holds is read round the proxy.

Each cut is answered 201 (the creation tried again within ``TOOLBOX_DB_TIMEOUT``) or 503
with ``Retry-After``, never a 500; either way the database has the whole job or nothing.
A 503 whose commit did apply, retried under its ``Idempotency-Key``, answers that job.
"""

import time
import uuid

import pytest
from pymongo import MongoClient

from tests.database_faults import CuttingProxy, call, server_on
from tests.processes import wait_until
from tests.test_database_faults import disk_database  # noqa: F401  (the fixture)
from tests.test_field_agent import Server

pytestmark = [pytest.mark.slow, pytest.mark.database]

AGENTS = ["cut-a", "cut-b", "cut-c"]
JOB = {"tool": "ping", "params": {"target": "192.0.2.10"}, "agents": AGENTS}


def tasks_insert(command):
    return command.get("insert") == "tasks" and "txnNumber" in command  # the job's own, in its transaction


def commit(command):
    return "commitTransaction" in command


class Stored:
    """The server's database as it is, read straight from SecantusDB (not through the proxy)."""

    def __init__(self, port):
        self.client = MongoClient(f"mongodb://127.0.0.1:{port}", directConnection=True,
                                  serverSelectionTimeoutMS=10000)
        self.db = self.client[wait_until(self._name, timeout=10)]

    def _name(self):
        return next((name for name in self.client.list_database_names() if name.startswith("toolbox_faults_")), None)

    def jobs(self):
        """{job id: sorted agents of its tasks} of every stored job."""
        return {doc["_id"]: sorted(task["agent"] for task in self.db.tasks.find({"job_id": doc["_id"]}))
                for doc in self.db.jobs.find({}, {"_id": 1})}

    def task_count(self):
        return self.db.tasks.count_documents({})


def create(server, key=None):
    return call(server.url, "/api/jobs", "POST", JOB, {"Idempotency-Key": key} if key else {}, timeout=30)


def retried(server):
    """The job of a creation tried again, once it is answered 201 (None while it is a 503)."""
    status, reply, headers = create(server)
    assert status in (201, 503), (status, reply)
    assert status == 201 or headers.get("Retry-After")
    return reply if status == 201 else None


@pytest.fixture
def cut_server(disk_database, tmp_path):  # noqa: F811
    proxy = CuttingProxy(disk_database.port)
    # directConnection: SecantusDB names itself (its own port) in its hello; a client that
    # discovers would go round the proxy
    process = server_on(f"mongodb://127.0.0.1:{proxy.port}", tmp_path, "?directConnection=true")
    server = Server(process)
    for name in AGENTS:
        server.agent(name)
    stored = Stored(disk_database.port)
    try:
        yield server, proxy, stored
    finally:
        stored.client.close()
        try:
            assert process.stop() == 0  # and no traceback in its log (ServerProcess.stop)
        finally:
            proxy.close()


def test_a_connection_lost_before_the_tasks_write_stores_the_job_whole_or_not_at_all(cut_server):
    server, proxy, stored = cut_server
    # cut once: the creation runs its transaction again and is answered 201, stored once
    proxy.cut(tasks_insert)
    status, reply, _headers = create(server)
    assert status == 201, reply
    assert len(proxy.cuts) == 1
    assert stored.jobs() == {reply["job_id"]: AGENTS} and stored.task_count() == 3
    # down for longer than TOOLBOX_DB_TIMEOUT (2 s): refused, and nothing of it stored
    proxy.cut(tasks_insert, down=6.0)
    status, refused, headers = create(server)
    assert status == 503 and headers.get("Retry-After"), (status, refused)
    assert len(proxy.cuts) == 2
    assert stored.jobs() == {reply["job_id"]: AGENTS} and stored.task_count() == 3
    # nor later: the open transaction the cut left was never committed
    assert wait_until(lambda: not proxy.refusing, timeout=20)
    assert stored.jobs() == {reply["job_id"]: AGENTS} and stored.task_count() == 3
    again = wait_until(lambda: retried(server), timeout=20)  # the client's retries: each whole or nothing
    assert again, "the retry was never answered 201"
    assert stored.jobs() == {reply["job_id"]: AGENTS, again["job_id"]: AGENTS} and stored.task_count() == 6
    assert {task["agent"] for task in call(server.url, f"/api/jobs/{again['job_id']}")[1]["tasks"]} == set(AGENTS)
    log = "\n".join(server.process.lines)
    assert " 500 " not in log and "Uncaught exception" not in log


def test_a_commit_whose_answer_is_lost_is_committed_again_and_stored_once_and_a_retry_finds_it(cut_server):
    server, proxy, stored = cut_server
    key = uuid.uuid4().hex
    # the server commits, the answer never comes: the commit is sent again and answered for
    # the transaction the server has (committed): one job, answered 201
    proxy.cut(commit, reply=True)
    status, reply, _headers = create(server, key)
    assert status == 201, reply
    assert len(proxy.cuts) == 1
    assert stored.jobs() == {reply["job_id"]: AGENTS}
    status, replayed, headers = create(server, key)
    assert status == 201 and replayed["job_id"] == reply["job_id"] and headers.get("Idempotent-Replayed") == "true"
    # the answer lost and the database away past the bound: 503, and the job is there whole
    proxy.cut(commit, reply=True, down=6.0)
    started = time.monotonic()
    second_key = uuid.uuid4().hex
    status, refused, headers = create(server, second_key)
    assert status == 503 and headers.get("Retry-After"), (status, refused)
    assert time.monotonic() - started < 15
    jobs = stored.jobs()
    assert len(jobs) == 2 and all(agents == AGENTS for agents in jobs.values()) and stored.task_count() == 6
    # once the database answers, the server finds the job it refused was stored, and counts
    # it as its own (here: it can be canceled, and its tasks go with it)
    [unanswered] = set(jobs) - {reply["job_id"]}
    assert wait_until(lambda: not proxy.refusing, timeout=20)
    # the client's retry under its key: the job it made, not a second one
    retry = wait_until(lambda: (lambda answer: answer if answer[0] == 201 else None)(create(server, second_key)),
                       timeout=20, step=0.5)
    assert retry, create(server, second_key)
    assert retry[1]["job_id"] == unanswered and sorted(t["agent"] for t in retry[1]["tasks"]) == AGENTS
    assert stored.jobs() == jobs and stored.task_count() == 6
    status, replayed, headers = create(server, second_key)
    assert (status, replayed["job_id"], headers.get("Idempotent-Replayed")) == (201, unanswered, "true")
    canceled = wait_until(lambda: call(server.url, f"/api/jobs/{unanswered}/cancel", "POST", {})[0] == 200,
                          timeout=20, step=0.5)
    assert canceled, call(server.url, f"/api/jobs/{unanswered}/cancel", "POST", {})
    job = call(server.url, f"/api/jobs/{unanswered}")[1]
    assert job["state"] == "canceled" and {task["state"] for task in job["tasks"]} == {"canceled"}, job
    log = "\n".join(server.process.lines)
    assert f"job {unanswered}: its creation was refused" in log
    assert " 500 " not in log and "Uncaught exception" not in log
