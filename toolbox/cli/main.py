"""The ``tbx`` command: its group, ``login``/``logout``/``whoami``/``completion``, and exit codes.

Tool commands (``tbx ping …``) come from the server's catalogue (``toolbox.cli.tools``),
``jobs`` and ``agents`` from ``toolbox.cli.admin``, ``schedules`` from ``toolbox.cli.watch``,
``alerts`` and ``channels`` from ``toolbox.cli.alerts``.  Every error ends as one line on
stderr: a usage error (a bad flag, a bad value) or a server error (unreachable, a 4xx
or 5xx answer) exits 2; a run exits 0 when every task is ok and 1 otherwise; Ctrl-C
while waiting exits 130.
"""

import json
import sys
from typing import Any

import click
from click.shell_completion import get_completion_class

from toolbox.cli import admin, alerts, config, watch
from toolbox.cli.client import CliError, Client
from toolbox.cli.tools import fetch_tools, tool_command

USAGE, INTERRUPTED = 2, 130
HELP_TIMEOUT = 5.0  # seconds to ask for the tool catalogue when listing commands (help, completion)


def make_client(timeout: float | None = None) -> Client:
    """A client for the server and token in effect (``TOOLBOX_URL``/``TOOLBOX_TOKEN``, then the file)."""
    current = config.settings()
    return Client(current.url, current.token, **({"timeout": timeout} if timeout else {}))


class TbxGroup(click.Group):
    """The ``tbx`` group: built-in commands, then one command per tool of the server's catalogue."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tools: list[dict[str, Any]] | None = None

    def tools(self, timeout: float | None = None) -> list[dict[str, Any]]:
        if self._tools is None:
            self._tools = fetch_tools(make_client(timeout))
        return self._tools

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            names = [tool["name"] for tool in self.tools(HELP_TIMEOUT)]
        except CliError:
            names = []  # no server: help still lists the built-in commands
        return sorted(super().list_commands(ctx)) + names

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        for tool in self.tools():
            if tool["name"] == cmd_name:
                return tool_command(tool, make_client)
        return None


@click.group(cls=TbxGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Tool commands (ping, traceroute, mtr, dig, curl, tcp, …) come from the server's catalogue. "
                    "Server and token: TOOLBOX_URL and TOOLBOX_TOKEN, else `tbx login`. Exit codes: 0 every task ok, "
                    "1 any task failed, partial, lost or timed out, 2 usage or server error, 130 Ctrl-C.")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """toolBox from the terminal: run diagnostics on many agents, follow jobs, manage agents."""
    ctx.obj = make_client


def _read_token(token: str | None) -> str:
    """The token from --token, else standard input (piped), else a prompt that does not echo."""
    if token is None and not sys.stdin.isatty():
        token = sys.stdin.readline()
    if token is None:
        token = click.prompt("API token (tbx_…)", hide_input=True, err=True)
    token = token.strip()
    if not token:
        raise click.UsageError("no token given")
    return token


@cli.command()
@click.option("--token", help="the token (else read from standard input, or asked for without echo)")
@click.option("--server", "url", help="the server's URL (default TOOLBOX_URL, the stored one, or "
                                      f"{config.DEFAULT_URL})")
def login(token: str | None, url: str | None) -> None:
    """Store a personal API token (made in the console's Tokens page) for this user."""
    url = (url or config.settings().url).rstrip("/")
    token = _read_token(token)
    me = Client(url, token).get("/api/me")
    path = config.write_file(url, token)
    click.echo(f"Logged in to {url} as {me['name']} ({me['role']}); token stored in {path}")


@cli.command()
def logout() -> None:
    """Forget the stored token."""
    click.echo("Token removed." if config.remove_token() else "No token was stored.")


@cli.command()
@click.option("--json", "json_out", is_flag=True, help="print the server's JSON")
def whoami(json_out: bool) -> None:
    """Who the server says you are, and where the token comes from."""
    current = config.settings()
    if current.token is None:
        raise CliError("not logged in: run `tbx login` (or set TOOLBOX_TOKEN)")
    me = make_client().get("/api/me")
    if json_out:
        click.echo(json.dumps(me, indent=2))
        return
    click.echo(f"{me['name']} ({me['role']}) on {current.url}, token from {current.token_from}")


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(tbx completion bash)"."""
    completer = get_completion_class(shell)
    assert completer is not None
    click.echo(completer(cli, {}, "tbx", "_TBX_COMPLETE").source())


cli.add_command(admin.jobs)
cli.add_command(admin.agents)
cli.add_command(watch.schedules)
cli.add_command(alerts.alerts)
cli.add_command(alerts.channels)


def main(argv: list[str] | None = None) -> None:
    """The ``tbx`` console script: run the command, turn every error into one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="tbx", complete_var="_TBX_COMPLETE", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:  # usage errors, bad values, unreadable files
        error.show()
        sys.exit(USAGE)
    except click.Abort:
        click.echo("tbx: aborted", err=True)
        sys.exit(INTERRUPTED)
    except CliError as error:
        click.echo(f"tbx: {error}", err=True)
        sys.exit(USAGE)
    except KeyboardInterrupt:
        click.echo("tbx: interrupted", err=True)
        sys.exit(INTERRUPTED)
    sys.exit(0)
