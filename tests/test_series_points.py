"""A finished task as a point: each tool's key numbers from real outputs, and the rollup sums."""

import pathlib

import pytest

from toolbox.tools.outcomes import read_result
from toolbox.watch.points import changes, point_of, quantile, summarize

SAMPLES = pathlib.Path(__file__).parent / "samples"


def point(sample, tool, target=None):
    reading = read_result(tool, (SAMPLES / sample).read_text(), 0, target)
    task = {"agent": "a", "task_id": 7, "job_id": 3, "tool": tool, "state": "done", "outcome": reading.outcome,
            "parsed": reading.parsed}
    return point_of(task, 1, None)


def test_ping_keeps_loss_and_the_four_rtts():
    p = point("ping_linux_loss.txt", "ping")
    assert p["outcome"] == "partial" and p["loss"] == 25.0 and p["value"] == 3.26
    assert p["n"] == {"min": 3.09, "avg": 3.26, "max": 3.48, "mdev": 0.163}


@pytest.mark.parametrize("sample, tool", [("mtr_report.txt", "mtr"), ("traceroute_linux.txt", "traceroute")])
def test_traces_keep_reached_hops_the_last_hop_and_a_route_fingerprint(sample, tool):
    p = point(sample, tool)
    assert p["n"]["reached"] is True and p["n"]["hops"] >= 2
    assert p["value"] == p["n"]["last_hop_ms"] and p["value"] > 0
    assert isinstance(p["fp"], str) and len(p["fp"]) == 12
    assert point(sample, tool)["fp"] == p["fp"]  # the same route, the same fingerprint


def test_curl_keeps_status_and_timings_and_a_failure_is_not_a_value():
    ok, missing = point("curl_writeout_200.txt", "curl"), point("curl_writeout_404.txt", "curl")
    assert ok["value"] == 1.621 and ok["n"] == {"status": 200, "total_ms": 1.621, "connect_ms": 1.158,
                                                 "ttfb_ms": 1.551}
    assert missing["outcome"] == "failed" and missing["value"] is None and missing["n"]["status"] == 404
    assert changes(ok, missing) == ["outcome", "http"]


def test_dig_keeps_status_answers_and_a_fingerprint_of_the_answer_set():
    two, full = point("dig_two_a.txt", "dig"), point("dig_full.txt", "dig")
    assert two["n"]["status"] == "NOERROR" and two["n"]["answers"] == 2 and two["fp"] != full["fp"]
    assert changes(two, full) == ["dns"] and changes(two, two) == []


def test_tcp_keeps_open_and_the_connect_time():
    opened, refused = point("tcp_perl_open.txt", "tcp"), point("tcp_perl_refused.txt", "tcp")
    assert opened["n"]["open"] is True and refused["n"]["open"] is False and refused["value"] is None


def test_a_lost_task_is_a_failed_point_with_its_reason():
    p = point_of({"agent": "a", "task_id": 1, "tool": "ping", "state": "lost", "reason": "agent went offline"}, 1, None)
    assert p["outcome"] == "failed" and p["reason"] == "agent went offline" and p["value"] is None


def test_a_rollup_sums_counts_outcomes_quantiles_loss_and_changes():
    points = [{"value": v, "loss": loss, "outcome": o, "tool": "ping"}
              for v, loss, o in [(10, 0, "ok"), (20, 0, "ok"), (None, 100, "failed"), (30, 50, "partial")]]
    body = summarize(points)
    assert body["count"] == 4 and body["outcomes"] == {"ok": 2, "failed": 1, "partial": 1}
    assert (body["min"], body["median"], body["max"], body["avg"]) == (10, 20, 30, 20)
    assert body["loss"] == 37.5 and body["changes"] == 2
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5 and summarize([])["count"] == 0
