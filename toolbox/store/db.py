"""The database seam: the only module that imports Motor (or its in-memory fake).

Everything else receives a database object from ``open_database`` and uses the
PyMongo-style async API (``find_one_and_update``, ``insert_one`` ...).  Moving to
PyMongo's own async client (Motor is deprecated upstream) means editing this file.

The embedded database (mongomock) scans the whole collection on every query, even by
``_id``; ``open_database`` teaches it to look a document up by ``_id`` directly (see
``_install_embedded_id_lookup``), which is what a real MongoDB's ``_id`` index does.
"""

import datetime
import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne  # noqa: F401  (re-exported)
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError  # noqa: F401  (re-exported)

log = logging.getLogger("toolbox.db")

# A MongoDB document as the driver hands it over (and as toolBox builds one to store).
Doc = dict[str, Any]
# A collection, a change stream, a client: Motor's (or mongomock's) objects, untyped here
# so that no other module imports Motor to name them.
Collection = Any

DEFAULT_DB_NAME = "toolbox"


class Database:
    """A client and the toolBox database on it, with a way to close both."""

    def __init__(self, client: Any, name: str, embedded: bool) -> None:
        self.client = client
        self.db = client[name]
        self.name = name
        self.embedded = embedded
        # Facts that hold only while this process is the database's sole user: true
        # of the embedded database (shared only by passing this object around).
        self.local_state: dict[str, Any] | None = {} if embedded else None

    def __getitem__(self, collection: str) -> Collection:
        return self.db[collection]

    async def ping(self) -> None:
        """Raise when the store does not answer."""
        if self.embedded:
            # mongomock has no server to ping: a trivial read proves it answers.
            await self.db["counters"].find_one({"_id": "__ping__"})
        else:
            await self.client.admin.command("ping")

    async def cluster_time(self) -> Any:
        """The database's current operation time (a BSON Timestamp; shared database only)."""
        reply = await self.client.admin.command("ping")
        return reply.get("operationTime") or reply["$clusterTime"]["clusterTime"]

    def watch(self, pipeline: list[Doc], **options: Any) -> Any:
        """A change stream on the whole database (shared database only: a replica set)."""
        return self.db.watch(pipeline, **options)

    async def drop(self) -> None:
        """Drop the whole database (tests only)."""
        await self.client.drop_database(self.name)

    def close(self) -> None:
        self.client.close()


def database_name_from_uri(uri: str) -> str:
    """The database named in a MongoDB URI's path, or toolBox's default."""
    path = urllib.parse.urlsplit(uri).path.lstrip("/")
    return path or DEFAULT_DB_NAME


def open_database(uri: str | None = None, name: str | None = None, server_timeout_ms: int = 5000) -> Database:
    """Open the real MongoDB at ``uri``, or the embedded in-memory one when it is None."""
    if uri:
        from motor.motor_asyncio import AsyncIOMotorClient

        client: Any = AsyncIOMotorClient(uri, serverSelectionTimeoutMS=server_timeout_ms, tz_aware=True)
        return Database(client, name or database_name_from_uri(uri), embedded=False)
    from mongomock_motor import AsyncMongoMockClient

    _install_embedded_id_lookup()
    _install_embedded_bulk_sort()
    client = AsyncMongoMockClient(tz_aware=True)
    return Database(client, name or DEFAULT_DB_NAME, embedded=True)


# Exact types only: bool is an int subclass, and Mongo never equates True with 1.
_ID_LOOKUP_TYPES = (int, str, bytes)


def _install_embedded_id_lookup() -> None:
    """Make mongomock answer ``{"_id": value}`` and ``{"_id": {"$in": [...]}}`` filters
    from its ``_id``-keyed store.

    mongomock keeps documents in a dict keyed by ``_id`` but still runs the filter on
    every document, and ``find_one_and_update`` does that three times.  When the filter
    pins ``_id`` to a value (or a list of values), only the documents stored under those
    keys can match, so the whole filter is applied to them alone: same answers, without
    the scan.  Other filters are still a scan, but a document is first tested against the
    filter's plain string and date conditions (``state: "queued"``, ``created_at: {"$lt":
    date}``) and only then against the whole filter.  If mongomock's internals change
    shape, the patch steps aside.
    """
    from mongomock import ObjectId, collection, filtering

    scan = getattr(collection.Collection, "_iter_documents", None)
    if scan is None or getattr(scan, "toolbox_id_lookup", False):
        return
    exact_types = _ID_LOOKUP_TYPES + (ObjectId,)

    def candidate_ids(filter: Any) -> tuple[Any, ...] | dict[Any, None] | None:
        """The ``_id`` values the filter can match, or None when it does not pin them."""
        key = filter.get("_id") if isinstance(filter, dict) else None
        if type(key) in exact_types:
            return (key,)
        if type(key) is dict and set(key) == {"$in"} and isinstance(key["$in"], (list, tuple)):
            values = key["$in"]
            if all(type(value) in exact_types for value in values):
                return dict.fromkeys(values)  # unique, in order
        return None

    def quick_checks(filter: Any) -> list[tuple[str, Any, Any]]:
        """Tests that rule documents out cheaply, from the filter's top-level conditions
        ``field: "s"``, ``field: {"$in": ["s", ...]}`` (a document whose field holds another
        string, or nothing, cannot match) and ``field: {"$lt": date}`` (nor one whose field
        holds a later date).  Anything else (arrays, other types) is left to the full filter."""
        checks: list[tuple[str, Any, Any]] = []
        for key, value in filter.items() if isinstance(filter, dict) else ():
            if key.startswith("$") or "." in key:
                continue
            if type(value) is str:
                checks.append((key, (value,), None))
            elif type(value) is dict and len(value) == 1:
                [(op, arg)] = value.items()
                if (op == "$in" and isinstance(arg, (list, tuple)) and arg
                        and all(type(item) is str for item in arg)):
                    checks.append((key, frozenset(arg), None))
                elif op == "$lt" and type(arg) is datetime.datetime and arg.tzinfo is None:
                    checks.append((key, None, arg))  # stored dates and the filter's are naive UTC
        return checks

    def may_match(checks: list[tuple[str, Any, Any]], document: Doc) -> bool:
        for key, allowed, before in checks:
            value = document.get(key)
            if allowed is not None:
                if (value is None or type(value) is str) and value not in allowed:
                    return False
            elif type(value) is datetime.datetime and value.tzinfo is None and not value < before:
                return False
        return True

    def iter_documents(self: Any, filter: Any) -> Iterator[Doc]:
        ids = candidate_ids(filter)
        if ids is None:
            checks = quick_checks(filter)
            if not checks or self._store.is_empty:
                return scan(self, filter)
            # A scan still, but the cheap tests first: the sweeper's state queries
            # run every second over every live task (10,000 in a fleet-wide job).
            return iter([document for document in list(self._store.documents)
                         if may_match(checks, document) and filtering.filter_applies(filter, document)])
        store = self._store
        # The store's dict itself when it has no TTL index to apply first: its accessors take
        # a reader lock (three lock operations) per call, for threads this process has not.
        if not getattr(store, "_ttl_indexes", True) and isinstance(getattr(store, "_documents", None), dict):
            store = store._documents
        documents = [store[key] for key in ids if key in store]
        rest = {key: value for key, value in filter.items() if key != "_id"}  # _id holds by lookup
        if not rest:
            return iter(documents)
        return iter([document for document in documents if filtering.filter_applies(rest, document)])

    iter_documents.toolbox_id_lookup = True  # type: ignore[attr-defined]  # a marker on the function
    collection.Collection._iter_documents = iter_documents  # type: ignore[method-assign]  # the patch itself


def _install_embedded_bulk_sort() -> None:
    """Let mongomock take pymongo's ``UpdateOne`` in ``bulk_write``.

    Since pymongo 4.9 an ``UpdateOne`` hands the bulk builder a ``sort`` argument (MongoDB
    8's sorted update), which mongomock's builder does not know; toolBox never sorts an
    update, so a ``None`` sort is dropped and any other is refused as mongomock would.
    """
    from mongomock import collection

    add_update = getattr(collection.BulkOperationBuilder, "add_update", None)
    if add_update is None or getattr(add_update, "toolbox_sort", False):
        return

    def add_update_without_sort(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
        if sort is not None:
            raise NotImplementedError("mongomock: a sorted update in bulk_write")
        return add_update(self, *args, **kwargs)

    add_update_without_sort.toolbox_sort = True  # type: ignore[attr-defined]  # a marker on the function
    collection.BulkOperationBuilder.add_update = add_update_without_sort  # type: ignore[method-assign]  # the patch


def index(keys: list[tuple[str, Any]], **options: Any) -> pymongo.IndexModel:
    """An index model: ``index([("agent", ASCENDING)], unique=True)``."""
    return pymongo.IndexModel(keys, **options)
