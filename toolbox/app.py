"""``make_app``: the one factory that builds a toolBox Tornado application."""

import os
import pathlib

from tornado import web

from toolbox.db import open_database
from toolbox.services import Toolbox


def static_dir():
    """The console's files: the installed ``toolbox_static`` package, else the checkout's ``static/``."""
    try:
        import toolbox_static

        return os.path.dirname(os.path.abspath(toolbox_static.__file__))
    except ImportError:
        return str(pathlib.Path(__file__).resolve().parent.parent / "static")


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
        xsrf_cookies=False,
        debug=False,
        compress_response=True,
        websocket_ping_interval=20,
        websocket_ping_timeout=15,  # Tornado 6.6 caps it at the interval
    )
    app.toolbox = Toolbox(config, db)
    return app
