"""A ``tbx`` command per tool, built from the server's catalogue (``GET /api/tools``).

A tool's first required host or URL parameter is the command's argument (``TARGET``,
``URL``); every other parameter is a flag (``max_hops`` → ``--max-hops``) typed from
its description: bounded integers, case-insensitive choices.  So a tool added to the
server is a new command without a change here.  The options every tool command shares
(where it runs, how the result is shown) are in ``RUN_OPTIONS``.
"""

import os
import sys
from typing import Any

import click

from toolbox.cli.client import CliError, Client
from toolbox.cli.run import RunOptions, run

AGENT_FLAGS = "agent names, tag:KEY:VALUE, or all (comma-separated or repeated; default all)"
RESERVED = {"from", "match", "json", "csv", "ci", "share", "watch", "repeat", "interval", "cancel_on_exit", "help"}


def target_param(tool: dict[str, Any]) -> dict[str, Any] | None:
    """The parameter given as the command's argument: the first required host or URL."""
    for param in tool.get("params") or []:
        if param.get("required") and param.get("type") in ("host", "url"):
            return param
    return None


def _option(param: dict[str, Any]) -> click.Option:
    """A flag for one tool parameter."""
    name = param["name"]
    flag = ("--tool-" if name in RESERVED else "--") + name.replace("_", "-")
    dest = f"tool_{name}" if name in RESERVED else name  # not the run's own --interval
    kind: Any = str
    if param.get("type") == "int" and param.get("min") is not None and param.get("max") is not None:
        kind = click.IntRange(param["min"], param["max"])
    elif param.get("type") == "int":
        kind = int
    elif param.get("type") == "number" and param.get("min") is not None and param.get("max") is not None:
        kind = click.FloatRange(param["min"], param["max"])
    elif param.get("type") == "choice" and param.get("choices"):
        kind = click.Choice(param["choices"], case_sensitive=False)
    help_text = param.get("description") or ""
    if param.get("default") is not None:
        help_text += f" (default {param['default']})"
    return click.Option([flag, dest], type=kind, required=bool(param.get("required")), default=None,
                        help=help_text)


def param_values(values: dict[str, Any]) -> dict[str, Any]:
    """The tool parameters given on the command line, by their names (``_option``'s dests)."""
    return {(key[5:] if key.startswith("tool_") and key[5:] in RESERVED else key): value
            for key, value in values.items() if value is not None}


def selection(values: tuple[str, ...], match: str | None) -> dict[str, Any]:
    """The ``POST /api/jobs`` agent selection for ``--from`` values."""
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    if not items or items == ["all"]:
        if match:
            raise click.UsageError("--match goes with tag:KEY:VALUE in --from")
        return {"all": True}
    tags = [item[4:] for item in items if item.startswith("tag:")]
    names = [item for item in items if not item.startswith("tag:")]
    if "all" in items or (tags and names):
        raise click.UsageError("--from takes agent names, or tags, or all: not a mix of them")
    if tags:
        if any(not tag for tag in tags):
            raise click.UsageError("--from tag:KEY:VALUE needs the tag after tag:")
        return {"tags": tags, **({"tags_match": match} if match else {})}
    if match:
        raise click.UsageError("--match goes with tag:KEY:VALUE in --from")
    return {"agents": names}


def output_mode(json_out: bool, csv_out: bool, ci: bool) -> str:
    """``json``, ``csv``, ``ci`` (asked, or stdout is no terminal, or ``CI`` is set) or ``live``."""
    if json_out and csv_out:
        raise click.UsageError("--json and --csv: choose one")
    if json_out:
        return "json"
    if csv_out:
        return "csv"
    if ci or os.environ.get("CI") or not sys.stdout.isatty():
        return "ci"
    return "live"


RUN_OPTIONS = [
    click.Option(["--from", "-f", "sources"], multiple=True, metavar="WHERE", help=AGENT_FLAGS),
    click.Option(["--match"], type=click.Choice(["any", "all"]),
                 help="with several tags: agents having any of them, or all (default all)"),
    click.Option(["--json", "json_out"], is_flag=True, help="print the finished job document (JSON) only"),
    click.Option(["--csv", "csv_out"], is_flag=True, help="print the finished job as CSV (a row per task)"),
    click.Option(["--ci"], is_flag=True,
                 help="plain lines as tasks finish, no colour or redraw (automatic when stdout is not a "
                      "terminal or CI is set)"),
    click.Option(["--share"], is_flag=True, help="also print the job's link in the web console"),
    click.Option(["--repeat", "-n"], type=click.IntRange(1, 10000), default=1, show_default=True,
                 help="run N times on the same agents, with per-agent running statistics"),
    click.Option(["--watch", "-w"], is_flag=True, help="run again and again until Ctrl-C (like --repeat forever)"),
    click.Option(["--interval"], type=click.FloatRange(0, 3600), default=2.0, show_default=True,
                 help="seconds between runs with --repeat or --watch"),
    click.Option(["--cancel-on-exit"], is_flag=True,
                 help="Ctrl-C cancels the job (by default it only stops waiting)"),
]


def tool_command(tool: dict[str, Any], client_factory: Any) -> click.Command:
    """The click command running ``tool`` (a ``GET /api/tools`` item)."""
    target = target_param(tool)
    params: list[click.Parameter] = []
    if target is not None:
        params.append(click.Argument([target["name"]], metavar=target["name"].upper()))
    params += [_option(p) for p in tool.get("params") or [] if p is not target]
    params += RUN_OPTIONS

    def callback(sources: tuple[str, ...], match: str | None, json_out: bool, csv_out: bool, ci: bool,
                 share: bool, repeat: int, watch: bool, interval: float, cancel_on_exit: bool,
                 **values: Any) -> None:
        mode = output_mode(json_out, csv_out, ci)
        if watch and repeat != 1:
            raise click.UsageError("--watch and --repeat: choose one")
        options = RunOptions(tool=tool["name"], params=param_values(values),
                             selection=selection(sources, match), mode=mode, share=share,
                             runs=None if watch else repeat, interval=interval, cancel_on_exit=cancel_on_exit)
        client: Client = client_factory()
        raise SystemExit(run(client, options))

    summary = tool.get("title") or tool["name"]
    description = tool.get("description") or ""
    platforms = ", ".join(tool.get("platforms") or [])
    return click.Command(tool["name"], params=params, callback=callback, short_help=f"{summary}",
                         help=f"{summary}: {description}\n\nRuns on agents with: {platforms}.")


def fetch_tools(client: Client) -> list[dict[str, Any]]:
    """The server's tool catalogue."""
    answer = client.get("/api/tools")
    if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
        raise CliError(f"the server at {client.url} did not answer a tool catalogue")
    return answer["items"]
