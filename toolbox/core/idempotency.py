"""Creations a client may send again: ``POST /api/jobs`` and ``POST /api/tasks`` with an
``Idempotency-Key`` header are answered the same way however often they are sent.

``Idempotency.once(owner, route, key, body, create)`` runs ``create(creation_key)`` (which
returns the status and the JSON answer; ``creation_key`` names this key's creation, the same
for every retry of it) the first time ``owner`` sends ``key`` on ``route``, stores
the answer, and replays it for every later request with that key (``Idempotent-Replayed:
true``).  The same key with another body is refused (422); a key whose first request is
still running is answered 409 with ``Retry-After``.  A first request that failed (a 503
while the database was away, a 400) leaves no answer: the retry runs the creation (its
reservation released at once, or, with the database away, as soon as it is back within
``hold`` seconds).

A creation whose write the database applied but whose reply was lost, and that the
database does not answer for within ``TOOLBOX_DB_TIMEOUT`` (a job's commit is sent again
until then: ``toolbox.store.transactions``), fails as a 503 and its reservation is
released: the answer is stored outside the creation's transaction.  A job keeps its
``creation_key`` (a unique index), so the retry's creation finds the job stored and
answers it instead of making a second (``JobService.create``).  The gaps left, both
narrow: ``POST /api/tasks`` (a task insert is tried once more, as a retryable write, and
its tasks carry no creation key), and a request that dies between its creation and the
storing of its answer (the process killed) leaves its reservation pending: after
``stale`` seconds a retry takes it over; for a job it then finds the job, for raw tasks it
creates again.  The answer is stored right after the creation,
tried again for ``hold`` seconds while the database is away.
"""

import asyncio
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
        self._releasing: set[asyncio.Future[None]] = set()  # reservations released once the database is back

    async def start(self) -> None:
        await self.repo.ensure_indexes()

    def _later(self, ident: str) -> None:
        """Release ``ident``'s reservation in the background, for ``hold`` seconds (then it goes stale)."""
        async def release() -> None:
            try:
                await patiently(lambda: self.repo.release(ident), self.hold)
            except Exception:
                pass  # still away: ``stale`` frees it

        task = asyncio.ensure_future(release())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def once(self, owner: str, route: str, key: str, body: Any,
                   create: Callable[[str], Awaitable[tuple[int, Any]]]) -> tuple[int, Any, bool]:
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
            # the creation's key: the request's key and body (a retry with another body, once
            # the reservation is gone, is another creation)
            status, answer = await create(f"{ident}:{fingerprint[:32]}")
        except BaseException:
            try:
                await self.repo.release(ident)
            except Exception:  # the database is away: released once it is back, not answered 409 till stale
                self._later(ident)
            raise
        await patiently(lambda: self.repo.answer(ident, status, answer), self.hold)
        return status, answer, False
