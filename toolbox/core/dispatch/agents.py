"""Agents: creation, tokens, enable/disable, registrations, and who is online.

Agent documents live in the ``agents`` collection (``_id`` is the name; the token is
kept only as a SHA-256 hash).  Every agent request authenticates, so the registry
keeps all agents in memory and answers from there: a read per fetch would cost even on
a real database.  Local
changes update the cache at once; with a shared database, changes made by other
server processes are announced on the event bus (``agent.changed``: the cache reloads
that agent at once) and picked up every ``refresh`` seconds as well.

Each agent document has a ``registration``: a new one whenever the name is created,
kept across token resets.  Tasks are bound to the registration they were delivered to
(``toolbox.core.tasks.service``), so a name deleted and created again is a different agent.

Liveness: an agent is online while it holds a fetch open in this process, or has made
a request within ``offline_after`` seconds (here, or — with a shared database — in
another process, which stores ``last_seen``).  ``check_offline`` returns the agents
that just went offline, so their task in flight can be ended at once.
"""

import asyncio
import builtins
import collections
import datetime
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from toolbox import clock
from toolbox import presenters
from toolbox.store.db import Doc, DuplicateKeyError, PyMongoError
from toolbox.store.repos.agents import Agents
from toolbox.errors import AuthError, Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from toolbox.core.events.bus import Hub
    from toolbox.core.events.hub import Event

log = logging.getLogger("toolbox.agents")

FULL_RELOAD_EVERY = 15  # refreshes; catches agents deleted by another process


def agent_token_hash(token: str) -> str:
    """The stored SHA-256 of an agent token; a token that is not valid UTF-8 (from a raw
    header) is hashed with its bad characters replaced, so it is refused, never an error."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def new_token() -> str:
    """A new agent token; never starting with "-" (``--token -x…`` reads as a flag)."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def registration_of(doc: Doc) -> str:
    """The agent document's registration (older documents: derived from their creation time)."""
    return doc.get("registration") or "created:" + str(clock.isoformat(doc.get("created_at")))


class ParkedLookup(Protocol):
    """What the registry asks of the fetches parked here (``toolbox.core.dispatch.dispatcher.ParkedFetches``)."""

    def is_parked(self, name: str) -> bool: ...


class AgentRegistry:
    """The agents, cached in memory, with online tracking."""

    def __init__(self, repo: Agents, events: "Hub", parked: "ParkedLookup", offline_after: float,
                 refresh: float = 0.0) -> None:
        self.repo = repo
        self.events = events
        self.is_parked = parked.is_parked  # an agent holding a fetch open here is online
        events.subscribe(self._on_event)
        self.offline_after = offline_after
        self.refresh_interval = refresh
        self.cache: dict[str, Doc] = {}
        self.last_seen: dict[str, datetime.datetime] = {}  # name -> datetime of the last fetch seen by this process
        self.online: set[str] = set()  # names announced online
        # online names, least recently seen first: the offline check reads only the stale end
        self._by_seen: collections.OrderedDict[str, datetime.datetime] = collections.OrderedDict()
        self._refreshes = 0
        self._refreshed_at: datetime.datetime | None = None
        self._seen_dirty: set[str] = set()

    async def start(self) -> None:
        await self.repo.ensure_indexes()
        await self.reload()

    async def reload(self) -> None:
        """Replace the cache with every agent in the database."""
        self.cache = {doc["_id"]: doc for doc in await self.repo.all()}
        self._refreshed_at = clock.utcnow()

    async def refresh(self) -> None:
        """Pick up changes made by other processes (shared database only)."""
        if not self.refresh_interval:
            return
        await self.flush_last_seen()
        self._refreshes += 1
        if self._refreshes % FULL_RELOAD_EVERY == 0:
            await self.reload()
            return
        since, now = self._refreshed_at, clock.utcnow()
        for doc in await self.repo.changed_since(since):
            self.cache[doc["_id"]] = doc
        self._refreshed_at = now

    def _changed(self, name: str) -> None:
        """Tell the other server processes (their caches reload the agent at once)."""
        self.events.publish("agent.changed", {"name": name}, feed=False)

    def _on_event(self, event: "Event") -> None:
        if event["type"] == "agent.changed" and event.get("remote"):
            asyncio.ensure_future(self._reload(event["data"]["name"]))

    async def _reload(self, name: str) -> None:
        """Re-read one agent changed by another process (its token, disabled, deleted)."""
        try:
            doc = await self.repo.get(name)
        except PyMongoError:
            log.warning("reloading agent %s failed; the periodic refresh will", name)
            return
        if doc is None:
            self.cache.pop(name, None)
        else:
            self.cache[name] = doc

    async def get(self, name: str) -> Doc | None:
        """The agent's document, or None."""
        doc = self.cache.get(name)
        if doc is None and self.refresh_interval:
            # Another process may have created it since the last refresh.
            doc = await self.repo.get(name)
            if doc is not None:
                self.cache[name] = doc
        return doc

    async def require(self, name: str) -> Doc:
        doc = await self.get(name)
        if doc is None:
            raise NotFound(f"agent not found: {name}")
        return doc

    async def authenticate(self, name: Any, token: Any, allow_disabled: bool = False) -> Doc:
        """The agent's document when ``token`` is its token; AuthError or Forbidden otherwise."""
        doc = await self.get(name) if isinstance(name, str) else None
        if doc is None or not isinstance(token, str) or not token:
            raise AuthError("unknown agent or wrong token")
        if not hmac.compare_digest(doc["token_hash"], agent_token_hash(token)):
            raise AuthError("unknown agent or wrong token")
        if doc.get("disabled") and not allow_disabled:
            raise Forbidden(f"agent {name} is disabled")
        return doc

    def any_has_token(self, token: str | None) -> bool:
        """Whether ``token`` is some agent's token (a report too long to read before its
        credentials are checked, whose head names no agent)."""
        digest = agent_token_hash(token or "")
        return bool(token) and any(hmac.compare_digest(doc["token_hash"], digest) for doc in self.list())

    def may_take_tasks(self, name: str, registration: str) -> bool:
        """Whether ``registration`` is still the agent ``name`` (not deleted, not created
        again) and the agent is enabled: what a parked fetch checks before each claim."""
        doc = self.cache.get(name)
        return doc is not None and not doc.get("disabled") and registration_of(doc) == registration

    def list(self) -> list[Doc]:
        return sorted(self.cache.values(), key=lambda doc: doc["_id"])

    async def create(self, name: str, tags: Iterable[str] = (), platform: str = "linux") -> tuple[Doc, str]:
        """Create an agent; return (document, token).  The token is never stored."""
        token, now = new_token(), clock.utcnow()
        doc = {"_id": name, "token_hash": agent_token_hash(token), "tags": list(tags),
               "platform": platform, "disabled": False, "created_at": now, "updated_at": now,
               "registration": secrets.token_hex(8)}
        try:
            await self.repo.insert(doc)
        except DuplicateKeyError:
            raise Conflict(f"an agent named {name} already exists") from None
        self.cache[name] = doc
        self._changed(name)
        return doc, token

    async def _update(self, name: str, changes: dict[str, Any]) -> Doc:
        changes = dict(changes, updated_at=clock.utcnow())
        doc = await self.repo.update(name, changes)
        if doc is None:
            self.cache.pop(name, None)
            raise NotFound(f"agent not found: {name}")
        self.cache[name] = doc
        self._changed(name)
        return doc

    async def update(self, name: str, **changes: Any) -> Doc:
        """Change tags, platform or disabled."""
        return await self._update(name, changes)

    async def reset_token(self, name: str) -> tuple[Doc, str]:
        """A new token; the old one stops working at once."""
        token = new_token()
        doc = await self._update(name, {"token_hash": agent_token_hash(token), "token_reset_at": clock.utcnow()})
        return doc, token

    async def record_registration(self, name: str, address: str | None, user_agent: str | None) -> Doc:
        now = clock.utcnow()
        self.mark_seen(name, now)
        return await self._update(name, {"registered_at": now, "address": address,
                                         "user_agent": (user_agent or "")[:256] or None})

    async def delete(self, name: str) -> None:
        deleted = await self.repo.delete(name)
        self.cache.pop(name, None)
        self._changed(name)
        self.last_seen.pop(name, None)
        self._by_seen.pop(name, None)
        if not deleted:
            raise NotFound(f"agent not found: {name}")
        if name in self.online:
            self.online.discard(name)
            self.events.publish("agent.offline", {"name": name})

    # --- online tracking ---

    def mark_seen(self, name: str, now: datetime.datetime | None = None) -> None:
        self.last_seen[name] = now = now or clock.utcnow()
        self._seen_dirty.add(name)
        self._by_seen[name] = now
        self._by_seen.move_to_end(name)
        if name not in self.online:
            self.online.add(name)
            self.events.publish("agent.online", {"name": name})

    def watch(self, name: str, since: datetime.datetime) -> None:
        """Track an agent not seen by this process yet (it has a task in flight)."""
        if name not in self._by_seen:
            self.last_seen.setdefault(name, since)
            self._by_seen[name] = since
            self._by_seen.move_to_end(name, last=False)  # the oldest end: checked first
            self.online.add(name)

    def seen_at(self, doc: Doc) -> datetime.datetime | None:
        local = self.last_seen.get(doc["_id"])
        stored = doc.get("last_seen")
        if local and stored:
            return max(local, stored)
        return local or stored

    def is_online(self, doc: Doc, now: datetime.datetime | None = None) -> bool:
        name = doc["_id"]
        if self.is_parked(name):
            return True
        seen = self.seen_at(doc)
        if seen is None:
            return False
        now = now or clock.utcnow()
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=now.tzinfo)
        return (now - seen).total_seconds() <= self.offline_after

    async def check_offline(self, now: datetime.datetime | None = None) -> builtins.list[str]:
        """Announce agents that stopped making requests; return their names.

        Only the oldest end of ``_by_seen`` is read, so a sweep costs little with
        thousands of agents online.  An agent parked here counts as seen now (so its
        stored ``last_seen`` stays fresh for other processes); with a shared database,
        an agent seen more recently by another process is left to that process.
        """
        now = now or clock.utcnow()
        touch_before = now - datetime.timedelta(seconds=self.offline_after / 2)
        offline_before = now - datetime.timedelta(seconds=self.offline_after)
        parked: builtins.list[str] = []
        stale: builtins.list[str] = []
        for name, seen in self._by_seen.items():
            if seen >= touch_before:
                break
            if self.is_parked(name):
                parked.append(name)
            elif seen < offline_before:
                stale.append(name)
        for name in parked:
            self.mark_seen(name, now)
        if stale and self.refresh_interval:
            await self._read_last_seen(stale)
        gone: builtins.list[str] = []
        for name in stale:
            doc = self.cache.get(name)
            seen_elsewhere = doc is not None and self.is_online(doc, now)
            del self._by_seen[name]
            if name in self.online:
                self.online.discard(name)
                if not seen_elsewhere:
                    self.events.publish("agent.offline", {"name": name})
                    gone.append(name)
        return gone

    async def _read_last_seen(self, names: builtins.list[str]) -> None:
        """Refresh the cached ``last_seen`` of ``names`` from the database (one query)."""
        for name, seen in (await self.repo.last_seen_of(names)).items():
            cached = self.cache.get(name)
            if cached is not None:
                cached["last_seen"] = seen

    async def flush_last_seen(self) -> None:
        """Store last-seen times so other processes know who is online (shared database)."""
        dirty, self._seen_dirty = self._seen_dirty, set()
        await self.repo.store_last_seen({name: self.last_seen[name] for name in dirty
                                         if self.last_seen.get(name) is not None and name in self.cache})

    def model(self, doc: Doc) -> dict[str, Any]:
        return presenters.agent_model(doc, online=self.is_online(doc), last_seen=self.seen_at(doc))
