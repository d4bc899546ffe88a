"""``GET /api/ws?since=SEQ``: the console's live feed (see ``toolbox.live``).

Authenticated like every API call (``APIHandler.authenticate``: session cookie or
bearer token), refused before the upgrade when it is not (401/403 JSON).  The origin
check is Tornado's default: a browser page from another site is refused (403),
which is what protects the cookie-authenticated socket from cross-site use.  Keepalive
is Tornado's ``websocket_ping_interval``/``websocket_ping_timeout`` (see ``make_app``).
The feed is one-way: messages from the client are ignored.
"""

from tornado import websocket

from handlers.base import APIHandler, require_role
from toolbox import models

MAX_SEQ = 2**62


class LiveSocketHandler(APIHandler, websocket.WebSocketHandler):
    def initialize(self):
        self.client = None
        self.since = None

    @require_role("viewer")
    async def get(self, *args, **kwargs):
        """Check ``since``, then upgrade (Tornado checks the origin here)."""
        since = self.get_query_argument("since", None)
        if since not in (None, ""):
            self.since = models.int_in(since, "since", 0, MAX_SEQ)
        await super().get(*args, **kwargs)

    def open(self, *args, **kwargs):
        user = self.current_user
        self.client = self.toolbox.live.connect(
            self.write_message, self._close_from_hub, since=self.since,
            label=f"{user.name}@{self.request.remote_ip}")

    def _close_from_hub(self, code, reason):
        self.close(code, reason)

    def on_message(self, message):
        """The feed is one-way; what the client says is ignored."""

    def on_close(self):
        if self.client is not None:
            self.toolbox.live.disconnect(self.client)


default_handlers = [(r"/api/ws", LiveSocketHandler)]
