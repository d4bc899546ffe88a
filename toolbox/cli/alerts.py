"""``tbx alerts …`` and ``tbx channels …``: alert state, a schedule's rules, notification channels.

Alerts come from ``/api/alerts`` (acknowledge: operators); a schedule's rules from
``/api/schedules/{id}/alerts``; channels from ``/api/channels`` (admins).  The tables
are plain aligned columns like ``tbx agents list``; ``--json`` prints the server's JSON.
"""

import datetime
from typing import Any

import click

from toolbox.cli.admin import JSON_FLAG, _client, _print_json, _rows
from toolbox.cli.watch import iso, seconds


def _when(rule_when: dict[str, Any]) -> str:
    """A rule's condition in words: ``loss_pct >= 50``, ``outcome failed``, ``changed route``."""
    if "metric" in rule_when:
        return f"{rule_when['metric']} {rule_when.get('op', '')} {rule_when.get('value', '')}".strip()
    return " ".join(f"{key} {','.join(map(str, value)) if isinstance(value, list) else value}"
                    for key, value in rule_when.items())


def _agents(alert: dict[str, Any]) -> str:
    return ",".join(seen["agent"] for seen in alert.get("agents") or [])


@click.group()
def alerts() -> None:
    """Alerts of the schedules' rules: list, show, ack, silence; a schedule's rules."""


@alerts.command("list")
@click.option("--state", type=click.Choice(["firing", "resolved"]), help="only firing or only resolved alerts")
@click.option("--schedule", "schedule_id", type=click.IntRange(1), help="only this schedule's alerts")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@JSON_FLAG
def alerts_list(state: str | None, schedule_id: int | None, limit: int, json_out: bool) -> None:
    """List alerts, newest first."""
    answer = _client().get("/api/alerts", state=state, schedule=schedule_id, limit=limit)
    if json_out:
        return _print_json(answer)
    _rows([["id", "state", "rule", "schedule", "agents", "fired", "resolved", "ack"]] +
          [[str(a["alert_id"]), a["state"], a.get("rule_name") or str(a["rule_id"]), str(a.get("schedule_id") or ""),
            _agents(a), (a.get("fired_at") or "")[:19], (a.get("resolved_at") or "")[:19],
            a.get("acknowledged_by") or ""] for a in answer["items"]])


@alerts.command("show")
@click.argument("alert_id", type=click.IntRange(1))
@JSON_FLAG
def alerts_show(alert_id: int, json_out: bool) -> None:
    """Show an alert: what each agent saw, and its notifications' delivery."""
    alert = _client().get(f"/api/alerts/{alert_id}")
    if json_out:
        return _print_json(alert)
    for key in ("alert_id", "state", "rule_name", "rule_id", "schedule_id", "started_at", "fired_at", "resolved_at",
                "job_id", "acknowledged_by", "silenced_until", "reminders"):
        if alert.get(key) not in (None, ""):
            click.echo(f"{key}: {alert[key]}")
    rounds = alert.get("rounds") or []
    if rounds:  # the rounds that made it fire: how many of each round's agents matched
        click.echo(f"rounds: {len(rounds)} (" + ", ".join(
            f"{r.get('matched')} of {r.get('total')} agents at {(r.get('at') or '')[11:19]}" for r in rounds) + ")")
    if alert.get("agents"):
        click.echo("\nagents:")
        _rows([["agent", "outcome", "value ms", "loss %", "status", "reason"]] +
              [[s["agent"], s.get("outcome") or "", "" if s.get("value_ms") is None else f"{s['value_ms']:g}",
                "" if s.get("loss_pct") is None else f"{s['loss_pct']:g}", str(s.get("status") or ""),
                s.get("reason") or ""] for s in alert["agents"]])
    if alert.get("notifications"):
        click.echo("\nnotifications:")
        _rows([["kind", "channel", "state", "tries", "last error"]] +
              [[n.get("kind") or "", str(n.get("channel_id") or ""), n.get("state") or "", str(n.get("tries") or 0),
                n.get("last_error") or ""] for n in alert["notifications"]])


def _alert_line(alert: dict[str, Any]) -> str:
    extra = [f"acknowledged by {alert['acknowledged_by']}"] if alert.get("acknowledged_by") else []
    if alert.get("silenced_until"):
        extra.append(f"silenced until {alert['silenced_until'][:19]}")
    return f"Alert {alert['alert_id']} ({alert.get('rule_name') or alert['rule_id']}) {alert['state']}" + (
        ": " + ", ".join(extra) if extra else "")


@alerts.command("ack")
@click.argument("alert_id", type=click.IntRange(1))
@JSON_FLAG
def alerts_ack(alert_id: int, json_out: bool) -> None:
    """Acknowledge a firing alert: no more reminders."""
    alert = _client().post(f"/api/alerts/{alert_id}/ack")
    if json_out:
        return _print_json(alert)
    click.echo(_alert_line(alert))


@alerts.command("silence")
@click.argument("alert_id", type=click.IntRange(1))
@click.option("--for", "for_", metavar="DURATION", help="how long: 30m, 1h, 1d")
@click.option("--off", is_flag=True, help="end a silence")
@JSON_FLAG
def alerts_silence(alert_id: int, for_: str | None, off: bool, json_out: bool) -> None:
    """Keep an alert's reminders and its clear message quiet for a while."""
    if (for_ is None) == (not off):
        raise click.UsageError("give --for DURATION or --off")
    until = None if off else iso(datetime.datetime.now(datetime.timezone.utc) +
                                 datetime.timedelta(seconds=seconds(for_ or "", "--for")))
    alert = _client().post(f"/api/alerts/{alert_id}/silence", {"until": until})
    if json_out:
        return _print_json(alert)
    click.echo(_alert_line(alert))


@alerts.command("rules")
@click.argument("schedule_id", type=click.IntRange(1))
@JSON_FLAG
def alerts_rules(schedule_id: int, json_out: bool) -> None:
    """A schedule's alert rules, with whether each is firing and its K-of-M window."""
    answer = _client().get(f"/api/schedules/{schedule_id}/alerts")
    if json_out:
        return _print_json(answer)
    _rows([["id", "name", "when", "rounds", "agents", "state", "window", "channels"]] +
          [[str(r["rule_id"]), r.get("name") or "", _when(r["when"]), f"{r.get('rounds')} of {r.get('of_rounds')}",
            f"{r['min_pct']}%" if r.get("min_pct") is not None else f">= {r.get('min_agents') or 1}",
            "off" if r.get("enabled") is False else "firing" if r.get("firing") else "ok",
            "".join("x" if bad else "." for bad in r.get("window") or []),
            ",".join(str(c) for c in r.get("channels") or [])] for r in answer["items"]])


@click.group()
def channels() -> None:
    """Notification channels (Feishu bots, webhooks): admins."""


@channels.command("list")
@JSON_FLAG
def channels_list(json_out: bool) -> None:
    """List the channels (never their secrets)."""
    answer = _client().get("/api/channels")
    if json_out:
        return _print_json(answer)
    _rows([["id", "type", "name", "secret", "url"]] +
          [[str(c["channel_id"]), c["type"], c["name"], "yes" if c.get("has_secret") else "no", c.get("url") or ""]
           for c in answer["items"]])
