"""Login sessions: the JWT in the ``toolbox_session`` cookie, the one-time local login,
and the check that keeps ``next=`` from redirecting off-site.

The session JWT (HS256, signed with ``config.secret``) carries ``sub`` (user id),
``iat``, ``exp`` and a random ``sid``.  It says only *who*: the role and the disabled
flag are read from the database on every request, so a change applies at once.
"""

import hmac
import re
import secrets
import time
import urllib.parse
from typing import Any, cast

import jwt

SESSION_COOKIE = "toolbox_session"
ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "exp", "iat", "sid")
_LOCAL_PATH = re.compile(r"/(?![/\\])[!-~]*")  # printable ASCII, no leading "//" or "/\"


def issue(user_id: str, secret: str, hours: float, now: float | None = None) -> tuple[str, dict[str, Any]]:
    """A signed session token for ``user_id`` → (token, claims)."""
    now = int(time.time() if now is None else now)
    claims = {"sub": user_id, "iat": now, "exp": now + int(hours * 3600), "sid": secrets.token_urlsafe(12)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM), claims


def read(token: str | None, secret: str | None) -> dict[str, Any] | None:
    """The claims of a valid, unexpired session token; None for anything else."""
    if not token or len(token) > 4096:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": list(REQUIRED_CLAIMS)})
    except jwt.InvalidTokenError:
        return None
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("sid"), str):
        return None
    return claims


def safe_next(value: Any, default: str = "/") -> str:
    """``value`` when it is a path on this site ("/..."), else ``default`` (no open redirect)."""
    if not isinstance(value, str) or len(value) > 2000 or "\\" in value:
        return default
    if not _LOCAL_PATH.fullmatch(value):
        return default
    parts = urllib.parse.urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


class LocalLogin:
    """The one-time admin login link of a server without Feishu (a token per process)."""

    def __init__(self, enabled: bool) -> None:
        self.token = secrets.token_urlsafe(24) if enabled else None
        self.used = False

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def consume(self, candidate: Any) -> bool:
        """True once, for the right token; False for a wrong one or once it was used."""
        if not self.enabled or self.used or not isinstance(candidate, str):
            return False
        if not hmac.compare_digest(candidate.encode(), cast(str, self.token).encode()):  # enabled: a token
            return False
        self.used = True
        return True
