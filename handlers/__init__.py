"""toolBox's Tornado handlers, one module per area; ``default_handlers`` routes them all.

``routes()`` is what the ``toolbox`` command (``toolbox/__main__.py``) and the tests hand to
``toolbox.server.app.make_app``: the server, a layer below, never imports the handlers.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tornado import web

    from toolbox.server.app import Routes


def default_handlers() -> list[tuple[str, type["web.RequestHandler"]]]:
    """Every route, area by area (unknown paths reach ``base.NotFoundHandler``, a JSON 404)."""
    from . import (agent_protocol, api_agents, api_alerts, api_docs, api_jobs, api_schedules, api_tasks, api_tokens, api_tools,
                          api_users, auth, base, metrics, pages, ws)

    routes: list[tuple[str, type[web.RequestHandler]]] = []
    for module in (agent_protocol, api_agents, api_alerts, api_jobs, api_schedules, api_tasks, api_tools, api_tokens, api_users, api_docs,
                   auth, ws, metrics, pages):
        routes.extend(module.default_handlers)
    routes.extend(base.default_handlers)
    return routes


def routes() -> "Routes":
    """Every route, and the JSON 404 of any other path: what ``make_app`` serves."""
    from .base import NotFoundHandler
    from toolbox.server.app import Routes

    return Routes(default_handlers(), NotFoundHandler)
