"""Alert rules over synthetic points: N agents or P % of them, K of M rounds, clear after C,
edge-triggered (``toolbox.alerts.rules``, pure functions, table-driven)."""

import pytest

from toolbox.alerts.rules import matches, rule_fields, run_rounds, verdict
from toolbox.errors import ValidationError
from toolbox.tools.parsers import parse_result
from toolbox.watch.points import point_of

FAILED = {"outcome": "failed"}


def point(agent, outcome="ok", tool="ping", value=10.0, loss=0.0, fp=None, n=None):
    return {"agent": agent, "outcome": outcome, "tool": tool, "value": value, "loss": loss, "fp": fp,
            "n": n, "task_id": 1}


def round_of(failing, agents=("a", "b", "c", "d")):
    """One round: the agents named in ``failing`` failed, the others were fine."""
    return [point(name, "failed" if name in failing else "ok") for name in agents]


def rule(**fields):
    return rule_fields(dict({"when": FAILED}, **fields))


# (rule fields, the failing agents of each round, the transitions expected)
CASES = [
    ("one agent, one round: fires at once, clears at once",
     {}, ["a", "", "a", ""], ["fire", "clear", "fire", "clear"]),
    ("edge-triggered: fires once however long it fails",
     {}, ["a", "ab", "abc", "a", ""], ["fire", None, None, None, "clear"]),
    ("two agents needed: one is not enough",
     {"min_agents": 2}, ["a", "b", "ab", "a", ""], [None, None, "fire", "clear", None]),
    ("two agents needed and still firing while two fail",
     {"min_agents": 2}, ["ab", "bc", "c", "c"], ["fire", None, "clear", None]),
    ("50 % of four agents is two",
     {"min_pct": 50}, ["a", "ab", "abc", "d"], [None, "fire", None, "clear"]),
    ("75 % of four agents is three",
     {"min_pct": 75}, ["ab", "abc", "abcd", ""], [None, "fire", None, "clear"]),
    ("two of the last three rounds",
     {"rounds": 2, "of_rounds": 3}, ["a", "", "a", ""], [None, None, "fire", "clear"]),
    ("two of three: rounds too far apart never fire",
     {"rounds": 2, "of_rounds": 3}, ["a", "", "", "a", "", "", "a"], [None] * 7),
    ("three in a row (K = M = 3)",
     {"rounds": 3}, ["a", "a", "", "a", "a", "a"], [None, None, None, None, None, "fire"]),
    ("clears after three clean rounds in a row; a bad round starts the count again",
     {"clear_after": 3}, ["a", "", "", "a", "", "", ""], ["fire", None, None, None, None, None, "clear"]),
    ("after a clear the window starts afresh: the old rounds do not fire it again",
     {"rounds": 2, "of_rounds": 4}, ["a", "a", "", "a", ""], [None, "fire", "clear", None, None]),
    ("fires only on a round that violates the rule",
     {"rounds": 2, "of_rounds": 5, "clear_after": 2}, ["a", "", "a", "a", "", "", ""],
     [None, None, "fire", None, None, "clear", None]),
]


@pytest.mark.parametrize("fields, failing, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_transitions_over_rounds(fields, failing, expected):
    assert run_rounds(rule(**fields), [round_of(names) for names in failing]) == expected


METRIC_CASES = [
    ({"metric": "loss_pct", "op": ">=", "value": 50}, point("a", loss=50.0), True),
    ({"metric": "loss_pct", "op": ">=", "value": 50}, point("a", loss=49.9), False),
    ({"metric": "loss_pct", "op": ">", "value": 50}, point("a", loss=50.0), False),
    ({"metric": "loss_pct", "op": ">=", "value": 50}, point("a", loss=None), False),
    ({"metric": "rtt_avg_ms", "op": ">=", "value": 200}, point("a", value=250.0), True),
    ({"metric": "rtt_avg_ms", "op": ">=", "value": 200}, point("a", tool="curl", value=250.0), False),
    ({"metric": "value_ms", "op": ">=", "value": 200}, point("a", tool="curl", value=250.0), True),
    ({"metric": "value_ms", "op": "<", "value": 5}, point("a", value=None), False),
    ({"metric": "http_status", "op": ">=", "value": 500}, point("a", tool="curl", n={"status": 503}), True),
    ({"outcome": "not_ok"}, point("a", outcome="not ok"), True),
    ({"outcome": "not_ok"}, point("a", outcome="ok"), False),
    ({"outcome": "failed"}, point("a", outcome="not ok"), False),
    ({"http_class": "5xx"}, point("a", tool="curl", n={"status": 502}), True),
    ({"http_class": "4xx"}, point("a", tool="curl", n={"status": 502}), False),
    ({"tcp": "refused"}, point("a", tool="tcp", outcome="failed", n={"open": False}), True),
    ({"tcp": "refused"}, point("a", tool="tcp", n={"open": True}), False),
]


@pytest.mark.parametrize("when, one, expected", METRIC_CASES)
def test_each_condition_on_one_point(when, one, expected):
    assert matches(rule_fields({"when": when})["when"], one) is expected


def test_a_changed_route_is_seen_against_the_agents_previous_round():
    route = rule(when={"changed": "route"})
    rounds = [[point("a", tool="traceroute", fp="r1"), point("b", tool="traceroute", fp="r1")],
              [point("a", tool="traceroute", fp="r2"), point("b", tool="traceroute", fp="r1")],
              [point("a", tool="traceroute", fp="r2")],  # b missing: keeps its last route
              [point("a", tool="traceroute", fp="r2"), point("b", tool="traceroute", fp="r1")]]
    assert run_rounds(route, rounds) == [None, "fire", "clear", None]


@pytest.mark.parametrize("body, error", [
    ({}, "when: required"),
    ({"when": {"outcome": "lost"}}, "when.outcome"),
    ({"when": {"metric": "loss_pct", "op": "=", "value": 1}}, "when.op"),
    ({"when": {"metric": "jitter", "op": ">", "value": 1}}, "when.metric"),
    ({"when": {"metric": "loss_pct", "op": ">", "value": "1"}}, "when.value"),
    ({"when": {"outcome": "failed", "tcp": "refused"}}, "one condition"),
    ({"when": FAILED, "rounds": 3, "of_rounds": 2}, "rounds: at most of_rounds"),
    ({"when": FAILED, "min_agents": 0}, "min_agents"),
    ({"when": FAILED, "min_pct": 101}, "min_pct"),
    ({"when": FAILED, "clear_after": True}, "clear_after"),
    ({"when": FAILED, "channels": "1"}, "channels"),
    ({"when": FAILED, "colour": "red"}, "unknown field: colour"),
])
def test_bad_rules_are_refused_with_the_field_named(body, error):
    with pytest.raises(ValidationError) as caught:
        rule_fields(body)
    assert error in caught.value.message


def test_defaults_and_a_change():
    made = rule_fields({"when": FAILED})
    assert made == {"name": None, "when": FAILED, "min_agents": 1, "min_pct": None, "rounds": 1, "of_rounds": 1,
                    "clear_after": 1, "channels": [], "remind_every": 0, "enabled": True}
    assert rule_fields({"of_rounds": 3}, made) == {"of_rounds": 3}
    with pytest.raises(ValidationError):
        rule_fields({"rounds": 2}, made)  # 2 of the last 1 rounds
    assert rule_fields({"rounds": 2, "of_rounds": 3}, made) == {"rounds": 2, "of_rounds": 3}


def dig_point(agent, output):
    """The point a finished dig task of ``output`` makes (parsed as an agent's answer is)."""
    parsed = parse_result("dig", output)
    return point_of({"agent": agent, "task_id": 1, "tool": "dig", "state": "done", "outcome": "ok",
                     "parsed": parsed}, 1, None)


BEHIND_A_CNAME = """;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1
;; ANSWER SECTION:
www.Example.test.\t60\tIN\tCNAME\tedge.cdn.example.test.
edge.cdn.example.test.\t60\tIN\tA\t192.0.2.11
edge.cdn.example.test.\t60\tIN\tA\t192.0.2.10
;; Query time: 3 msec
"""
ONLY_A_CNAME = """;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 2
;; ANSWER SECTION:
www.example.test.\t60\tIN\tCNAME\tEdge.CDN.example.test.
;; Query time: 3 msec
"""
MOVED = BEHIND_A_CNAME.replace("192.0.2.10", "198.51.100.7")
NXDOMAIN = """;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 3
;; Query time: 3 msec
"""
TIMED_OUT = ";; connection timed out; no servers could be reached\n"


@pytest.mark.parametrize("output, expected_set, matched", [
    (BEHIND_A_CNAME, ["192.0.2.10", "192.0.2.11"], False),  # the CNAME on the way is left out
    (BEHIND_A_CNAME, ["192.0.2.10", "192.0.2.11", "192.0.2.12"], False),  # a subset of the set is fine
    (BEHIND_A_CNAME, ["192.0.2.10"], True),  # .11 is outside it
    (MOVED, ["192.0.2.10", "192.0.2.11"], True),
    (ONLY_A_CNAME, ["edge.cdn.example.test."], False),  # CNAMEs are all there is: they are the answers
    (ONLY_A_CNAME, ["other.example.test"], True),
    (NXDOMAIN, ["192.0.2.10"], True),  # no answer is not the expected answer
    (TIMED_OUT, ["192.0.2.10"], True),
])
def test_dns_answers_outside_the_expected_set_match(output, expected_set, matched):
    when = rule_fields({"when": {"dns_expected": expected_set}})["when"]
    assert matches(when, dig_point("a", output)) is matched


def test_the_expected_set_is_compared_without_case_or_trailing_dot_and_other_points_are_not_judged():
    when = rule_fields({"when": {"dns_expected": [" EDGE.cdn.Example.TEST. ", "edge.cdn.example.test"]}})["when"]
    assert when == {"dns_expected": ["edge.cdn.example.test"]}
    assert dig_point("a", ONLY_A_CNAME)["answers"] == ["edge.cdn.example.test"]
    assert not matches(when, point("a", tool="ping"))  # not a dig
    assert not matches(when, point("a", outcome="failed", tool="dig", n=None))  # lost: no dig result to judge
    assert not matches(when, point("a", tool="dig", n={"status": "NOERROR", "answers": 1}))  # stored before


def test_a_dns_rule_fires_on_the_agents_that_saw_other_answers_and_says_what_they_saw():
    expected = rule(when={"dns_expected": ["192.0.2.10", "192.0.2.11"]}, min_agents=1)
    rounds = [[dig_point("a", BEHIND_A_CNAME), dig_point("b", BEHIND_A_CNAME)],
              [dig_point("a", MOVED), dig_point("b", BEHIND_A_CNAME)],
              [dig_point("a", BEHIND_A_CNAME), dig_point("b", BEHIND_A_CNAME)]]
    assert run_rounds(expected, rounds) == [None, "fire", "clear"]
    seen = verdict(expected["when"], rounds[1], {}).matched
    assert list(seen) == ["a"] and seen["a"]["answers"] == ["192.0.2.11", "198.51.100.7"]


@pytest.mark.parametrize("when", [
    {"dns_expected": []}, {"dns_expected": "192.0.2.10"}, {"dns_expected": [""]}, {"dns_expected": ["  "]},
    {"dns_expected": [7]}, {"dns_expected": ["a\nb"]}, {"dns_expected": ["x" * 256]},
    {"dns_expected": [f"192.0.2.{n}" for n in range(33)]},
])
def test_a_bad_expected_set_is_refused(when):
    with pytest.raises(ValidationError, match=r"^when.dns_expected: a list of 1 to 32 answers \(addresses or names\)$"):
        rule_fields({"when": when})
