"""The console page, static files and the health check."""

from handlers.base import BaseHandler
from toolbox.errors import Unavailable
from toolbox.db import PyMongoError


class HealthHandler(BaseHandler):
    async def get(self):
        """200 when the store answers, 503 when it does not."""
        try:
            await self.toolbox.db.ping()
        except (PyMongoError, OSError) as error:
            raise Unavailable(f"the database does not answer: {type(error).__name__}") from None
        self.write_json({"status": True, "database": "embedded" if self.toolbox.db.embedded else "mongodb"})


class ConsoleHandler(BaseHandler):
    def get(self):
        """The console's single page; it sets the ``_xsrf`` cookie the console sends back."""
        self.set_header("Cache-Control", "no-cache")
        self.xsrf_token  # noqa: B018  (reading it sets the cookie)
        self.render("index.html")


default_handlers = [
    (r"/healthz", HealthHandler),
    (r"/", ConsoleHandler),
]
