"""``GET /api/openapi.json``: the OpenAPI 3.1 document of every route (public, like any docs)."""

from .base import BaseHandler
from toolbox.server.openapi import document


class OpenAPIHandler(BaseHandler):
    def get(self) -> None:
        """The OpenAPI document, with this server as its server URL."""
        base = self.config.public_url or f"{self.request.protocol}://{self.request.host}"
        self.write_json(document(base.rstrip("/")))


default_handlers = [(r"/api/openapi.json", OpenAPIHandler)]
