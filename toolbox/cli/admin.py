"""``tbx jobs …`` and ``tbx agents …``: the rest of the API, as plain commands.

A job is named by its number or by a reference to your recent jobs: ``@last`` (also
``last`` and ``@-1``) is the newest job you started, ``@-2`` the one before it, and
so on (``GET /api/me``'s name, then ``GET /api/jobs?user=…``).
"""

import json
import re
import sys
from typing import Any

import click

from toolbox.cli import views
from toolbox.cli.client import CliError, Client
from toolbox.cli.paths import path_lines

REF_RE = re.compile(r"^(?:@?last|@-([1-9][0-9]{0,2}))$")
MAX_BACK = 500  # the server's page limit


def resolve_job(client: Client, ref: str) -> int:
    """A job number from ``ref``: digits, ``@last``/``last``/``@-1``, or ``@-N``."""
    if ref.isdigit():
        return int(ref)
    match = REF_RE.match(ref)
    if not match:
        raise click.BadParameter(f"{ref!r}: a job number, @last or @-N", param_hint="JOB")
    back = int(match.group(1) or 1)
    if back > MAX_BACK:
        raise click.BadParameter(f"{ref!r}: at most @-{MAX_BACK}", param_hint="JOB")
    me = client.get("/api/me")
    jobs = client.get("/api/jobs", user=me["name"], match="exact", limit=back)["items"]
    if len(jobs) < back:
        raise CliError(f"{ref}: you have started {len(jobs)} job{'s' if len(jobs) != 1 else ''}")
    return int(jobs[back - 1]["job_id"])


def _client() -> Client:
    return click.get_current_context().find_root().obj()


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _rows(rows: list[list[str]]) -> None:
    """Plain aligned columns (no colour: they go to scripts as often as to people)."""
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


JSON_FLAG = click.option("--json", "json_out", is_flag=True, help="print the server's JSON")


@click.group()
def jobs() -> None:
    """Your jobs and everyone's: list, show, export, cancel."""


@jobs.command("list")
@click.option("--tool", help="only this tool's jobs")
@click.option("--user", help="only jobs this person started")
@click.option("--mine", is_flag=True, help="only the jobs you started")
@click.option("--state", type=click.Choice(["running", "done", "canceled"]))
@click.option("--target", help="only jobs aimed at this host or URL")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@JSON_FLAG
def jobs_list(tool: str | None, user: str | None, mine: bool, state: str | None, target: str | None, limit: int,
              json_out: bool) -> None:
    """List jobs, newest first."""
    client = _client()
    if mine:
        if user:
            raise click.UsageError("--mine and --user: choose one")
        user = client.get("/api/me")["name"]
    answer = client.get("/api/jobs", tool=tool, user=user, state=state, target=target, limit=limit,
                        match="exact" if mine else None)
    if json_out:
        return _print_json(answer)
    _rows([["job", "tool", "target", "by", "created", "summary"]] +
          [[str(j["job_id"]), j["tool"], j.get("full_target") or j["target"], j.get("created_by") or "",
            (j.get("created_at") or "")[:19], j.get("summary") or ""] for j in answer["items"]])


@jobs.command("show")
@click.argument("job")
@JSON_FLAG
def jobs_show(job: str, json_out: bool) -> None:
    """Show a job (a number, @last or @-N): its tasks and summary; exit 1 unless every task is ok."""
    client = _client()
    doc = client.get(f"/api/jobs/{resolve_job(client, job)}")
    if json_out:
        _print_json(doc)
    else:
        width = views.ci_width(doc)
        click.echo(views.header_line(doc))
        for task in doc.get("tasks") or []:
            click.echo(views.ci_line(task, width))
        for line in views.summary_lines(doc):
            click.echo(line)
        if doc["tool"] in ("traceroute", "mtr"):
            for line in path_lines(doc.get("tasks") or []):
                click.echo(line)
    raise SystemExit(0 if views.job_ended(doc) and views.exit_code([doc]) == 0 else 1)


@jobs.command("export")
@click.argument("job")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="json", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="write to this file")
def jobs_export(job: str, fmt: str, output: str | None) -> None:
    """Export a job: a row per task (CSV) or everything with the whole outputs (JSON)."""
    client = _client()
    text = client.request("GET", f"/api/jobs/{resolve_job(client, job)}/export", query={"format": fmt},
                          want_text=True)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@jobs.command("cancel")
@click.argument("job")
@JSON_FLAG
def jobs_cancel(job: str, json_out: bool) -> None:
    """Cancel a running job's queued tasks."""
    client = _client()
    doc = client.post(f"/api/jobs/{resolve_job(client, job)}/cancel")
    if json_out:
        return _print_json(doc)
    click.echo(f"Job #{doc['job_id']} {doc['state']}: {doc.get('summary') or ''}".rstrip())


@click.group()
def agents() -> None:
    """The agents: list and show (viewers); add, disable, enable, reset-token, delete (admins)."""


def _agent_rows(items: list[dict[str, Any]]) -> None:
    _rows([["name", "online", "disabled", "platform", "tags", "last seen"]] +
          [[a["name"], "yes" if a.get("online") else "no", "yes" if a.get("disabled") else "no",
            a.get("platform") or "", ",".join(a.get("tags") or []), (a.get("last_seen") or "")[:19]]
           for a in items])


@agents.command("list")
@click.option("--tag", "tags", multiple=True, help="only agents with this tag (repeat: all of them)")
@JSON_FLAG
def agents_list(tags: tuple[str, ...], json_out: bool) -> None:
    """List the agents."""
    items = [a for a in _client().get("/api/agents")["items"] if set(tags) <= set(a.get("tags") or [])]
    if json_out:
        return _print_json({"items": items})
    _agent_rows(items)


@agents.command("show")
@click.argument("name")
@JSON_FLAG
def agents_show(name: str, json_out: bool) -> None:
    """Show one agent."""
    agent = _client().get(f"/api/agents/{name}")
    if json_out:
        return _print_json(agent)
    for key, value in agent.items():
        click.echo(f"{key}: {', '.join(value) if isinstance(value, list) else value}")


@agents.command("add")
@click.argument("name")
@click.option("--tag", "tags", multiple=True, help="a tag such as isp:telecom (repeatable)")
@click.option("--platform", type=click.Choice(["linux", "windows"]))
@JSON_FLAG
def agents_add(name: str, tags: tuple[str, ...], platform: str | None, json_out: bool) -> None:
    """Create an agent; prints its token (shown once: give it to toolbox-agent --token)."""
    body: dict[str, Any] = {"name": name, "tags": list(tags)}
    if platform:
        body["platform"] = platform
    agent = _client().post("/api/agents", body)
    if json_out:
        return _print_json(agent)
    click.echo(agent["token"])


def _set_disabled(name: str, disabled: bool, json_out: bool) -> None:
    agent = _client().request("PATCH", f"/api/agents/{name}", body={"disabled": disabled})
    if json_out:
        return _print_json(agent)
    click.echo(f"{agent['name']}: {'disabled' if agent['disabled'] else 'enabled'}")


@agents.command("disable")
@click.argument("name")
@JSON_FLAG
def agents_disable(name: str, json_out: bool) -> None:
    """Disable an agent (it gets no tasks and its fetches are refused)."""
    _set_disabled(name, True, json_out)


@agents.command("enable")
@click.argument("name")
@JSON_FLAG
def agents_enable(name: str, json_out: bool) -> None:
    """Enable a disabled agent."""
    _set_disabled(name, False, json_out)


@agents.command("reset-token")
@click.argument("name")
@JSON_FLAG
def agents_reset_token(name: str, json_out: bool) -> None:
    """Give an agent a new token (the old one stops working at once); prints it."""
    answer = _client().post(f"/api/agents/{name}/token")
    if json_out:
        return _print_json(answer)
    click.echo(answer["token"])


@agents.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="do not ask")
@JSON_FLAG
def agents_delete(name: str, yes: bool, json_out: bool) -> None:
    """Delete an agent; its queued tasks are canceled."""
    if not yes and not click.confirm(f"Delete agent {name}?", err=True):
        raise click.Abort()
    answer = _client().request("DELETE", f"/api/agents/{name}")
    if json_out:
        return _print_json(answer)
    canceled = answer.get("canceled_tasks") or []
    click.echo(f"{answer['name']}: deleted" + (f", {len(canceled)} queued task(s) canceled" if canceled else ""))
