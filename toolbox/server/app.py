"""``make_app``: the one factory that builds a toolBox Tornado application.

``ToolboxApplication`` is Tornado's ``Application`` with one addition: the requests
Tornado refuses itself, before any handler runs (a malformed request line or header,
a bad ``Content-Length``, an unknown transfer encoding, a body over the size limit), get
the JSON error every other refusal gets instead of Tornado's bare, empty
``400 Bad Request``.  The routes are handed in (``Routes``: the handlers are the layer above,
``toolbox.handlers.routes()``); unknown paths reach ``Routes.not_found``, a JSON 404.
"""

import dataclasses
import datetime
import json
import logging
import os
import pathlib
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from tornado import httputil, web
from tornado.log import access_log

from toolbox.store.db import Database, open_database
from toolbox.server.config import Config
from toolbox.server.wiring import Services
from toolbox.tools.targets import Resolver


def static_dir() -> str:
    """The console's files: the ``static/`` of the checkout this ``toolbox`` was imported from,
    else the installed ``toolbox_static`` package (an editable install of another checkout
    must not serve that checkout's console)."""
    checkout = pathlib.Path(__file__).resolve().parents[2] / "static"
    if (checkout / "index.html").is_file():
        return str(checkout)
    try:
        import toolbox_static

        return os.path.dirname(os.path.abspath(toolbox_static.__file__))
    except ImportError:
        return str(pathlib.Path(__file__).resolve().parents[2] / "static")


SECRET_QUERY_KEYS = ("code", "state", "token", "secret")


def redacted_uri(request: httputil.HTTPServerRequest) -> str:
    """The request's path and query with the values of secret-looking keys hidden."""
    if not request.query:
        return request.path
    pairs = urllib.parse.parse_qsl(request.query, keep_blank_values=True)
    shown = [(key, "***" if any(word in key.lower() for word in SECRET_QUERY_KEYS) else value)
             for key, value in pairs]
    return f"{request.path}?{urllib.parse.urlencode(shown)}"


def log_request(handler: web.RequestHandler) -> None:
    """Tornado's access log line, without login codes and one-time tokens."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not access_log.isEnabledFor(level):  # the line would be dropped: do not build it
        return
    request = handler.request
    access_log.log(level, "%d %s %s (%s) %.2fms", status, request.method, redacted_uri(request),
                   request.remote_ip, 1000.0 * request.request_time())


BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"  # what tornado.http1connection writes
_JSON_400_BODY = json.dumps({"status": False, "error": "malformed HTTP request (request line, header, "
                             "Content-Length or Transfer-Encoding), or a body over the size limit"}).encode()
JSON_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\nCache-Control: no-store\r\n"
            b"X-Content-Type-Options: nosniff\r\n\r\n%s" % (len(_JSON_400_BODY), _JSON_400_BODY))


def _answer_refusals_in_json(stream: Any) -> None:
    """Make ``stream`` send JSON_400 where Tornado sends its bare 400 (once per connection)."""
    if getattr(stream, "toolbox_json_refusals", False):
        return
    write = stream.write

    def write_json_refusal(data: bytes) -> Awaitable[None]:
        return write(JSON_400 if data == BARE_400 else data)

    stream.write = write_json_refusal
    stream.toolbox_json_refusals = True


@dataclasses.dataclass(frozen=True)
class Routes:
    """What an application serves: the route table, and the handler of every other path."""

    table: list[tuple[str, type[web.RequestHandler]]]
    not_found: type[web.RequestHandler]


class ToolboxApplication(web.Application):
    """An Application whose connections refuse malformed requests in JSON too."""

    toolbox: Services  # set by make_app

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        stream = getattr(request_conn, "stream", None)
        if stream is not None:
            _answer_refusals_in_json(stream)
        return super().start_request(server_conn, request_conn)


def make_app(config: Config, db: Database | None = None, limits_clock: Callable[[], float] = time.monotonic,
             resolver: Resolver | None = None, watch_clock: Callable[[], datetime.datetime] | None = None,
             *, routes: Routes) -> ToolboxApplication:
    """Build the application serving ``routes`` for ``config`` on ``db`` (default: what the config names).

    Secrets left unset are generated (see ``Config.resolved``).  The caller must
    ``await app.toolbox.start()`` before serving and ``await app.toolbox.stop()`` after.
    """
    if not config.secret or not config.admin_token:
        config = config.resolved()
    if db is None:
        db = open_database(config.mongodb_uri)
    static = static_dir()
    app = ToolboxApplication(
        routes.table,
        default_handler_class=routes.not_found,
        cookie_secret=config.secret,
        static_path=static,
        template_path=static,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Lax"},
        log_function=log_request,
        debug=False,
        compress_response=True,
        websocket_ping_interval=20,
        websocket_ping_timeout=15,  # Tornado 6.6 caps it at the interval
    )
    app.toolbox = Services(config, db, limits_clock, resolver, watch_clock)
    return app
