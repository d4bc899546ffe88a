"""Read a task's result once: its parsed numbers, an outcome and a one-line summary.

Pure functions, no I/O.  ``read_result(tool, result, exit_code=None, target=None)``
returns a :class:`Reading` ``(parsed, outcome, summary)``:

- ``tool`` is a tool name (ping, traceroute, mtr, dig, curl, tcp) or, for a raw admin
  task, the whole command line (its first word picks the parser);
- ``result`` is the output the agent sent; ``exit_code`` is the command's exit code
  (the reference agent sends it; the field agent sends none, but its commands run under
  ``toolbox.tools.field_wrap``, whose last line ``toolbox-exit:N`` is taken off the
  output and read as the exit code);
- ``target`` is the task's target host (for curl the URL's host), used where the
  output leaves it out;
- ``parsed`` is ``toolbox.tools.parsers.parse_result(tool, output, target)`` (or None), where
  the output is ``result`` without the reference agent's ``[toolbox-agent: ...]`` notes;
- ``outcome`` is ``"ok"``, ``"partial"`` or ``"failed"``; ``summary`` is one line of
  at most 160 characters, e.g. "3/4 replies (25% loss), avg 28.1 ms".

Outcome rules
-------------
``failed`` -- the tool's own answer is a failure, or there is no answer:

- an unknown host (every tool); ping: no reply at all (100% loss) or another ping error;
- traceroute / mtr: no hop answered;
- dig: NXDOMAIN, SERVFAIL, REFUSED or any status but NOERROR, no DNS server reached,
  a DNS timeout;
- curl: an HTTP status of 400 or more, no HTTP answer (unknown host, could not
  connect, timed out, TLS error...), or curl's own non-zero exit code after a status;
- tcp: the port did not accept the connection (refused, timed out, failed);
- a non-zero ``exit_code`` (124, the reference agent's time limit, reads "timed out
  after N s" when its note says N, else "exit code 124"; 126/127 read as the agent's
  note, "command not found: X");
- a tool task whose output no parser reads ("no readable answer: " and the output's
  first words), or an empty output ("no output").

``partial`` -- an answer with gaps:

- ping: some replies lost;
- traceroute: some hops unanswered, or the destination not reached while earlier hops
  answered (when the output cannot tell whether it was reached, a trace that ends
  with an answering hop counts as reached, one that ends unanswered as not);
- mtr: the final hop lost some (not all) probes, or the destination was not reached
  (final hop silent, or another address than the target) while earlier hops answered.

``ok`` -- everything else: every reply, the destination reached with every hop
answering, a NOERROR answer (even with no records), an HTTP status below 400, an
open port.

Raw commands that no parser reads are ``ok`` when ``exit_code`` is 0 or None (the
field agent sends none) and ``failed`` otherwise; their summary is the output's first
line (or "no output"), after "exit code N: " when they failed.

Wording: times in ms -- whole numbers as they are, 0 as "<1" (tools that count whole
ms print 0 below 1 ms; mtr's 0.0 as "<0.1"), from 100 ms no decimals, from 10 ms one, below that 3
significant digits, so sub-millisecond values stay visible ("0.071 ms"); seconds for
time limits ("timed out after 10 s"); losses in % as the tool gave them; counts as
"N/M replies" and "N hops"; failures in one vocabulary: "unknown host X",
"connection refused", "timed out".
"""

import math
import re
from typing import Any, NamedTuple, Optional

from toolbox.tools.parsers import parse_result
from toolbox.tools.parsers._common import (
    REFUSED,
    TIMED_OUT,
    UNKNOWN_HOST,
    Parsed,
    classify_error,
    is_ip,
    same_ip,
)
from toolbox.tools.catalogue import TOOLS
from toolbox.tools.field_wrap import split_exit

__all__ = ["OK", "PARTIAL", "FAILED", "SUMMARY_MAX", "Reading", "read_result", "format_ms"]

OK, PARTIAL, FAILED = "ok", "partial", "failed"
MTR_RESOLUTION = 0.1  # mtr prints its times in tenths of a ms
SUMMARY_MAX = 160

# The reference agent appends notes such as "[toolbox-agent: command timed out after 60s]".
_NOTE = re.compile(r"\[toolbox-agent:\s*([^\]]*)\]")
_TIMED_OUT_NOTE = re.compile(r"command timed out after ([\d.]+)\s*s")
_NOTE_EXIT_CODES = (126, 127)  # cannot run / not found: the note says which
_TIME_LIMIT_EXIT_CODE = 124
_CURL_RESOLVE = re.compile(r"Could not resolve host:\s*(\S+)", re.I)
_CURL_CONNECT = re.compile(r"Failed to connect to (\S+) port (\d+)", re.I)
_CURL_TIMEOUT_CODE = 28


class Reading(NamedTuple):
    """What a result says: the parser's numbers, an outcome and a one-line summary."""

    parsed: Optional[dict]
    outcome: str
    summary: str


def read_result(tool: str, result: Any, exit_code: int | None = None, target: str | None = None) -> Reading:
    """Read ``result`` of ``tool`` (a tool name or a raw command line) into a Reading."""
    text = result if isinstance(result, str) else ""
    notes = _NOTE.findall(text)
    output, wrapped_exit, start_error = split_exit(_NOTE.sub(" ", text).strip())
    if wrapped_exit is not None and exit_code in (None, 0):
        exit_code = wrapped_exit  # the field wrapper's line says what the agent would have
        if start_error:
            notes.insert(0, f"cannot run the command: {start_error}")
    parsed = parse_result(tool, output, target=target)
    if parsed is not None:
        outcome, summary = _judge(parsed, target)
    elif tool in TOOLS:
        outcome, summary = FAILED, _unreadable(output, exit_code)
    else:  # a raw command no parser reads: its exit code decides
        outcome, summary = OK, _first_line(output) or "no output"
    if exit_code not in (None, 0):
        summary = _exit_summary(exit_code, notes, outcome, summary, parsed, output)
        outcome = FAILED
    return Reading(parsed, outcome, _clip(summary))


# --- Exit codes and unreadable output ---


def _exit_summary(exit_code: int, notes: list[str], outcome: str, summary: str, parsed: Parsed | None,
                  output: str) -> str:
    """The summary of a result whose command exited non-zero."""
    reason = f"exit code {exit_code}"
    if exit_code == _TIME_LIMIT_EXIT_CODE:
        limit = next((m for m in map(_TIMED_OUT_NOTE.search, notes) if m), None)
        if limit:
            reason = f"timed out after {_number(float(limit.group(1)))} s"
    elif exit_code in _NOTE_EXIT_CODES and notes:
        return notes[0]
    if parsed is not None and outcome == FAILED and exit_code != _TIME_LIMIT_EXIT_CODE:
        return summary  # the tool's own failure says more than its exit code
    if parsed is None:
        words = _first_line(output)
        return f"{reason}: {words}" if words else reason
    return f"{reason}; {summary}"


def _unreadable(output: str, exit_code: int | None) -> str:
    """The summary of a tool task whose output no parser reads."""
    if not output:
        if exit_code is None:
            return "no output (a field agent keeps standard output only)"
        return "no output"
    return "no readable answer: " + _first_line(output)


def _first_line(output: str) -> str:
    """The first non-blank line of ``output``, whitespace collapsed."""
    for line in output.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def _clip(summary: str) -> str:
    """One line of at most SUMMARY_MAX characters."""
    summary = " ".join(summary.split())
    return summary if len(summary) <= SUMMARY_MAX else summary[: SUMMARY_MAX - 1] + "…"


# --- Formatting ---


def _number(value: float) -> str:
    """A count or percentage as the tool gave it: 25.0 -> "25", 33.3 -> "33.3"."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def format_ms(value: float | None, resolution: float = 1) -> str:
    """Milliseconds for a person: "12", "28.1", "3.21", "0.071", "<1" (never "0.00").

    ``resolution`` is the tool's smallest step: a 0 reads "<1" (dig and Windows count whole
    ms) or "<0.1" (mtr prints tenths).  The console's formatMs (static/js/format.js) is
    the same rule."""
    if value is None:
        return "?"
    value = float(value)
    if value == 0:
        return f"<{_number(resolution)}"
    if value.is_integer():
        return str(int(value))
    if value >= 99.95:  # what would print as "100.0"; halves up, as the console rounds
        return str(math.floor(value + 0.5))
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.001:
        return f"{value:.3g}"
    return "<0.001"


def _plural(count: int, word: str) -> str:
    """ "1 hop", "3 hops"."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _unknown_host(*names: str | None) -> str:
    """ "unknown host X" with the first name known."""
    name = next((n for n in names if n), None)
    return f"{UNKNOWN_HOST} {name}" if name else UNKNOWN_HOST


# --- Per kind: (outcome, summary) ---


def _judge(parsed: Parsed, target: str | None) -> tuple[str, str]:
    """Return (outcome, summary) for a parsed result."""
    return _JUDGES[parsed["kind"]](parsed, target)


def _ping(p: Parsed, target: str | None) -> tuple[str, str]:
    if p["error"]:
        if p["error"] == UNKNOWN_HOST:
            return FAILED, _unknown_host(p["target"], target)
        return FAILED, p["error"]
    sent, got = p["transmitted"], p["received"]
    if not got:
        return FAILED, f"no reply: 0/{sent} ({_number(p['loss_pct'])}% loss)"
    avg = f", avg {format_ms(p['rtt_avg_ms'])} ms" if p["rtt_avg_ms"] is not None else ""
    if got < sent:
        return PARTIAL, f"{got}/{sent} replies ({_number(p['loss_pct'])}% loss){avg}"
    return OK, f"{got}/{sent} replies{avg}"


def _traceroute(p: Parsed, target: str | None) -> tuple[str, str]:
    if p["error"]:
        if p["error"] == UNKNOWN_HOST:
            return FAILED, _unknown_host(p["target"], target)
        return FAILED, p["error"]
    hops = p["hops"]
    silent = sum(1 for h in hops if h["loss"])
    count = _plural(len(hops), "hop")
    if not hops:
        return FAILED, "no hop answered"
    if silent == len(hops):
        return FAILED, f"no hop answered ({count})"
    gaps = f", {silent} unanswered" if silent else ""
    if p["reached"]:
        where = p["address"] or p["target"] or hops[-1]["address"]
        return (PARTIAL if silent else OK), f"reached {where} in {count}{gaps}"
    last = hops[-1]
    if p["reached"] is None and not last["loss"]:
        where = last["address"] or last["host"]
        return (PARTIAL if silent else OK), f"{count}{gaps}, last hop {where}"
    return PARTIAL, f"{count}{gaps}, destination not reached"


def _mtr(p: Parsed, target: str | None) -> tuple[str, str]:
    if p["error"]:
        if p["error"] == UNKNOWN_HOST:
            return FAILED, _unknown_host(target)
        return FAILED, p["error"]
    hops = p["hops"]
    count = _plural(len(hops), "hop")
    if not hops:
        return FAILED, "no hop answered"
    if all(h["loss_pct"] >= 100 for h in hops):
        return FAILED, f"no hop answered ({count})"
    final = hops[-1]
    name = final["address"] or final["host"]
    if final["loss_pct"] >= 100:
        return PARTIAL, f"{count}, destination not reached (final hop 100% loss)"
    if target and is_ip(target) and final["address"] and not same_ip(final["address"], target):
        return PARTIAL, f"{count}, destination not reached (final hop {name})"
    loss = _number(final["loss_pct"])
    numbers = f"{loss}% loss, avg {format_ms(final['avg_ms'], MTR_RESOLUTION)} ms"
    return (PARTIAL if final["loss_pct"] > 0 else OK), f"{count}, final {name}: {numbers}"


def _dig(p: Parsed, target: str | None) -> tuple[str, str]:
    if p["error"]:
        error = p["error"]
        if re.search(r"no servers could be reached", error, re.I):
            return FAILED, "no DNS server reached"
        return FAILED, error
    status = p["status"]
    if status is None:
        return FAILED, "no DNS status in the answer"
    if status != "NOERROR":
        return FAILED, status
    took = f" in {format_ms(p['query_time_ms'])} ms" if p["query_time_ms"] is not None else ""
    answers = p["answers"]
    if not answers:
        return OK, f"no records{took} (NOERROR)"
    types = list(dict.fromkeys(a["type"] for a in answers))
    if len(types) == 1:
        what = _plural(len(answers), f"{types[0]} record")
    else:
        what = f"{len(answers)} records ({', '.join(types)})"
    data = ", ".join(a["data"] for a in answers)
    return OK, f"{what}{took}: {data}"


def _curl_failure(p: Parsed) -> str:
    """Why curl got no (complete) answer, in the shared vocabulary."""
    error, code = p["error"] or "", p["error_code"]
    resolve = _CURL_RESOLVE.search(error)
    if resolve or code == 6:
        return _unknown_host(resolve.group(1) if resolve else None)
    if code == _CURL_TIMEOUT_CODE or classify_error(error) == TIMED_OUT:
        total = p["total_ms"]
        return f"{TIMED_OUT} after {_number(round(total / 1000.0, 1))} s" if total else TIMED_OUT
    if classify_error(error) == REFUSED:
        return REFUSED
    connect = _CURL_CONNECT.search(error)
    if connect:
        return f"could not connect to {connect.group(1)} port {connect.group(2)}"
    if error:
        return error
    return f"curl error {code}" if code else "no HTTP answer"


def _curl(p: Parsed, target: str | None) -> tuple[str, str]:
    status = p["http_status"]
    failed = bool(p["exit_code"]) or (p["exit_code"] is None and p["error"] is not None)
    if status and status >= 100:
        answer = f"HTTP {status} in {format_ms(p['total_ms'])} ms"
        if failed:
            return FAILED, f"HTTP {status}, then {_curl_failure(p)}"
        return (FAILED if status >= 400 else OK), answer
    if failed:
        return FAILED, _curl_failure(p)
    return FAILED, "no HTTP answer"


def _tcp(p: Parsed, target: str | None) -> tuple[str, str]:
    port = f"port {p['port']}" if p["port"] else "port"
    if p["open"]:
        took = f", connect {format_ms(p['connect_ms'])} ms" if p["connect_ms"] is not None else ""
        return OK, f"{port} open{took}"
    error = p["error"]
    if error == UNKNOWN_HOST:
        return FAILED, _unknown_host(p["host"], target)
    if error == "connection failed":
        return FAILED, f"{port} closed (connection failed)"
    return FAILED, f"{port}: {error}"


_JUDGES = {
    "ping": _ping,
    "traceroute": _traceroute,
    "mtr": _mtr,
    "dig": _dig,
    "curl": _curl,
    "tcp": _tcp,
}
