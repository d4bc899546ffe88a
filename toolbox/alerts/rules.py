"""Alert rules: what a rule says (``rule_fields``) and what a round makes of it (pure functions).

A rule is a condition on one agent's point of a round (``when``) and a firing rule: the
round *violates* the rule when at least ``min_agents`` agents (or ``min_pct`` % of the
round's agents) match; the rule fires when the round violates it and at least ``rounds``
of the last ``of_rounds`` evaluated rounds did (K of M), and clears after
``clear_after`` consecutive rounds that do not.  Edge-triggered: ``step`` says ``fire``
once and ``clear`` once, nothing in between.  After a clear the window starts afresh, so
the rounds that fired it cannot fire it again.

``when`` is one of:

- ``{"outcome": "failed"}`` (the task failed) or ``{"outcome": "not_ok"}`` (anything but ok);
- ``{"metric": "loss_pct" | "rtt_avg_ms" | "value_ms" | "http_status", "op": ">=" | ">" | "<=" | "<", "value": N}``
  (``rtt_avg_ms`` is ping's average; ``value_ms`` each tool's main time; a point without
  the number does not match);
- ``{"http_class": "2xx" | "3xx" | "4xx" | "5xx"}`` (curl's status in that class);
- ``{"changed": "route" | "dns" | "http"}`` (the point's fingerprint differs from the
  agent's previous round's);
- ``{"tcp": "refused"}`` (a tcp point whose port was not open);
- ``{"dns_expected": ["192.0.2.10", "192.0.2.11"]}`` (a dig point whose answers are not all
  in this set, or that has none: NXDOMAIN, SERVFAIL, a timeout; a task with no dig result,
  lost on its agent, is not judged).  The answers compared are
  the final ones: the CNAMEs on the way to A records are left out, unless CNAMEs are all
  there is; names compare without case and trailing dot (``dns_answers``).
"""

import dataclasses
import math
from typing import Any

from toolbox.errors import ValidationError
from toolbox.store.db import Doc
from toolbox.validation import check_fields
from toolbox.watch.points import MAX_ANSWER_CHARS, MAX_EXPECTED, normal_answer

METRICS = ("loss_pct", "rtt_avg_ms", "value_ms", "http_status")
OPS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}
OUTCOMES = ("failed", "not_ok")
HTTP_CLASSES = ("2xx", "3xx", "4xx", "5xx")
CHANGES = ("route", "dns", "http")
MAX_ROUNDS = 100
MAX_CHANNELS = 20
MAX_REMIND_MINUTES = 7 * 24 * 60
RULE_FIELDS = ("name", "when", "min_agents", "min_pct", "rounds", "of_rounds", "clear_after", "channels",
               "remind_every", "enabled", "silenced_until")


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{field}: a whole number from {low} to {high}")
    return value


def when_condition(value: Any) -> Doc:
    """A checked ``when``."""
    if not isinstance(value, dict) or not value:
        raise ValidationError("when: an object such as {\"outcome\": \"failed\"}")
    if "metric" in value:
        check_fields(value, ("metric", "op", "value"), ("metric", "op", "value"))
        if value["metric"] not in METRICS:
            raise ValidationError(f"when.metric: one of {', '.join(METRICS)}")
        if value["op"] not in OPS:
            raise ValidationError(f"when.op: one of {', '.join(OPS)}")
        number = value["value"]
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                or not -1e9 <= number <= 1e9:
            raise ValidationError("when.value: a number")
        return {"metric": value["metric"], "op": value["op"], "value": number}
    if len(value) != 1:
        raise ValidationError("when: one condition (outcome, metric, http_class, changed, tcp or dns_expected)")
    if "dns_expected" in value:
        return {"dns_expected": expected_answers(value["dns_expected"])}
    (key, arg), = value.items()
    allowed = {"outcome": OUTCOMES, "http_class": HTTP_CLASSES, "changed": CHANGES, "tcp": ("refused",)}
    if key not in allowed:
        raise ValidationError(f"when: unknown condition: {str(key)[:40]}")
    if arg not in allowed[key]:
        raise ValidationError(f"when.{key}: one of {', '.join(allowed[key])}")
    return {key: arg}


def expected_answers(value: Any) -> list[str]:
    """A checked expected set of DNS answers, as ``dns_answers`` writes them (sorted, unique)."""
    text = f"when.dns_expected: a list of 1 to {MAX_EXPECTED} answers (addresses or names)"
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_EXPECTED:
        raise ValidationError(text)
    answers = set()
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_ANSWER_CHARS \
                or any(ord(ch) < 32 or ord(ch) == 127 for ch in item):
            raise ValidationError(text)
        answers.add(normal_answer(item))
    return sorted(answers)


def rule_fields(body: Any, before: Doc | None = None) -> Doc:
    """The stored fields of a new rule (``before`` None) or of a change to ``before``."""
    check_fields(body, RULE_FIELDS, () if before is not None else ("when",))
    fields: Doc = {}
    if "name" in body:
        name = body["name"]
        if name is not None and (not isinstance(name, str) or not 1 <= len(name.strip()) <= 100):
            raise ValidationError("name: 1-100 characters")
        fields["name"] = name.strip() if isinstance(name, str) else None
    if "when" in body:
        fields["when"] = when_condition(body["when"])
    for key, low, high in (("min_agents", 1, 10000), ("rounds", 1, MAX_ROUNDS), ("of_rounds", 1, MAX_ROUNDS),
                           ("clear_after", 1, MAX_ROUNDS), ("remind_every", 0, MAX_REMIND_MINUTES)):
        if key in body:
            fields[key] = _int(body[key], key, low, high)
    if "min_pct" in body:
        pct = body["min_pct"]
        if pct is not None and (isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 < pct <= 100):
            raise ValidationError("min_pct: a percentage above 0, at most 100 (or null)")
        fields["min_pct"] = pct
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ValidationError("enabled: true or false")
        fields["enabled"] = body["enabled"]
    if "channels" in body:
        channels = body["channels"]
        if not isinstance(channels, list) or len(channels) > MAX_CHANNELS:
            raise ValidationError(f"channels: a list of at most {MAX_CHANNELS} channel ids")
        for cid in channels:
            _int(cid, "channels", 1, 2**62)
        fields["channels"] = sorted(set(channels))
    merged: Doc = {"min_agents": 1, "rounds": 1, "of_rounds": None, "clear_after": 1, "remind_every": 0,
                   "min_pct": None, "channels": [], "enabled": True, "name": None} | (before or {}) | fields
    if merged["of_rounds"] is None:
        merged["of_rounds"] = merged["rounds"]
        fields["of_rounds"] = merged["rounds"]
    if merged["rounds"] > merged["of_rounds"]:
        raise ValidationError("rounds: at most of_rounds (K of the last M rounds)")
    if before is None:
        merged.pop("silenced_until", None)
        return {key: merged[key] for key in RULE_FIELDS if key != "silenced_until"}
    return fields


# --- evaluation ---


@dataclasses.dataclass
class Verdict:
    """What one round said: the agents that matched (agent -> what it saw) of ``total``."""

    matched: dict[str, Doc]
    total: int


def seen(point: Doc) -> Doc:
    """What an agent saw, as the alert shows it: outcome, the main time, loss, a reason."""
    numbers = point.get("n") or {}
    return {"agent": point["agent"], "outcome": point.get("outcome"), "value_ms": point.get("value"),
            "loss_pct": point.get("loss"), "status": numbers.get("status"), "reason": point.get("reason"),
            "task_id": point.get("task_id"), **({"answers": point["answers"]} if "answers" in point else {})}


def _number(point: Doc, metric: str) -> Any:
    if metric == "loss_pct":
        return point.get("loss")
    if metric == "rtt_avg_ms":
        return point.get("value") if point.get("tool") == "ping" else None
    if metric == "value_ms":
        return point.get("value")
    return (point.get("n") or {}).get("status")  # http_status


def matches(when: Doc, point: Doc, previous_fp: Any = None) -> bool:
    """Whether one agent's ``point`` meets ``when`` (``previous_fp``: its previous round's fingerprint)."""
    if "outcome" in when:
        return point.get("outcome") == "failed" if when["outcome"] == "failed" else point.get("outcome") != "ok"
    if "metric" in when:
        number = _number(point, when["metric"])
        return isinstance(number, (int, float)) and not isinstance(number, bool) \
            and bool(OPS[when["op"]](number, when["value"]))
    if "http_class" in when:
        status = (point.get("n") or {}).get("status") if point.get("tool") == "curl" else None
        return isinstance(status, int) and status // 100 == int(when["http_class"][0])
    if "changed" in when:
        tools = {"route": ("traceroute", "mtr"), "dns": ("dig",), "http": ("curl",)}[when["changed"]]
        return point.get("tool") in tools and previous_fp is not None and point.get("fp") is not None \
            and point["fp"] != previous_fp
    if "tcp" in when:
        return point.get("tool") == "tcp" and (point.get("n") or {}).get("open") is False
    if "dns_expected" in when:
        answered = point.get("answers") if point.get("tool") == "dig" else None
        # None: no dig point, or one stored before points kept their answers: not judged.
        return isinstance(answered, list) and (not answered or not set(answered) <= set(when["dns_expected"]))
    return False


def verdict(when: Doc, points: list[Doc], previous_fps: dict[str, Any]) -> Verdict:
    """The round's verdict: which of its agents' points match ``when``."""
    matched = {p["agent"]: seen(p) for p in points if matches(when, p, previous_fps.get(p["agent"]))}
    return Verdict(matched=matched, total=len({p["agent"] for p in points}))


def violated(rule: Doc, result: Verdict) -> bool:
    """Whether enough agents matched: ``min_agents``, or ``min_pct`` % of the round's agents."""
    count = len(result.matched)
    if count == 0:
        return False
    if rule.get("min_pct"):
        return count * 100 >= rule["min_pct"] * result.total
    return count >= rule.get("min_agents", 1)


def next_fps(fps: dict[str, Any], points: list[Doc]) -> dict[str, Any]:
    """Each agent's latest fingerprint (an agent missing from a round keeps its last one)."""
    return dict(fps, **{p["agent"]: p.get("fp") for p in points if p.get("fp") is not None})


def fresh_state() -> Doc:
    return {"round_at": None, "window": [], "clean": 0, "firing": False, "fps": {}}


def step(rule: Doc, state: Doc, result: Verdict) -> tuple[Doc, str | None]:
    """The rule's state after one more round → (new state, ``"fire"`` | ``"clear"`` | None)."""
    bad = violated(rule, result)
    window = (list(state.get("window") or []) + [bad])[-rule["of_rounds"]:]
    new = dict(state, window=window)
    if not state.get("firing"):
        if bad and sum(window) >= rule["rounds"]:
            new.update(firing=True, clean=0)
            return new, "fire"
        return new, None
    new["clean"] = 0 if bad else int(state.get("clean") or 0) + 1
    if new["clean"] >= rule["clear_after"]:
        new.update(firing=False, clean=0, window=[])
        return new, "clear"
    return new, None


def run_rounds(rule: Doc, rounds: list[list[Doc]]) -> list[str | None]:
    """The transitions of ``rounds`` (each a round's points, oldest first) from a fresh state:
    what a preview over stored points shows, and what the table-driven tests read."""
    state, out = fresh_state(), []
    for points in rounds:
        result = verdict(rule["when"], points, state["fps"])
        state, transition = step(rule, state, result)
        state["fps"] = next_fps(state["fps"], points)
        out.append(transition)
    return out
