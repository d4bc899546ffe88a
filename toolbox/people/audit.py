"""The audit log: a record of who did what, never holding a secret, and bounded.

``AuditLog.record`` inserts one document per action into ``audit``; nothing in toolBox
changes what an entry says.  ``details`` must not carry tokens, secrets or codes;
``record`` drops keys whose names say they might.

Refusals that need no credentials (a wrong one-time login link, a forged Feishu
callback) would let anyone grow the log at will, so ``record_refusal`` counts them: one
entry per source address, action and reason per minute, whose ``details.count`` says
how many there were (counts are written by ``flush``, which the sweeper runs).

``prune`` (run by the sweeper about once a minute) deletes entries older than the
retention (``TOOLBOX_AUDIT_RETENTION_DAYS``) and, when a count cap is set (the
embedded database's default, like the task history's), the oldest beyond it once the
log is a tenth over: a long-running embedded server's memory levels off.
"""

import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

from toolbox import clock
from toolbox.store.db import Doc, InvalidId, ObjectId
from toolbox.store.repos.audit import Audit, AuditQuery
from toolbox.errors import ValidationError

log = logging.getLogger("toolbox.audit")

SECRET_WORDS = ("token", "secret", "password", "code", "cookie", "authorization")
PRUNE_EVERY = 60.0  # seconds between retention/cap passes
MAX_REFUSAL_KEYS = 10_000  # distinct (address, action, reason) counted in one minute


def scrub(details: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``details`` without keys that might hold a secret."""
    clean = {}
    for key, value in (details or {}).items():
        if any(word in key.lower() for word in SECRET_WORDS) and key not in ("exit_code", "status_code"):
            continue
        clean[key] = scrub(value) if isinstance(value, dict) else value
    return clean


class AuditLog:
    """Append and read audit entries."""

    def __init__(self, repo: Audit, retention_days: float = 180.0, limit: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.retention_days = retention_days
        self.limit = limit
        self.clock = clock
        self._minute: int | None = None
        # (address, action, reason) -> [entry id, counts not yet written]
        self._refusals: dict[tuple[Any, str, str], list[Any]] = {}
        self._pruned_at: float | None = None

    async def start(self) -> None:
        await self.repo.ensure_indexes()

    async def record(self, actor: Any, action: str, target: str | None = None, outcome: str = "ok",
                     details: dict[str, Any] | None = None, address: str | None = None) -> Doc:
        """Append one entry.  ``actor`` is a Principal (or None for anonymous)."""
        entry: Doc = {
            "at": clock.utcnow(),
            "actor": getattr(actor, "name", None),
            "actor_id": getattr(actor, "user_id", None),
            "role": getattr(actor, "role", None),
            "action": action,
            "target": target,
            "outcome": outcome,
            "details": scrub(details),
            "address": address,
        }
        await self.repo.insert(entry)
        return entry

    async def record_refusal(self, action: str, reason: str, address: str | None, target: str | None = None,
                             details: dict[str, Any] | None = None) -> None:
        """Count a refusal that needs no credentials: the first of its kind from ``address``
        in a minute is an entry, the others add to its ``details.count``."""
        minute = int(self.clock() // 60)
        if minute != self._minute:
            finished, self._refusals, self._minute = self._refusals, {}, minute
            await self._flush(finished)
        refusals = self._refusals
        key = (address, action, reason)
        if key not in refusals and len(refusals) >= MAX_REFUSAL_KEYS:
            key = ("*", action, reason)  # too many sources this minute: one entry for the rest
        counted = refusals.get(key)
        if counted is not None:
            counted[1] += 1
            return
        refusals[key] = counted = [None, 0]  # [entry id, counts not yet written]
        entry = await self.record(None, action, target, "refused",
                                  dict(details or {}, reason=reason, count=1), address=key[0])
        counted[0] = entry["_id"]
        if self._refusals is not refusals:  # the minute ended while this was written
            await self._flush({key: counted})

    async def flush(self) -> None:
        """Write the refusal counts gathered since the last flush."""
        await self._flush(self._refusals)

    async def _flush(self, refusals: dict[tuple[Any, str, str], list[Any]]) -> None:
        for counted in list(refusals.values()):
            if counted[0] is None or not counted[1]:
                continue  # still being inserted: its counts are written by the next flush
            pending, counted[1] = counted[1], 0  # taken before the write: counts arriving meanwhile stay
            await self.repo.add_count(counted[0], pending)

    async def sweep(self) -> None:
        """Flush refusal counts and keep the count cap; about once a minute, the retention."""
        await self.flush()
        now = self.clock()
        retention = self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY
        if retention:
            self._pruned_at = now
        await self.prune(retention=retention)

    async def prune(self, now: datetime.datetime | None = None, retention: bool = True) -> int:
        """Delete entries past the retention (when ``retention``), and the oldest beyond the
        count cap once the log is a tenth over it; return how many."""
        now = now or clock.utcnow()
        cutoff = now - datetime.timedelta(days=self.retention_days) if self.retention_days else None
        return await self.repo.prune(cutoff if retention else None, self.limit)

    async def list(self, actor: str | None = None, action: str | None = None, target: str | None = None,
                   limit: int = 50, before: str | datetime.datetime | None = None, part: bool = False) -> list[Doc]:
        """Newest first.  ``actor`` matches the actor's name or user id; ``part``: names,
        actions and targets containing the text given; ``before`` is a datetime bound, or
        the id of an entry (a page's ``next_before``: no entry is skipped even when several
        share a millisecond)."""
        anchor = None
        if isinstance(before, str):
            anchor = await self.repo.get(_entry_id(before))
            if anchor is None:
                raise ValidationError("before: no such audit entry")
        query = AuditQuery(actor=actor, action=action, target=target, part=part, after_entry=anchor,
                           before=before if isinstance(before, datetime.datetime) else None)
        return await self.repo.newest(query, limit)


def _entry_id(text: str) -> ObjectId:
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        raise ValidationError("before: not an audit entry id") from None
