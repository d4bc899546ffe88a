"""Jobs as files over HTTP (``GET /api/jobs/{id}/export?format=csv|json``): the numbers a
spreadsheet compares, one row per task; the JSON with every raw output; the full target
(URL with path and port, host:port) on jobs; roles and the JSON error shape."""

import csv
import io
import json

import pytest

from tests.jobs_helpers import PING_OUTPUT, wait_for
from tests.role_tokens import VIEWER
from toolbox.core.jobs.export import csv_rows

TRACE = """traceroute to 93.184.216.34 (93.184.216.34), 30 hops max, 60 byte packets
 1  _gateway (10.1.0.1)  0.412 ms  0.388 ms  0.361 ms
 2  * 202.97.12.1  3.120 ms  3.101 ms
 3  93.184.216.34 (93.184.216.34)  152.412 ms  152.398 ms  152.377 ms
"""


async def answered_job(api, fake_agent, tool, params, outputs):
    agents = {}
    for name in outputs:
        agents[name] = await fake_agent(name)
    job = (await api("/api/jobs", "POST", json={"tool": tool, "params": params, "agents": list(outputs)})).json
    for name, output in outputs.items():
        task = await agents[name].fetch()
        await agents[name].post(task["task_id"], output)

    async def ended():
        return (await api(f"/api/jobs/{job['job_id']}")).json["finished_at"] is not None

    assert await wait_for(ended)
    return job["job_id"]


@pytest.mark.gen_test
async def test_csv_has_a_row_per_task_with_the_tools_numbers_and_json_the_whole_outputs(api, fake_agent, role_tokens):
    job_id = await answered_job(api, fake_agent, "ping", {"target": "93.184.216.34", "count": 4},
                                {"a-1": PING_OUTPUT, "b-2": "ping: unknown host nosuch.example\n"})
    reply = await api(f"/api/jobs/{job_id}/export?format=csv", token=role_tokens[VIEWER], expect_json=False)
    assert reply.code == 200 and reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert reply.headers["Content-Disposition"] == f'attachment; filename="job-{job_id}.csv"'
    rows = list(csv.DictReader(io.StringIO(reply.body.decode())))
    assert [row["agent"] for row in rows] == ["a-1", "b-2"]
    good, bad = rows
    assert good["outcome"] == "ok" and good["summary"] == "4/4 replies, avg 11.5 ms"
    assert (good["loss_pct"], good["received"], good["rtt_avg_ms"]) == ("0.0", "4", "11.474")
    assert good["target"] == "93.184.216.34" and good["tool"] == "ping" and good["job_id"] == str(job_id)
    assert bad["outcome"] == "failed" and bad["rtt_avg_ms"] == ""

    whole = await api(f"/api/jobs/{job_id}/export?format=json", expect_json=False)
    assert whole.headers["Content-Disposition"] == f'attachment; filename="job-{job_id}.json"'
    data = json.loads(whole.body)
    same = (await api(f"/api/jobs/{job_id}")).json
    assert data["summary"] == same["summary"] == "1 ok · 1 failed"
    assert [t["result"] for t in data["tasks"]] == [PING_OUTPUT, "ping: unknown host nosuch.example\n"]
    assert data["tasks"][0]["parsed"]["replies"] == [11.6, 11.4, 11.5, 11.4]


def test_a_cell_is_never_a_formula_in_a_spreadsheet():
    job = {"job_id": 1, "tool": "curl", "target": "h", "full_target": "http://h/",
           "tasks": [{"agent": "a", "summary": "=HYPERLINK(1)", "parsed": {"error": "+1", "http_status": 0}}]}
    header, row = csv_rows(job)
    assert row[header.index("summary")] == "'=HYPERLINK(1)" and row[header.index("error")] == "'+1"
    assert row[header.index("http_status")] == "0" and row[header.index("target")] == "http://h/"


@pytest.mark.gen_test
async def test_routes_go_in_one_cell_and_bad_requests_get_the_json_error(api, fake_agent):
    job_id = await answered_job(api, fake_agent, "traceroute", {"target": "93.184.216.34"}, {"bj": TRACE})
    rows = list(csv.DictReader(io.StringIO((await api(f"/api/jobs/{job_id}/export?format=csv",
                                                        expect_json=False)).body.decode())))
    assert rows[0]["hops"] == "3" and rows[0]["reached"] == "yes"
    assert rows[0]["route"] == "1 10.1.0.1 0.361 ms > 2 202.97.12.1 3.101 ms > 3 93.184.216.34 152.377 ms"
    bad = await api(f"/api/jobs/{job_id}/export?format=xml")
    assert bad.code == 400 and bad.json["error"] == "format: must be one of csv, json"
    assert (await api("/api/jobs/999/export?format=csv")).code == 404
    assert (await api(f"/api/jobs/{job_id}/export", token=None)).code == 401


@pytest.mark.gen_test
async def test_jobs_carry_their_full_target(api, make_agent):
    await make_agent("a")
    curl = (await api("/api/jobs", "POST", json={"tool": "curl", "agents": ["a"],
                                                 "params": {"url": "http://127.0.0.1:8080/healthz?x=1"}})).json
    assert curl["target"] == "127.0.0.1" and curl["full_target"] == "http://127.0.0.1:8080/healthz?x=1"
    tcp = (await api("/api/jobs", "POST", json={"tool": "tcp", "agents": ["a"],
                                                "params": {"target": "::1", "port": 22}})).json
    assert tcp["full_target"] == "[::1]:22"
    dig = (await api("/api/jobs", "POST", json={"tool": "dig", "agents": ["a"],
                                                "params": {"target": "example.com", "server": "127.0.0.53"}})).json
    assert dig["full_target"] == "example.com @127.0.0.53"
    listed = {job["job_id"]: job["full_target"] for job in (await api("/api/jobs")).json["items"]}
    assert listed[curl["job_id"]] == "http://127.0.0.1:8080/healthz?x=1"
    assert (await api(f"/api/jobs/{tcp['job_id']}")).json["full_target"] == "[::1]:22"
