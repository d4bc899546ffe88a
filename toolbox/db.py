"""The database seam: the only module that imports Motor (or its in-memory fake).

Everything else receives a database object from ``open_database`` and uses the
PyMongo-style async API (``find_one_and_update``, ``insert_one`` ...).  Moving to
PyMongo's own async client (Motor is deprecated upstream) means editing this file.
"""

import logging
import urllib.parse

import pymongo
from pymongo import ASCENDING, DESCENDING, ReturnDocument  # noqa: F401  (re-exported)
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError  # noqa: F401  (re-exported)

log = logging.getLogger("toolbox.db")

DEFAULT_DB_NAME = "toolbox"


class Database:
    """A client and the toolBox database on it, with a way to close both."""

    def __init__(self, client, name, embedded):
        self.client = client
        self.db = client[name]
        self.name = name
        self.embedded = embedded

    def __getitem__(self, collection):
        return self.db[collection]

    async def ping(self):
        """Raise when the store does not answer."""
        if self.embedded:
            # mongomock has no server to ping: a trivial read proves it answers.
            await self.db["counters"].find_one({"_id": "__ping__"})
        else:
            await self.client.admin.command("ping")

    async def drop(self):
        """Drop the whole database (tests only)."""
        await self.client.drop_database(self.name)

    def close(self):
        self.client.close()


def database_name_from_uri(uri):
    """The database named in a MongoDB URI's path, or toolBox's default."""
    path = urllib.parse.urlsplit(uri).path.lstrip("/")
    return path or DEFAULT_DB_NAME


def open_database(uri=None, name=None, server_timeout_ms=5000):
    """Open the real MongoDB at ``uri``, or the embedded in-memory one when it is None."""
    if uri:
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(uri, serverSelectionTimeoutMS=server_timeout_ms, tz_aware=True)
        return Database(client, name or database_name_from_uri(uri), embedded=False)
    from mongomock_motor import AsyncMongoMockClient

    client = AsyncMongoMockClient(tz_aware=True)
    return Database(client, name or DEFAULT_DB_NAME, embedded=True)


def index(keys, **options):
    """An index model: ``index([("agent", ASCENDING)], unique=True)``."""
    return pymongo.IndexModel(keys, **options)
