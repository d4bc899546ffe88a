"""Multi-document transactions on a replica set, with the drivers' retry convention and a bound.

``in_transaction(db, writes, bound)`` runs ``await writes(session)`` in a transaction on
``db`` (a shared MongoDB: a replica set) and commits it.  A failure labelled
``TransientTransactionError`` (a write conflict, a connection lost before the commit, an
election) aborts and runs ``writes`` again from the start, in a new transaction; a commit
labelled ``UnknownTransactionCommitResult`` (the reply was lost: applied or not, no one
can tell yet) is committed again, which the server answers for the transaction it has
(``commitTransaction`` is idempotent).  That is what PyMongo's ``with_transaction`` does,
but it goes on for 120 s; here every retry stops at ``bound`` seconds after the start and
the last error is raised (a driver error: ``toolbox.store.faults`` makes it a 503).  So
``writes`` must do the same thing each time it runs (its documents built beforehand) and
nothing outside the database: what follows a commit (events) is the caller's, after it.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.errors import PyMongoError

from toolbox.store.db import Database

TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"
RETRY_PAUSE = 0.05  # seconds between two tries (an error that came at once is not tried in a busy loop)


def _labelled(error: BaseException, label: str) -> bool:
    return isinstance(error, PyMongoError) and error.has_error_label(label)


async def in_transaction(db: Database, writes: Callable[[Any], Awaitable[None]], bound: float) -> None:
    """Run ``writes(session)`` in one transaction and commit it, retried within ``bound`` seconds."""
    deadline = time.monotonic() + bound
    async with await db.client.start_session() as session:
        while True:
            session.start_transaction()
            try:
                await writes(session)
            except BaseException as error:
                if session.in_transaction:
                    await _abort(session)
                if _labelled(error, TRANSIENT) and time.monotonic() < deadline:
                    await asyncio.sleep(RETRY_PAUSE)
                    continue
                raise
            if await _commit(session, deadline):
                return
            await asyncio.sleep(RETRY_PAUSE)  # not committed, and may be tried again: from the start


async def _commit(session: Any, deadline: float) -> bool:
    """Commit: True when done; False when the transaction was not applied and may be
    tried again (a transient error); raises otherwise, or once ``deadline`` has passed."""
    while True:
        try:
            await session.commit_transaction()
            return True
        except PyMongoError as error:
            if time.monotonic() >= deadline:
                raise
            if _labelled(error, UNKNOWN_COMMIT):
                await asyncio.sleep(RETRY_PAUSE)
                continue
            if _labelled(error, TRANSIENT):
                return False
            raise


async def _abort(session: Any) -> None:
    """Abort the open transaction (PyMongo ignores the server's answer; the server ends an
    abandoned one itself when it gets the session's next transaction, or after its lifetime)."""
    try:
        await session.abort_transaction()
    except PyMongoError:
        pass
