"""Sending one message to one channel, and reading the answer (``send``).

``send`` posts the message once and says what came of it (``Attempt``): delivered, or
failed with the reason and whether trying again can help.  A Feishu/Lark bot answers
HTTP 200 with ``{"code": 0}`` when it took the message; a non-zero ``code`` is a failure
even with a 200.  Codes that another try cannot fix (a bad body, a bad signature or a
timestamp out of range, an address not allowed, a keyword missing) fail at once; any
other code (rate limits among them), a 5xx, a 429, a timeout or a refused connection is
retried.  A webhook's 2xx is delivered; 408, 429 and 5xx are retried, other 4xx fail.
The URL is checked again before each try (``TOOLBOX_DENY_PRIVATE_TARGETS``: a name may
resolve elsewhere since the channel was made); redirects are not followed, so a
receiver cannot bounce the message onto the server's own network.
"""

import dataclasses
import json
import time
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from toolbox.alerts.messages import feishu_body, webhook_body
from toolbox.alerts.signing import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, feishu_sign, webhook_signature
from toolbox.store.db import Doc
from toolbox.tools.targets import Resolver, ToolError, check_target_allowed, url_host

FEISHU_FINAL_CODES = {9499: "bad request body", 19021: "signature mismatch or timestamp out of range",
                      19022: "keyword check failed", 19023: "keyword check failed",
                      19024: "this server's address is not on the bot's allowlist"}
TIMEOUT = 10.0  # seconds for one try
MAX_ANSWER = 64 * 1024


@dataclasses.dataclass
class Attempt:
    delivered: bool
    retry: bool = False
    error: str | None = None
    status: int | None = None


def request_of(channel: Doc, message: Doc, now: float) -> HTTPRequest:
    """The signed HTTP request carrying ``message`` to ``channel``."""
    secret = channel.get("secret")
    stamp = int(now)
    headers = {"Content-Type": "application/json", "User-Agent": "toolbox-alerts"}
    if channel["type"] == "feishu":
        body: Doc = feishu_body(message)
        if secret:
            body = dict(body, timestamp=str(stamp), sign=feishu_sign(stamp, secret))
        raw = json.dumps(body, ensure_ascii=False).encode()
    else:
        raw = json.dumps(webhook_body(message), ensure_ascii=False).encode()
        headers[TIMESTAMP_HEADER] = str(stamp)
        headers[EVENT_HEADER] = f"alert.{message['kind']}"
        if secret:
            headers[SIGNATURE_HEADER] = webhook_signature(stamp, raw, secret)
    return HTTPRequest(channel["url"], method="POST", headers=headers, body=raw, request_timeout=TIMEOUT,
                       connect_timeout=TIMEOUT, follow_redirects=False)


def _feishu_answer(status: int, body: bytes) -> Attempt:
    if status >= 500 or status == 429:
        return Attempt(False, retry=True, error=f"HTTP {status}", status=status)
    try:
        answer: Any = json.loads(body[:MAX_ANSWER] or b"null")
    except ValueError:
        answer = None
    code = answer.get("code", answer.get("StatusCode")) if isinstance(answer, dict) else None
    if status == 200 and code == 0:
        return Attempt(True, status=status)
    if not isinstance(code, int):
        return Attempt(False, retry=False, error=f"HTTP {status}, no code in the answer", status=status)
    msg = str(answer.get("msg") or answer.get("StatusMessage") or "")[:200]
    reason = FEISHU_FINAL_CODES.get(code)
    return Attempt(False, retry=reason is None, status=status,
                   error=f"code {code}: {reason or msg or 'refused'}" + (f" ({msg})" if reason and msg else ""))


def _webhook_answer(status: int) -> Attempt:
    if 200 <= status < 300:
        return Attempt(True, status=status)
    return Attempt(False, retry=status >= 500 or status in (408, 429), error=f"HTTP {status}", status=status)


async def send(channel: Doc, message: Doc, deny_private: bool, resolver: Resolver | None = None,
               now: float | None = None) -> Attempt:
    """Post ``message`` to ``channel`` once."""
    try:
        await check_target_allowed(url_host(channel["url"]), deny_private, resolver)
    except ToolError as error:
        return Attempt(False, retry=False, error=error.message.replace("target:", "url:", 1))
    request = request_of(channel, message, time.time() if now is None else now)
    try:
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
    except Exception as error:  # refused, reset, a TLS failure: the receiver may be back later
        return Attempt(False, retry=True, error=f"{type(error).__name__}: {str(error)[:200]}")
    if response.code == 599:  # tornado's code for a timeout or a connection that failed
        return Attempt(False, retry=True, error=str(response.error or "no answer")[:200])
    if channel["type"] == "feishu":
        return _feishu_answer(response.code, response.body or b"")
    return _webhook_answer(response.code)
