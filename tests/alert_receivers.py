"""A fake Feishu/Lark custom bot and a fake webhook receiver on 127.0.0.1, for the alert tests.

Both recompute the signature (``feishu-api.md`` section 9 for the bot; the
``X-Toolbox-Signature`` HMAC for the webhook) and refuse a timestamp more than
``MAX_SKEW`` seconds away (the bot: 3600 s with code 19021, as Feishu does; the webhook:
300 s with a 401).  ``fail(n, how)`` makes the next ``n`` requests fail: ``"5xx"`` (HTTP
503), ``"code"`` (HTTP 200 with a non-zero code that may succeed later, 11232 rate
limited), or ``"slow"`` (an answer after ``slow_seconds``).  ``received`` holds the
messages accepted, ``refused`` the reasons of those refused.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import time

from tornado import httpserver, web
from tornado.testing import bind_unused_port

BOT_SKEW, WEBHOOK_SKEW = 3600, 300


class Receiver:
    def __init__(self, secret):
        self.secret = secret
        self.received, self.refused, self.failures, self.requests = [], [], [], 0
        self.slow_seconds = 3.0

    def fail(self, count, how="5xx"):
        self.failures.extend([how] * count)


class BotHandler(web.RequestHandler):
    def initialize(self, receiver):
        self.receiver = receiver

    async def post(self):
        receiver = self.receiver
        receiver.requests += 1
        if receiver.failures:
            how = receiver.failures.pop(0)
            if how == "5xx":
                raise web.HTTPError(503)
            if how == "code":
                self.write({"code": 11232, "msg": "frequency limited"})
                return
            await asyncio.sleep(receiver.slow_seconds)
        body = json.loads(self.request.body)
        if receiver.secret is not None:
            stamp = body.get("timestamp")
            key = f"{stamp}\n{receiver.secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if not isinstance(stamp, str) or not stamp.isdigit() or abs(time.time() - int(stamp)) > BOT_SKEW \
                    or not hmac.compare_digest(str(body.get("sign")), expected):
                receiver.refused.append("sign")
                self.write({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
                return
        if body.get("msg_type") not in ("text", "post", "interactive"):
            receiver.refused.append("body")
            self.write({"code": 9499, "msg": "Bad Request"})
            return
        receiver.received.append(body)
        self.write({"code": 0, "msg": "success", "data": {}})


class HookHandler(web.RequestHandler):
    def initialize(self, receiver):
        self.receiver = receiver

    async def post(self):
        receiver = self.receiver
        receiver.requests += 1
        if receiver.failures:
            how = receiver.failures.pop(0)
            if how == "slow":
                await asyncio.sleep(receiver.slow_seconds)
            else:
                raise web.HTTPError(503)
        stamp = self.request.headers.get("X-Toolbox-Timestamp", "")
        signature = self.request.headers.get("X-Toolbox-Signature", "")
        expected = "sha256=" + hmac.new(receiver.secret.encode(), stamp.encode() + b"." + self.request.body,
                                        hashlib.sha256).hexdigest()
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > WEBHOOK_SKEW \
                or not hmac.compare_digest(signature, expected):
            receiver.refused.append("signature")
            raise web.HTTPError(401)
        receiver.received.append(json.loads(self.request.body))
        self.write({"ok": True})


class Receivers:
    """The bot at ``bot_url`` and the webhook at ``hook_url``, served on the test's loop."""

    def __init__(self, bot_secret="bot-secret-1", hook_secret="hook-secret-1"):
        self.bot, self.hook = Receiver(bot_secret), Receiver(hook_secret)
        app = web.Application([(r"/open-apis/bot/v2/hook/[^/]+", BotHandler, {"receiver": self.bot}),
                               (r"/hook", HookHandler, {"receiver": self.hook})])
        sock, port = bind_unused_port()
        self.server = httpserver.HTTPServer(app)
        self.server.add_sockets([sock])
        self.bot_url = f"http://127.0.0.1:{port}/open-apis/bot/v2/hook/test-hook-token"
        self.hook_url = f"http://127.0.0.1:{port}/hook"

    def close(self):
        self.server.stop()
