"""The ``toolbox`` command: read the configuration, start the server, print its URL.

``toolbox/__main__.py`` calls ``main`` with the handlers' routes (``toolbox.handlers.routes``).
"""

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable

from toolbox.server.app import Routes
from toolbox.server.config import Config, ConfigError

log = logging.getLogger("toolbox")

MAX_BUFFERED_BODY = 8 * 1024 * 1024
GC_YOUNG_THRESHOLD = 10_000


def _say(line: str) -> None:
    print(line, flush=True)


async def serve(config: Config, routes: Routes, ready: Callable[[str], object] | None = None) -> None:
    """Serve ``routes`` until SIGTERM/SIGINT."""
    from toolbox.store.db import PyMongoError

    from tornado import httpserver, netutil

    from toolbox.server.app import make_app

    if config.reuse_port and not config.mongodb_uri:
        raise ConfigError("--reuse-port needs MONGODB_URI: the embedded database lives and dies with its "
                          "process, so a second process on the port would have other data")
    app = make_app(config, routes=routes)
    config = app.toolbox.config
    try:
        await app.toolbox.start()
    except PyMongoError as error:
        raise ConfigError(f"cannot reach MongoDB at MONGODB_URI: {error}") from None
    # Everything built so far lives as long as the process: keep it out of the
    # collector's full passes, which otherwise show up as pauses in dispatch latency.
    gc.collect()
    gc.freeze()
    # A server holding thousands of connections allocates container objects all the time,
    # and full passes at the default thresholds are long pauses that free little: a young
    # generation of 10,000 and a full pass only every 200 middle-generation passes make
    # them rare (measured: docs/benchmarks.md, "History moved out of docstrings").
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 200)
    # 8 MiB at most for any body; every handler streams its body and keeps at most its own
    # limit (JSON: 1 MiB, refused with a JSON 413 before it is read); /agent/task raises
    # the limit and keeps only what it stores.
    # header_timeout also bounds idle keep-alive connections (Tornado's idle_connection_timeout);
    # its default is above the 90 s for which Go's HTTP client (the legacy agent) keeps an
    # idle connection, so that the agent, not the server, closes it.
    sockets = netutil.bind_sockets(config.port, config.host, reuse_port=config.reuse_port)
    server = httpserver.HTTPServer(app, xheaders=False, max_body_size=MAX_BUFFERED_BODY,
                                   idle_connection_timeout=config.header_timeout, body_timeout=config.body_timeout)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    host = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    url = f"http://{host}:{port}/"
    if app.toolbox.database == "embedded":
        _say("toolbox: using the embedded in-memory database; data will NOT survive a restart "
             "(set MONGODB_URI for a real MongoDB)")
    if "admin_token" in config.generated:
        _say(f"toolbox: admin API token (generated for this run; set TOOLBOX_ADMIN_TOKEN to fix it): "
             f"{config.admin_token}")
    warning = app.toolbox.feishu_login.rules.email_warning()
    if warning:
        _say(f"toolbox: warning: {warning}")
    if "secret" in config.generated:
        _say("toolbox: TOOLBOX_SECRET is not set; sessions end when the server restarts")
    if app.toolbox.local_login.enabled:
        _say(f"toolbox: log in as admin (one-time link): {url}auth/local?token={app.toolbox.local_login.token}")
    if config.reuse_port:
        _say(f"toolbox: port {port} is shared (--reuse-port): a new process may take it over before this one stops")
    if config.event_loop != "asyncio":
        _say(f"toolbox: event loop: {config.event_loop} ({type(asyncio.get_running_loop()).__module__})")
    _say(f"toolbox: listening on {url}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(url)
    await stop.wait()
    _say("toolbox: shutting down: answering every request held, then stopping")
    await app.toolbox.stop_gracefully(server, sockets)
    _say("toolbox: stopped")


def main(routes: Routes, argv: list[str] | None = None) -> int:
    """Run the ``toolbox`` command serving ``routes``: 0 once stopped, 2 on a bad setting or port."""
    try:
        config = Config.load(argv)
    except ConfigError as error:
        print(f"toolbox: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if config.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tornado.access").setLevel(logging.DEBUG if config.debug else logging.WARNING)
    try:
        if config.event_loop == "uvloop":  # an option (TOOLBOX_EVENT_LOOP); Config.load checked it is installed
            import uvloop
            uvloop.run(serve(config, routes))
        else:
            asyncio.run(serve(config, routes))
    except ConfigError as error:
        print(f"toolbox: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"toolbox: cannot listen on {config.host}:{config.port}: {error.strerror or error}",
              file=sys.stderr)
        return 2
    return 0

