"""The ``toolbox-agent`` command: settings from flags and ``TOOLBOX_*`` variables, signals, exit codes.

``python -m toolbox.agent`` runs it too.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading

from toolbox.agent.client import EXIT_CONFIG, EXIT_FORCED, Agent, AgentError

log = logging.getLogger(__name__)


def parse_args(argv=None, environ=None) -> argparse.Namespace:
    """Parse the command line; flags win over TOOLBOX_* environment variables."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="toolbox-agent", description="Run toolBox tasks on this machine.")
    parser.add_argument("--server", default=env.get("TOOLBOX_SERVER"),
                        help="server URL, e.g. http://host:8000 (env TOOLBOX_SERVER)")
    parser.add_argument("--name", default=env.get("TOOLBOX_AGENT_NAME"),
                        help="agent name (env TOOLBOX_AGENT_NAME)")
    parser.add_argument("--token", default=env.get("TOOLBOX_AGENT_TOKEN"),
                        help="agent token (env TOOLBOX_AGENT_TOKEN; preferred, as flags "
                             "are visible to other local users)")
    parser.add_argument("--command-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="kill a command after this long (default 60) when its task "
                             "carries no time bound; a positive 'timeout' the server sends "
                             "with a task takes precedence")
    parser.add_argument("--output-cap", type=int, default=1048576, metavar="BYTES",
                        help="keep at most this much output per command (default 1048576)")
    parser.add_argument("--once", action="store_true",
                        help="poll until the server answers once, run the task it hands "
                             "out (if any), then exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    for flag, env_name in (("server", "TOOLBOX_SERVER"), ("name", "TOOLBOX_AGENT_NAME"),
                           ("token", "TOOLBOX_AGENT_TOKEN")):
        if not getattr(args, flag):
            parser.error(f"--{flag} (or {env_name}) is required")
    if not args.server.startswith(("http://", "https://")):
        parser.error(f"--server must be an http:// or https:// URL, not {args.server!r}")
    if args.command_timeout <= 0 or args.output_cap < 0:
        parser.error("--command-timeout must be > 0 and --output-cap >= 0")
    return args


def main(argv=None) -> int:
    """Console entry point: ``toolbox-agent``. Returns the process exit code."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse already printed the message
        return exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="toolbox-agent: %(message)s", stream=sys.stderr)
    agent = Agent(args.server, args.name, args.token, args.command_timeout, args.output_cap)
    try:
        return asyncio.run(_run_with_signals(agent, args.once))
    except AgentError as exc:
        print(f"toolbox-agent: {exc}", file=sys.stderr)
        return exc.exit_code


async def _run_with_signals(agent: Agent, once: bool) -> int:
    """Run ``agent`` with SIGTERM/SIGINT wired to a graceful stop (twice: quit now)."""
    stop = asyncio.Event()
    run_task = asyncio.ensure_future(agent.run(stop, once=once))
    loop = asyncio.get_running_loop()

    def on_signal(signame: str) -> None:
        if stop.is_set():
            log.warning("%s again: quitting now (a running task's result is lost)", signame)
            run_task.cancel()
        else:
            log.info("%s: stopping (a running task, and one already handed out, finish and "
                     "are posted first)", signame)
            stop.set()

    installed = _install_signal_handlers(loop, on_signal)
    try:
        return await run_task
    except asyncio.CancelledError:
        if not run_task.cancelled():
            raise
        return EXIT_FORCED
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _install_signal_handlers(loop: asyncio.AbstractEventLoop, callback) -> list:
    """Route SIGTERM/SIGINT to ``callback(name)``; return the signals handled this way."""
    installed: list = []
    if threading.current_thread() is not threading.main_thread():
        return installed  # signals are only delivered to the main thread
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, callback, signum.name)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # e.g. Windows
            signal.signal(signum, lambda num, _frame: loop.call_soon_threadsafe(
                callback, signal.Signals(num).name))
    return installed
