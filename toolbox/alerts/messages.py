"""What a notification says, per channel type (pure functions).

``summary`` is the channel-neutral message of an alert's transition (``fire``, ``clear``,
``remind``, ``test``): title, the schedule and its target, the agents and what each saw,
and links to the round's job and the schedule's graph on the console.  ``feishu_body``
makes it a Feishu/Lark card; ``webhook_body`` the generic JSON.  Both stay well under
Feishu's 20 KB: at most ``MAX_AGENTS_SHOWN`` agents are listed, the rest counted.
"""

from typing import Any

from toolbox.clock import isoformat
from toolbox.store.db import Doc

MAX_AGENTS_SHOWN = 20
TITLES = {"fire": "Firing", "clear": "Resolved", "remind": "Still firing", "test": "Test message"}


def _seen_text(seen: Doc) -> str:
    parts = [str(seen.get("outcome") or "?")]
    if isinstance(seen.get("loss_pct"), (int, float)):
        parts.append(f"loss {seen['loss_pct']:g} %")
    if isinstance(seen.get("value_ms"), (int, float)):
        parts.append(f"{seen['value_ms']:g} ms")
    if seen.get("status") is not None:
        parts.append(f"status {seen['status']}")
    if isinstance(seen.get("answers"), list):  # a dig point's final answers
        shown = ", ".join(seen["answers"][:4]) + (" …" if len(seen["answers"]) > 4 else "")
        parts.append(f"answers {shown[:120]}" if seen["answers"] else "no answer")
    if seen.get("reason"):
        parts.append(str(seen["reason"])[:80])
    return ", ".join(parts)


def summary(kind: str, alert: Doc, public_url: str) -> Doc:
    """The message of ``kind`` for ``alert`` (a stored alert document)."""
    base = public_url.rstrip("/")
    agents = alert.get("agents") or []
    lines = [f"{a['agent']}: {_seen_text(a)}" for a in agents[:MAX_AGENTS_SHOWN]]
    if len(agents) > MAX_AGENTS_SHOWN:
        lines.append(f"… and {len(agents) - MAX_AGENTS_SHOWN} more")
    links = {"schedule": f"{base}/#/schedules/{alert['schedule_id']}"} if alert.get("schedule_id") else {}
    if alert.get("job_id"):
        links["job"] = f"{base}/#/jobs/{alert['job_id']}"
    return {"kind": kind, "title": f"{TITLES.get(kind, kind)}: {alert.get('rule_name') or 'alert'}",
            "schedule": alert.get("schedule_name"), "target": alert.get("target"),
            "agents": lines, "links": links, "alert_id": alert.get("_id"), "rule_id": alert.get("rule_id"),
            "schedule_id": alert.get("schedule_id"), "state": alert.get("state"),
            "started_at": isoformat(alert.get("started_at")), "resolved_at": isoformat(alert.get("resolved_at"))}


def feishu_body(message: Doc) -> Doc:
    """A Feishu/Lark interactive card (header, the facts, the agents, two buttons)."""
    template = {"fire": "red", "remind": "orange", "clear": "green"}.get(message["kind"], "blue")
    facts = f"**Schedule**: {message.get('schedule') or '-'}\n**Target**: {message.get('target') or '-'}"
    elements: list[Any] = [{"tag": "div", "text": {"tag": "lark_md", "content": facts}}]
    if message.get("agents"):
        elements.append({"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(message["agents"])}})
    buttons = [{"tag": "button", "text": {"tag": "plain_text", "content": label},
                "url": message["links"][key], "type": "default"}
               for key, label in (("job", "The round's job"), ("schedule", "The schedule's graph"))
               if key in message["links"]]
    if buttons:
        elements.append({"tag": "action", "actions": buttons})
    return {"msg_type": "interactive",
            "card": {"header": {"title": {"tag": "plain_text", "content": message["title"]}, "template": template},
                     "elements": elements}}


def webhook_body(message: Doc) -> Doc:
    """The generic webhook's JSON: ``event`` (``alert.fire`` …) and the message's fields."""
    return dict(message, event=f"alert.{message['kind']}")
