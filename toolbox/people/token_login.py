"""Logging in with the admin API token, the way back in on a server without Feishu once
the one-time link is used (after a logout, a lost cookie) that needs no restart.

It keeps the link's safety: only without Feishu, only by POST (the token never sits in a
URL, a log line or the browser history), with the XSRF check of every cookie-carrying
POST, compared in constant time, audited, and throttled: a client address gets
``per_address`` failed tries in any minute, and all addresses together ten times that,
after which every try is refused with 429 and ``Retry-After`` until the window frees
(even a right token: a guesser learns nothing while throttled).
"""

import hmac
import time
from collections.abc import Callable
from typing import Any, cast

from toolbox.errors import Forbidden
from toolbox.people.throttle import SlidingWindow

FAILURES_PER_ADDRESS = 5
WINDOW = 60.0


class TokenLogin:
    """Checks an admin-token login attempt: True, Forbidden (wrong) or RateLimited."""

    def __init__(self, admin_token: str | None, enabled: bool, per_address: int = FAILURES_PER_ADDRESS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.admin_token = admin_token or None
        self.enabled = bool(enabled and self.admin_token)
        self.per_address = SlidingWindow(per_address, WINDOW, clock)
        self.everyone = SlidingWindow(per_address * 10, WINDOW, clock)

    def check(self, address: str, candidate: Any) -> bool:
        """Raise RateLimited when throttled, Forbidden (and count it) for a wrong token."""
        self.per_address.check(address, "failed logins from your address")
        self.everyone.check("*", "failed logins")
        if not isinstance(candidate, str) or not candidate or len(candidate) > 1024 \
                or not hmac.compare_digest(candidate.encode(), cast(str, self.admin_token).encode()):
            self.per_address.hit(address)
            self.everyone.hit("*")
            raise Forbidden("this is not the admin API token the server was started with")
        return True
