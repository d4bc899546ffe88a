"""What a running task's output says so far: the numbers a job's row shows while it runs.

``live_reading`` runs the tool's own parser on the output so far (``toolbox.tools.parsers``
read truncated output: ping counts the replies printed, traceroute the hops found) and
keeps the few figures a console fills in: ping's replies so far and the last round-trip
time, traceroute's and mtr's hops found (mtr's report mode prints its table only at the
end, so until then it has none).  Pure: no I/O.
"""

from typing import Any

from toolbox.tools.parsers import parse_result

__all__ = ["live_reading"]


def live_reading(tool: str | None, output: str, target: str | None = None) -> dict[str, Any]:
    """The figures ``output`` (a running ``tool``'s output so far) gives; {} when none."""
    if not tool or not output.strip():
        return {}
    parsed = parse_result(tool, output, target)
    if not isinstance(parsed, dict):
        return {}
    if tool == "ping":
        replies = parsed.get("replies") or []
        reading: dict[str, Any] = {"received": len(replies), "sent": parsed.get("transmitted") or len(replies)}
        if replies:
            reading["last_rtt_ms"] = replies[-1]
        return reading
    if tool in ("traceroute", "mtr"):
        hops = parsed.get("hops") or []
        reading = {"hops": len(hops)}
        if hops:
            reading["last_hop"] = hops[-1].get("address") or hops[-1].get("host")
        return reading
    return {}
