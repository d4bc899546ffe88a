"""The benchmark harness in --quick mode: it runs end to end and its figures are sane.

Timings are not asserted (a loaded CI machine would make that flaky); what is checked
is that every scenario ran on both servers and that the counts add up.
"""

import json
import subprocess
import sys

import pytest

from bench import report
from bench.procs import ROOT


@pytest.mark.slow
def test_bench_quick(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=180)  # a bound, not a speed test
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| 1 parked" in run.stdout and "| 7 store" in run.stdout
    data = json.loads(out.read_text())
    [figures] = data["runs"]
    for server in ("toolbox", "baseline"):
        parked = figures["parked"][server]
        assert parked["held"] and parked["parked"] == data["size"]["parked"]
        assert 0 < parked["kb_per_fetch"] < 1000
        latency = figures["latency"][server]
        assert latency["missing"] == 0 and len(latency["samples_ms"]) == data["size"]["latency_tasks"]
        assert all(sample >= 0 for sample in latency["samples_ms"])
        legacy = figures["legacy"][server]
        assert legacy["tasks"] > 0 and legacy["duplicates"] == 0 and legacy["missing"] == 0
        assert legacy["client_conns_per_agent"] <= 2 and legacy["errors"] == 0
        assert legacy["server_conns_per_agent"] <= 2.5
        throughput = figures["throughput"][server]
        assert throughput["done"] > 0 and throughput["error_count"] == 0
        assert throughput["done"] <= throughput["stored"] + 1  # an event follows its stored result
        consoles = figures["consoles"][server]
        assert consoles["consoles"] == data["size"]["consoles"] and consoles["missing"] == 0
        assert len(consoles["samples_ms"]) == consoles["consoles"] * data["size"]["console_tasks"]
        assert all(sample >= 0 for sample in consoles["samples_ms"]) and not consoles["errors"]
        for agents in data["size"]["fanout_sizes"]:
            fanout = figures[f"fanout_{agents}"][server]
            assert fanout["agents"] == agents and fanout["missing"] == 0 and not fanout["errors"]
            assert 0 < fanout["delivered_s"] <= fanout["stored_s"]
    store = data["store"]
    # embedded (no --mongodb-uri): the tasks live in the in-memory repository, so the hot
    # path makes no call to the embedded database's ``tasks`` at all
    assert store["database"] == "embedded" and store["writes_per_task"] == store["reads_per_task"] == 0
    assert store["indexed"] == store["shapes"]
    assert {row["scenario"] for row in data["rows"]} >= {"1 parked", "2 latency", "3 legacy",
                                                         "4 throughput", "5 fan-out", "6 consoles",
                                                         "7 store"}


def test_index_check_rejects_unindexed_shapes():
    from bench.storecost import uses_index

    claim_index = [["agent", "state", "created_at", "_id"]]
    claim = {"equal": ("agent", "state"), "range": (), "sort": ("created_at", "_id")}
    assert uses_index(claim, claim_index)
    assert not uses_index(dict(claim, equal=("state",)), claim_index)
    assert not uses_index(dict(claim, sort=("dispatched_at",)), claim_index)
    assert uses_index({"equal": ("_id", "agent"), "range": (), "sort": ()}, [])


def test_percentiles_and_table():
    assert report.percentile([5, 1, 4, 2, 3], 50) == 3
    assert report.percentile(list(range(1, 101)), 99) == 99
    rows = [report._row("x", "metric", 2.0, 1.0, "≤ 3×", True)]
    text = report.render_table(rows, {"nproc": 2, "memory_gib": 1, "python": "3", "tornado": "6",
                                      "fd_limit": 10}, 1)
    assert "| x " in text and "2×" in text and "PASS" in text


@pytest.mark.slow
def test_bench_schedules_quick(tmp_path):
    """Scenario 9 tiny: a few schedules' rounds on fake agents, the series read, bytes per point."""
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--scenario", "schedules", "--minutes", "0.1",
                          "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=180)  # a bound, not a speed test
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| 9 schedules" in run.stdout
    data = json.loads(out.read_text())
    rounds = data["schedules"]["rounds"]
    assert rounds["schedules"] == data["size"]["watch_schedules"] and rounds["seconds"] == 6
    assert rounds["rounds_fired"] >= rounds["schedules"] and rounds["rounds_twice"] == rounds["rounds_lost"] == 0
    assert rounds["tasks"] == rounds["rounds_fired"] * rounds["agents"] and rounds["tasks_stored"] >= rounds["tasks"]
    assert 0 <= rounds["late_p50_s"] <= rounds["late_p99_s"] <= rounds["late_max_s"] and not rounds["errors"]
    [embedded] = data["schedules"]["series"]
    assert embedded["database"] == "embedded" and embedded["tier"] == "hour"
    assert embedded["series"] == rounds["agents"] and embedded["points_each"] == 24 * data["size"]["watch_days"]
    assert len(embedded["read_ms"]) == data["size"]["watch_reads"] and embedded["reader_on_mongomock_ms"] > 0
    assert 100 < embedded["bson_bytes_per_point"] < 1000
