"""``tbx schedules …``: schedules, their rounds and their series, through ``/api/schedules``.

``tbx schedules add TOOL TARGET --every 5m --from …`` takes the tool's parameters as
flags, as the tool commands do (built from ``GET /api/tools``), so a new tool needs no
change here.  Durations (``--every``, ``--since``) are a number with ``s``, ``m``, ``h``
or ``d`` (bare: seconds).
"""

import datetime
import re
import sys
from typing import Any

import click

from toolbox.cli.admin import JSON_FLAG, _client, _print_json, _rows
from toolbox.cli.client import CliError
from toolbox.cli.tools import AGENT_FLAGS, _option, fetch_tools, param_values, selection, target_param

DURATION_RE = re.compile(r"^([0-9]{1,7})([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text: str, flag: str) -> int:
    """Seconds in a duration such as ``90``, ``30s``, ``5m``, ``3h`` or ``2d``."""
    match = DURATION_RE.match(text.strip().lower())
    if not match:
        raise click.BadParameter(f"{text!r}: a duration such as 30s, 5m, 3h or 2d", param_hint=flag)
    return int(match.group(1)) * UNITS[match.group(2)]


def iso(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def ago(text: str, flag: str) -> str:
    """The ISO time ``text`` (a duration) before now."""
    return iso(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds(text, flag)))


def every(interval: int) -> str:
    """An interval in the largest unit that divides it (``300`` → ``5m``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if interval % size == 0:
            return f"{interval // size}{unit}"
    return f"{interval}s"


def where(doc: dict[str, Any]) -> str:
    """Which agents a schedule runs on, as ``--from`` would say it."""
    if doc.get("all"):
        return "all"
    if doc.get("tags"):
        match = f" ({doc['tags_match']})" if doc.get("tags_match") and len(doc["tags"]) > 1 else ""
        return ",".join("tag:" + tag for tag in doc["tags"]) + match
    return ",".join(doc.get("agents") or [])


def last_round(doc: dict[str, Any]) -> str:
    last = doc.get("last_round")
    if not last:
        return ""
    if last.get("state") == "fired":
        return f"#{last.get('job_id')} {(last.get('at') or '')[:19]}"
    return f"skipped: {last.get('reason') or ''}".strip()


@click.group()
def schedules() -> None:
    """Schedules: a tool run again every interval, its rounds and per-agent series."""


@schedules.command("list")
@click.option("--mine", is_flag=True, help="only the schedules you own")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@JSON_FLAG
def schedules_list(mine: bool, limit: int, json_out: bool) -> None:
    """List schedules, newest first."""
    answer = _client().get("/api/schedules", owner="me" if mine else None, limit=limit)
    if json_out:
        return _print_json(answer)
    _rows([["id", "name", "tool", "from", "every", "state", "next run", "last round"]] +
          [[str(s["schedule_id"]), s["name"], s["tool"], where(s), every(s["interval"]),
            "active" if s.get("enabled") else "paused", (s.get("next_run") or "")[:19], last_round(s)]
           for s in answer["items"]])


@schedules.command("show")
@click.argument("schedule_id", type=click.IntRange(1))
@JSON_FLAG
def schedules_show(schedule_id: int, json_out: bool) -> None:
    """Show one schedule."""
    doc = _client().get(f"/api/schedules/{schedule_id}")
    if json_out:
        return _print_json(doc)
    rounds = doc.get("rounds") or {}
    for key, value in (("schedule", doc["schedule_id"]), ("name", doc["name"]), ("owner", doc.get("owner")),
                       ("tool", doc["tool"]), ("params", ", ".join(f"{k}={v}" for k, v in doc["params"].items())),
                       ("from", where(doc)), ("every", every(doc["interval"])), ("spread", doc.get("spread")),
                       ("state", "active" if doc.get("enabled") else "paused"), ("start at", doc.get("start_at")),
                       ("stop at", doc.get("stop_at")), ("next run", doc.get("next_run")),
                       ("last round", last_round(doc)),
                       ("rounds", ", ".join(f"{rounds[k]} {k}" for k in sorted(rounds)))):
        if value not in (None, ""):
            click.echo(f"{key}: {value}")


def _schedule_line(doc: dict[str, Any]) -> str:
    state = "active" if doc.get("enabled") else "paused"
    return (f"Schedule {doc['schedule_id']} ({doc['name']}): {doc['tool']} from {where(doc)} every "
            f"{every(doc['interval'])}, {state}" + (f", next run {doc['next_run'][:19]}" if doc.get("next_run") else ""))


class AddGroup(click.Group):
    """``tbx schedules add TOOL …``: one subcommand per tool of the server's catalogue."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            return [tool["name"] for tool in fetch_tools(_client())]
        except CliError:
            return []

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for tool in fetch_tools(_client()):
            if tool["name"] == cmd_name:
                return add_command(tool)
        return None


def add_command(tool: dict[str, Any]) -> click.Command:
    """The click command making a schedule of ``tool`` (a ``GET /api/tools`` item)."""
    target = target_param(tool)
    params: list[click.Parameter] = []
    if target is not None:
        params.append(click.Argument([target["name"]], metavar=target["name"].upper()))
    params += [_option(p) for p in tool.get("params") or [] if p is not target]
    params += [
        click.Option(["--every", "every_"], required=True, metavar="DURATION",
                     help="how often: 5m, 1h, … (1m to 1d)"),
        click.Option(["--from", "-f", "sources"], multiple=True, metavar="WHERE", help=AGENT_FLAGS),
        click.Option(["--match"], type=click.Choice(["any", "all"]), help="with several tags: any or all"),
        click.Option(["--name"], help="the schedule's name (default: tool and target)"),
        click.Option(["--spread"], type=click.FloatRange(0, 1), help="spread rounds over this fraction of the interval"),
        click.Option(["--paused"], is_flag=True, help="make it paused (resume it later)"),
        click.Option(["--json", "json_out"], is_flag=True, help="print the server's JSON"),
    ]

    def callback(every_: str, sources: tuple[str, ...], match: str | None, name: str | None, spread: float | None,
                 paused: bool, json_out: bool, **values: Any) -> None:
        body: dict[str, Any] = {"tool": tool["name"], "params": param_values(values),
                                "interval": seconds(every_, "--every"), **selection(sources, match)}
        if name:
            body["name"] = name
        if spread is not None:
            body["spread"] = spread
        if paused:
            body["enabled"] = False
        doc = _client().post("/api/schedules", body)
        if json_out:
            return _print_json(doc)
        click.echo(_schedule_line(doc))

    summary = tool.get("title") or tool["name"]
    return click.Command(tool["name"], params=params, callback=callback, short_help=summary,
                         help=f"Run {summary} every --every on the agents of --from.")


schedules.add_command(AddGroup("add", subcommand_metavar="TOOL TARGET --every DURATION [OPTIONS]", help="Make a schedule: tbx schedules add TOOL TARGET --every 5m [--from …] "
                                           "[the tool's flags]."))


def _set_enabled(schedule_id: int, enabled: bool, json_out: bool) -> None:
    doc = _client().request("PATCH", f"/api/schedules/{schedule_id}", body={"enabled": enabled})
    if json_out:
        return _print_json(doc)
    click.echo(_schedule_line(doc))


@schedules.command("pause")
@click.argument("schedule_id", type=click.IntRange(1))
@JSON_FLAG
def schedules_pause(schedule_id: int, json_out: bool) -> None:
    """Pause a schedule (no rounds until resumed)."""
    _set_enabled(schedule_id, False, json_out)


@schedules.command("resume")
@click.argument("schedule_id", type=click.IntRange(1))
@JSON_FLAG
def schedules_resume(schedule_id: int, json_out: bool) -> None:
    """Resume a paused schedule (its next round runs at once)."""
    _set_enabled(schedule_id, True, json_out)


@schedules.command("delete")
@click.argument("schedule_id", type=click.IntRange(1))
@click.option("--yes", "-y", is_flag=True, help="do not ask")
@JSON_FLAG
def schedules_delete(schedule_id: int, yes: bool, json_out: bool) -> None:
    """Delete a schedule with its rounds' log and series (its jobs stay in History)."""
    if not yes and not click.confirm(f"Delete schedule {schedule_id} and its series?", err=True):
        raise click.Abort()
    answer = _client().request("DELETE", f"/api/schedules/{schedule_id}")
    if json_out:
        return _print_json(answer)
    click.echo(f"Schedule {answer['schedule_id']}: deleted")


@schedules.command("rounds")
@click.argument("schedule_id", type=click.IntRange(1))
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@JSON_FLAG
def schedules_rounds(schedule_id: int, limit: int, json_out: bool) -> None:
    """The schedule's latest rounds, newest first: fired (with the job) or skipped (and why)."""
    answer = _client().get(f"/api/schedules/{schedule_id}/rounds", limit=limit)
    if json_out:
        return _print_json(answer)
    _rows([["at", "state", "job", "agents", "busy", "missed", "reason"]] +
          [[(r.get("at") or "")[:19], r["state"], str(r.get("job_id") or ""), str(r.get("agents", "")),
            ",".join(r.get("busy") or []), str(r.get("missed") or ""), r.get("reason") or ""]
           for r in answer["items"]])


def _num(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@schedules.command("series")
@click.argument("schedule_id", type=click.IntRange(1))
@click.option("--agent", help="only this agent's series")
@click.option("--since", default="3h", show_default=True, metavar="DURATION", help="from this long ago until now")
@click.option("--csv", "csv_out", is_flag=True, help="the server's CSV")
@JSON_FLAG
def schedules_series(schedule_id: int, agent: str | None, since: str, csv_out: bool, json_out: bool) -> None:
    """Each agent's points (or hourly/daily rollups for long ranges) over a time range."""
    if csv_out and json_out:
        raise click.UsageError("--json and --csv: choose one")
    query = {"agent": agent, "from": ago(since, "--since")}
    client = _client()
    if csv_out:
        text = client.request("GET", f"/api/schedules/{schedule_id}/series", query={**query, "format": "csv"},
                              want_text=True)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    answer = client.get(f"/api/schedules/{schedule_id}/series", **query)
    if json_out:
        return _print_json(answer)
    raw = answer["tier"] == "raw"
    click.echo(f"Schedule {schedule_id}: {answer['tier']} points from {(answer.get('from') or '')[:19]} "
               f"to {(answer.get('to') or '')[:19]}")
    for series in answer["series"]:
        click.echo(f"\n{series['agent']}:")
        if raw:
            _rows([["at", "outcome", "value ms", "loss", "job", "changed"]] +
                  [[(p.get("at") or "")[:19], p.get("outcome") or "", _num(p.get("value")), _num(p.get("loss")),
                    str(p.get("job_id") or ""), ",".join(p.get("changed") or [])] for p in series["points"]])
        else:
            _rows([["at", "count", "min", "median", "max", "loss"]] +
                  [[(p.get("at") or "")[:19], _num(p.get("count")), _num(p.get("min")), _num(p.get("median")),
                    _num(p.get("max")), _num(p.get("loss"))] for p in series["points"]])
