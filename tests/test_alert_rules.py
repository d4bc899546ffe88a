"""Alert rules over synthetic points: N agents or P % of them, K of M rounds, clear after C,
edge-triggered (``toolbox.alerts.rules``, pure functions, table-driven)."""

import pytest

from toolbox.alerts.rules import matches, rule_fields, run_rounds
from toolbox.errors import ValidationError

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
