"""The tool catalogue: what each diagnostic tool takes and where it runs."""

from .base import APIHandler, require_role
from toolbox.tools.catalogue import describe_tools


class ToolsHandler(APIHandler):
    @require_role("viewer")
    async def get(self) -> None:
        """``GET /api/tools`` → ``{"items": [{name, title, description, platforms, params}]}``."""
        self.write_json({"items": describe_tools()})


default_handlers = [
    (r"/api/tools", ToolsHandler),
]
