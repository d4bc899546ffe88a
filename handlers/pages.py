"""The console page, static files and the health check."""

import os
import secrets

from .base import BaseHandler
from toolbox.errors import Unavailable
from toolbox.store.faults import RETRY_AFTER_SECONDS
from toolbox.store.health import UNAVAILABLE

# The console's page may load only its own scripts (the import map by nonce), styles
# and connections; avatars may come from any https host (Feishu's CDN).
CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
       "img-src 'self' https: data:; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'; object-src 'none'")


class HealthHandler(BaseHandler):
    def get(self) -> None:
        """200 while the database answered the background check's last ping (``state``
        ``ok``, or ``degraded`` when it was slow, with its round trip); 503 with the reason
        while it does not answer.  Read from kept state: never waits for the database."""
        health = self.toolbox.db_health.status()
        if health["state"] == UNAVAILABLE:
            since = f" for {health['failing_for_s']:g} s" if health.get("failing_for_s") else ""
            raise Unavailable(f"the database does not answer{since}: {health.get('error') or 'not checked yet'}",
                              headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.write_json({"status": True, "database": self.toolbox.database, **health})


def console_modules(static_path: str) -> list[str]:
    """Every ES module under ``static/js``: its plain URL → its versioned URL (filled by the handler)."""
    root = os.path.join(static_path, "js")
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in sorted(files):
            if name.endswith(".js"):
                found.append(os.path.relpath(os.path.join(folder, name), static_path).replace(os.sep, "/"))
    return sorted(found)


class ConsoleHandler(BaseHandler):
    def get(self) -> None:
        """The console's single page, with an import map pinning every module to its version."""
        nonce = secrets.token_urlsafe(16)
        self.set_header("Cache-Control", "no-cache")
        self.set_header("Content-Security-Policy", CSP.format(nonce=nonce))
        self.set_header("Referrer-Policy", "same-origin")
        self.xsrf_token  # sets the _xsrf cookie that cookie-authenticated writes echo back
        modules = {f"/static/{path}": self.static_url(path)
                   for path in console_modules(self.settings["static_path"])}
        self.render("index.html", nonce=nonce, modules=modules)


default_handlers = [
    (r"/healthz", HealthHandler),
    (r"/", ConsoleHandler),
]
