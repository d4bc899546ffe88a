"""``GET /metrics``: this process's figures for Prometheus (viewers and their API tokens)."""

from .base import APIHandler, require_role
from toolbox.server.metrics import CONTENT_TYPE


class MetricsHandler(APIHandler):
    sheddable = False  # the figures that show the overload must not be shed with it

    @require_role("viewer")
    async def get(self) -> None:
        """The Prometheus text exposition of this process (``toolbox.server.metrics``)."""
        body = await self.toolbox.metrics.render()
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(body)


default_handlers = [
    (r"/metrics", MetricsHandler),
]
