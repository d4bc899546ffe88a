"""``make_app``: the one factory that builds a toolBox Tornado application."""

import os
import pathlib
import urllib.parse

from tornado import web
from tornado.log import access_log

from toolbox.db import open_database
from toolbox.services import Toolbox


def static_dir():
    """The console's files: the installed ``toolbox_static`` package, else the checkout's ``static/``."""
    try:
        import toolbox_static

        return os.path.dirname(os.path.abspath(toolbox_static.__file__))
    except ImportError:
        return str(pathlib.Path(__file__).resolve().parent.parent / "static")


SECRET_QUERY_KEYS = ("code", "state", "token", "secret")


def redacted_uri(request):
    """The request's path and query with the values of secret-looking keys hidden."""
    if not request.query:
        return request.path
    pairs = urllib.parse.parse_qsl(request.query, keep_blank_values=True)
    shown = [(key, "***" if any(word in key.lower() for word in SECRET_QUERY_KEYS) else value)
             for key, value in pairs]
    return f"{request.path}?{urllib.parse.urlencode(shown)}"


def log_request(handler):
    """Tornado's access log line, without login codes and one-time tokens."""
    status = handler.get_status()
    if status < 400:
        method = access_log.info
    elif status < 500:
        method = access_log.warning
    else:
        method = access_log.error
    request = handler.request
    method("%d %s %s (%s) %.2fms", status, request.method, redacted_uri(request), request.remote_ip,
           1000.0 * request.request_time())


def make_app(config, db=None):
    """Build the application for ``config`` on ``db`` (default: what the config names).

    Secrets left unset are generated (see ``Config.resolved``).  The caller must
    ``await app.toolbox.start()`` before serving and ``await app.toolbox.stop()`` after.
    """
    from handlers import default_handlers

    if not config.secret or not config.admin_token:
        config = config.resolved()
    if db is None:
        db = open_database(config.mongodb_uri)
    static = static_dir()
    app = web.Application(
        default_handlers(),
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
    app.toolbox = Toolbox(config, db)
    return app
