"""Creations a client may send again: ``POST /api/jobs`` and ``POST /api/tasks`` with an
``Idempotency-Key`` header are answered the same way however often they are sent.

``Idempotency.once(owner, route, key, body, create)`` runs ``create`` (which returns the
status and the JSON answer) the first time ``owner`` sends ``key`` on ``route``, stores
the answer, and replays it for every later request with that key (``Idempotent-Replayed:
true``).  The same key with another body is refused (422); a key whose first request is
still running is answered 409 with ``Retry-After``.  A first request that failed (a 503
while the database was away, a 400) leaves no answer: the retry runs the creation.

The gaps, both narrow: a creation whose write the database applied but whose reply was
lost, and that the database does not answer for within ``TOOLBOX_DB_TIMEOUT`` (a job's
commit is sent again until then: ``toolbox.store.transactions``; a task insert once, as a
retryable write), fails as a 503, its reservation is released, and the retry creates
again (the answer is stored outside the creation's transaction); a request that dies between its creation and the storing of its
answer (the process killed) leaves its reservation pending, and after ``stale`` seconds a
retry takes it over and creates again.  The answer is stored right after the creation,
tried again for ``hold`` seconds while the database is away.
"""

import datetime
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from toolbox import clock
from toolbox.errors import Conflict, ToolboxError, ValidationError
from toolbox.store.faults import patiently
from toolbox.store.repos.idempotency import IdempotencyRepo

KEY_RE = re.compile(r"[\x21-\x7e]{1,200}")


class Unprocessable(ToolboxError):
    status = 422


class Idempotency:
    def __init__(self, repo: IdempotencyRepo, stale: float = 30.0, hold: float = 20.0,
                 now: Callable[[], datetime.datetime] = clock.utcnow) -> None:
        self.repo, self.stale, self.hold, self.now = repo, stale, hold, now

    async def start(self) -> None:
        await self.repo.ensure_indexes()

    async def once(self, owner: str, route: str, key: str, body: Any,
                   create: Callable[[], Awaitable[tuple[int, Any]]]) -> tuple[int, Any, bool]:
        """(status, answer, replayed) for the request ``body`` sent with ``key``."""
        if not KEY_RE.fullmatch(key):
            raise ValidationError("Idempotency-Key: 1 to 200 printable ASCII characters, no spaces")
        ident = hashlib.sha256(f"{owner}\0{route}\0{key}".encode()).hexdigest()
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        now = self.now()
        found = await self.repo.reserve(ident, fingerprint, now)
        if found is not None:
            if found.get("fingerprint") != fingerprint:
                raise Unprocessable("this Idempotency-Key was sent before with another request body")
            if found["state"] == "done":
                return found["status"], found["body"], True
            stale_before = now - datetime.timedelta(seconds=self.stale)
            if not await self.repo.take_over(ident, stale_before, now):
                raise Conflict("a request with this Idempotency-Key is still being answered; try again shortly",
                               headers={"Retry-After": "2"})
        try:
            status, answer = await create()
        except BaseException:
            try:
                await self.repo.release(ident)
            except Exception:  # the database is away: the reservation goes stale instead
                pass
            raise
        await patiently(lambda: self.repo.answer(ident, status, answer), self.hold)
        return status, answer, False
