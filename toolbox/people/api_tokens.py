"""Personal API tokens: a user's bearer tokens for scripts, acting with the user's role.

A token (``tbx_…``) is shown once at creation; the store keeps its SHA-256 hash.  Every
bearer request looks its token up, so lookups are served from memory:

- on the embedded database (one process by construction) the cache holds every token
  and is authoritative; creation and revocation update it at once;
- on MongoDB a cached entry is trusted for ``refresh`` seconds, then re-read; a
  revocation is also announced to the other server processes (``token.revoked`` on the
  event bus), which forget the token at once.  Unknown tokens are looked up by their
  unique hash index.
"""

import dataclasses
import datetime
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

from toolbox import clock, validation
from toolbox.store.db import Doc
from toolbox.store.repos.api_tokens import TokenRepo
from toolbox.errors import Conflict, NotFound, ValidationError

Event = dict[str, Any]  # as the event hubs hand them out (``toolbox.core.events.hub``)


class Events(Protocol):
    """What the token store needs of an event hub (``EventHub`` or ``MongoBus``): to tell
    every process of a revoked token, and to hear of those revoked elsewhere."""

    def publish(self, event_type: str, data: Any, feed: bool = True) -> Event: ...

    def subscribe(self, listener: Callable[[Event], None]) -> None: ...


PREFIX = "tbx_"
MAX_PER_USER = 100
MAX_DAYS = 3650
LAST_USED_EVERY = 60.0  # seconds: write last_used_at at most this often per token


def api_token_hash(token: str) -> str:
    """The stored SHA-256 of a personal API token (``tbx_…``)."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100 or not value.isprintable():
        raise ValidationError("name: 1 to 100 printable characters")
    return value.strip()


@dataclasses.dataclass(frozen=True)
class TokenRequest:
    """A token as asked for, checked: its name and its lifetime (None: it never expires)."""

    name: str
    expires_in_days: int | None = None


def token_request(name: Any, expires_in_days: Any = None) -> TokenRequest:
    """The request's ``name`` and ``expires_in_days`` (1..MAX_DAYS), checked in that order."""
    checked = token_name(name)
    if expires_in_days is not None:
        expires_in_days = validation.int_in(expires_in_days, "expires_in_days", 1, MAX_DAYS)
    return TokenRequest(checked, expires_in_days)


def expired(doc: Doc, now: datetime.datetime | None = None) -> bool:
    expires_at = doc.get("expires_at")
    return expires_at is not None and (now or clock.utcnow()) >= expires_at


class TokenStore:
    """Create, list, revoke and look up personal API tokens."""

    def __init__(self, repo: TokenRepo, events: Events, authoritative: bool, refresh: float) -> None:
        self.repo = repo
        self.events = events
        events.subscribe(self._on_event)
        self.authoritative = authoritative
        self.refresh = refresh
        self._cache: dict[str, tuple[Doc, float]] = {}  # token hash -> (doc, monotonic time it was read)

    async def start(self) -> None:
        await self.repo.ensure_indexes()
        if self.authoritative:
            now = time.monotonic()
            self._cache = {doc["token_hash"]: (doc, now) for doc in await self.repo.all()}

    async def create(self, user_id: str, request: TokenRequest) -> tuple[Doc, str]:
        """A new token for ``user_id`` → (doc, token); the token is not stored."""
        name, expires_in_days = request.name, request.expires_in_days
        if await self.repo.count_of(user_id) >= MAX_PER_USER:
            raise Conflict(f"you already have {MAX_PER_USER} tokens: revoke one first")
        token = PREFIX + secrets.token_urlsafe(32)
        now = clock.utcnow()
        doc: Doc = {"_id": "tok_" + secrets.token_hex(8), "user_id": user_id, "name": name,
                    "token_hash": api_token_hash(token), "created_at": now, "last_used_at": None,
                    "expires_at": now + datetime.timedelta(days=expires_in_days) if expires_in_days else None}
        await self.repo.insert(doc)
        self._cache[doc["token_hash"]] = (doc, time.monotonic())
        return doc, token

    async def list(self, user_id: str) -> list[Doc]:
        return await self.repo.of_user(user_id, MAX_PER_USER * 2)

    async def get(self, token_id: Any) -> Doc:
        doc = await self.repo.get(token_id) if isinstance(token_id, str) else None
        if doc is None:
            raise NotFound(f"token not found: {str(token_id)[:40]}")
        return doc

    async def revoke(self, token_id: str) -> Doc:
        """Delete a token; it stops working at once (in this process)."""
        doc = await self.repo.delete(token_id)
        if doc is None:
            raise NotFound(f"token not found: {token_id[:40]}")
        self._cache.pop(doc["token_hash"], None)
        self.events.publish("token.revoked", {"token_hash": doc["token_hash"]}, feed=False)
        return doc

    def _on_event(self, event: Event) -> None:
        """Another server process revoked a token: forget it here too (within the event's delay)."""
        if event["type"] == "token.revoked" and event.get("remote"):
            self._cache.pop(event["data"]["token_hash"], None)

    async def lookup(self, token: str) -> Doc | None:
        """The doc of a valid, unexpired token; None otherwise."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        digest = api_token_hash(token)
        cached = self._cache.get(digest)
        if cached is not None and (self.authoritative or time.monotonic() - cached[1] < self.refresh):
            doc = cached[0]
        elif self.authoritative:
            return None
        else:
            found = await self.repo.by_hash(digest)
            if found is None:
                self._cache.pop(digest, None)
                return None
            doc = found
            self._cache[digest] = (doc, time.monotonic())
        now = clock.utcnow()
        if expired(doc, now):
            return None
        last = doc.get("last_used_at")
        if last is None or (now - last).total_seconds() >= LAST_USED_EVERY:
            doc["last_used_at"] = now
            await self.repo.mark_used(doc["_id"], now)
        return doc
