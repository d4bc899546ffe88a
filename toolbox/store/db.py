"""The database seam: the only module that imports Motor or its in-memory fake, and the
driver names (errors, BSON helpers) the rest of toolBox may use, re-exported.

``open_database`` opens a real MongoDB (Motor) or the embedded in-memory one
(mongomock-motor, used as it comes: nothing of it is patched).  Collection handles go to
the repositories (``toolbox.store.repos``), the only code that speaks MongoDB's query
language; ``Database.embedded`` is read by ``toolbox.server.variants`` alone.  Moving to
PyMongo's own ``AsyncMongoClient`` (Motor is deprecated upstream) touches this module
and the repositories' cursor calls, nothing outside ``toolbox.store``
(docs/architecture.md).
"""

import logging
import os
import urllib.parse
from typing import Any

import pymongo
from bson import BSON, ObjectId  # noqa: F401  (re-exported)
from bson.errors import InvalidDocument, InvalidId  # noqa: F401  (re-exported)
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne, uri_parser  # noqa: F401  (re-exported)
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError  # noqa: F401  (re-exported)

log = logging.getLogger("toolbox.db")

# Motor runs every operation on one process-wide thread pool, 5 threads per CPU unless
# MOTOR_MAX_WORKERS says otherwise, read once when Motor is first imported (in ``open_database``): at 0.3 s a
# round trip, 10 threads cap the process at ~33 database operations a second and every
# request (health, metrics) queues behind them.  64 threads (idle ones cost a stack, not
# CPU) let PyMongo's own connection pool (100) be the bound; an operator's value wins.
# Measured in docs/benchmarks.md ("A slow database").
DB_WORKERS = 64
os.environ.setdefault("MOTOR_MAX_WORKERS", str(DB_WORKERS))

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
        # The embedded database's in-memory collections (``toolbox.server.variants`` puts
        # them here: it is shared only by passing this object around).
        self.local_state: dict[str, Any] = {}

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


def write_concern_for(uri: str) -> dict[str, Any]:
    """The write concern toolBox asks for on ``uri`` unless the URI names one: journaled
    (``j: true``, so an acknowledged task or result survives a crash of the database),
    acknowledged by a majority on a replica set (so it survives a failover too)."""
    options = uri_parser.parse_uri(uri)["options"] if uri.startswith("mongodb://") else {}
    if "w" in options or "journal" in options:
        return {}
    replica_set = "replicaset" in options or uri.startswith("mongodb+srv://")
    return {"w": "majority" if replica_set else 1, "journal": True}


def open_database(uri: str | None = None, name: str | None = None, server_timeout_ms: int = 5000) -> Database:
    """Open the real MongoDB at ``uri``, or the embedded in-memory one when it is None.

    ``server_timeout_ms`` bounds how long an operation waits for a reachable server (and a
    connection to open) before it fails with a driver error that the handlers answer 503
    (``toolbox.store.faults``).
    """
    if uri:
        from motor.motor_asyncio import AsyncIOMotorClient

        client: Any = AsyncIOMotorClient(uri, serverSelectionTimeoutMS=server_timeout_ms,
                                         connectTimeoutMS=server_timeout_ms, tz_aware=True,
                                         **write_concern_for(uri))
        return Database(client, name or database_name_from_uri(uri), embedded=False)
    from mongomock_motor import AsyncMongoMockClient

    client = AsyncMongoMockClient(tz_aware=True)
    return Database(client, name or DEFAULT_DB_NAME, embedded=True)


def index(keys: list[tuple[str, Any]], **options: Any) -> pymongo.IndexModel:
    """An index model: ``index([("agent", ASCENDING)], unique=True)``."""
    return pymongo.IndexModel(keys, **options)


def uri_problem(uri: str) -> str | None:
    """Why PyMongo could not use the ``mongodb://`` or ``mongodb+srv://`` URI (checked without
    connecting or looking a name up), or None."""
    try:
        if uri.startswith("mongodb://"):
            uri_parser.parse_uri(uri)
        else:  # parsing an SRV URI would look its name up: check the host part alone
            uri_parser.split_hosts(uri[len("mongodb+srv://"):].split("/", 1)[0].rsplit("@", 1)[-1])
    except (PyMongoError, ValueError, TypeError) as error:
        return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return None


def encodable(doc: Doc) -> bool:
    """Whether ``doc`` can be stored (BSON-encoded)."""
    try:
        BSON.encode(doc)
        return True
    except (InvalidDocument, TypeError, ValueError, OverflowError):
        return False
