"""Database faults: which driver errors mean "the database is away, slow or not primary",
the 503 they become, and one log line per outage instead of a traceback per request.

``outage_kind`` sorts PyMongo's errors into ``unreachable`` (no server selected in time),
``timeout`` (a socket, an operation's time limit or a write concern's wait ran out),
``not_primary`` (a replica set without a primary, stepping down or shutting down) and
``connection`` (a connection reset or closed, ``AutoReconnect``); anything else is a bug
and stays a 500.  ``Outages.refused`` turns such an error into ``DatabaseUnavailable``
(a ``ToolboxError``: ``503`` with ``Retry-After``), counts it by kind and logs the first
of an outage in one line; ``Outages.recovered`` (called by the health check,
``toolbox.store.health``) ends the outage with one more line.  The base handler's error
mapping and the background loops are the only callers: nothing else catches driver errors.
"""

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo.errors import (AutoReconnect, ConnectionFailure, ExecutionTimeout, NetworkTimeout, NotPrimaryError,
                            OperationFailure, ServerSelectionTimeoutError, WTimeoutError)

from toolbox.errors import Unavailable

log = logging.getLogger("toolbox.db")
T = TypeVar("T")

RETRY_AFTER_SECONDS = 2

# Server error codes that mean "not now" rather than "wrong": a replica set's election or
# shutdown, and time limits (MongoDB's error_codes.yml).
NOT_PRIMARY_CODES = frozenset({91, 189, 10107, 11600, 11602, 13435, 13436})
TIMEOUT_CODES = frozenset({50, 89, 262})
KINDS = ("unreachable", "timeout", "not_primary", "connection", "shed")


def outage_kind(error: BaseException) -> str | None:
    """The kind of database fault ``error`` is, or None when it is no fault of the database's."""
    if isinstance(error, ServerSelectionTimeoutError):
        return "unreachable"
    if isinstance(error, (NetworkTimeout, ExecutionTimeout, WTimeoutError)):
        return "timeout"
    if isinstance(error, NotPrimaryError):
        return "not_primary"
    if isinstance(error, (AutoReconnect, ConnectionFailure)):
        return "connection"
    if isinstance(error, OperationFailure):
        if error.code in NOT_PRIMARY_CODES:
            return "not_primary"
        if error.code in TIMEOUT_CODES:
            return "timeout"
    return None


class DatabaseUnavailable(Unavailable):
    """The database cannot serve this request now: 503, try again after ``Retry-After``."""

    def __init__(self, kind: str, message: str | None = None) -> None:
        super().__init__(message or f"the database is unavailable ({kind.replace('_', ' ')}); try again shortly",
                         headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.kind = kind


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text[:160]}" if text else type(error).__name__


class Outages:
    """Database failures of one process: counted by kind, the first of each outage logged."""

    def __init__(self) -> None:
        self.by_kind: Counter[str] = Counter()
        self.since: float | None = None  # monotonic time the current outage began (None: none)
        self.during = 0  # failures in the current outage

    def refused(self, error: BaseException, where: str) -> DatabaseUnavailable | None:
        """``error`` as the 503 it becomes (counted, the outage's first logged), or None
        when it is not a database fault."""
        kind = outage_kind(error)
        if kind is None:
            return None
        self.failed(kind, f"{_first_line(error)} ({where})")
        return DatabaseUnavailable(kind)

    def failed(self, kind: str, detail: str) -> None:
        """Count a failure of ``kind``; log it when it is the first of an outage."""
        self.by_kind[kind] += 1
        self.during += 1
        if self.since is None:
            self.since = time.monotonic()
            log.warning("database unavailable: %s; answering 503 until it is back "
                        "(further failures are counted in toolbox_database_errors_total)", detail)

    def shed(self) -> None:
        self.by_kind["shed"] += 1

    def recovered(self) -> None:
        """The database answers again: end the outage (one line)."""
        if self.since is not None:
            log.warning("database back after %.1f s (%d failures in between)",
                        time.monotonic() - self.since, self.during)
            self.since, self.during = None, 0


# One per process: the handlers' error mapping and the background loops share it.
OUTAGES = Outages()


def log_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """In an ``except`` block of a background loop: a database fault is counted and logged
    once per outage (one line); any other error is logged with its traceback."""
    import sys

    error = sys.exc_info()[1]
    if error is not None and OUTAGES.refused(error, message % args if args else message) is not None:
        return
    logger.exception(message, *args)


async def patiently(operation: Callable[[], Awaitable[T]], hold: float, step: float = 0.5) -> T:
    """``await operation()``, tried again while it fails with a database fault, for up to
    ``hold`` seconds in all; then the fault is raised.  Only for idempotent operations
    (an agent's report or registration: the same report twice is stored once)."""
    import asyncio

    deadline = time.monotonic() + hold
    while True:
        try:
            return await operation()
        except Exception as error:
            if outage_kind(error) is None or time.monotonic() + step > deadline:
                raise
        await asyncio.sleep(step)
