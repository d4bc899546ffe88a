"""The ``jobs`` collection: one document per job (its tool, agents, owner and counts).

``JobRepo`` keeps them in MongoDB; ``MemoryJobs`` in this process (the embedded
database: a job's counts are saved by id as its tasks finish, which mongomock would
answer with a scan of every job ever run).
"""

import dataclasses
import heapq
import re
from typing import Any

from toolbox.store.db import ASCENDING, DESCENDING, Collection, Doc, DuplicateKeyError, ReturnDocument, index
from toolbox.store.filters import name_match


_HOST_PORT = re.compile(r"\[([^\]]+)\]:(\d{1,5})|([^:\s\[\]]+):(\d{1,5})")  # [v6]:port, host:port


@dataclasses.dataclass(frozen=True)
class JobQuery:
    """A job list's filter (``part``: users and targets containing the text given)."""

    tool: str | None = None
    user: str | None = None
    target: str | None = None  # the job's host, or its URL
    state: str | None = None
    before: int | None = None  # ids below this
    part: bool = False
    schedule: int | None = None  # a schedule's rounds only
    outcome: str | None = None  # an ended job's outcome (ok, partial, failed)

    def _host_port(self) -> tuple[str, int] | None:
        """``target`` as tcp's ``host:port`` (how the console shows a tcp job), else None;
        ``[v6]:port`` too.  The port is matched exactly; the host (in ``part`` mode) ends the
        target, so "0.0.1:8080" finds "127.0.0.1:8080" as shown."""
        found = _HOST_PORT.fullmatch(self.target or "")
        if found is None:
            return None
        if found.group(1) is not None:
            return found.group(1), int(found.group(2))
        return found.group(3), int(found.group(4))

    def _host_query(self, host: str) -> Any:
        return {"$regex": re.escape(host) + "$", "$options": "i"} if self.part else host

    def mongo(self) -> Doc:
        query: Doc = {}
        if self.schedule is not None:
            query["schedule_id"] = self.schedule
        if self.tool is not None:
            query["tool"] = self.tool
        if self.user is not None:
            query["created_by"] = name_match(self.user, self.part)
        if self.target is not None:
            match = name_match(self.target, self.part)
            query["$or"] = [{"target": match}, {"params.url": match}]
            host_port = self._host_port()
            if host_port is not None:
                query["$or"].append({"tool": "tcp", "target": self._host_query(host_port[0]),
                                     "params.port": host_port[1]})
        if self.outcome is not None:
            query["outcome"] = self.outcome
        if self.state is not None:
            query["state"] = self.state
        if self.before is not None:
            query["_id"] = {"$lt": self.before}
        return query

    def _name(self, wanted: str, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self.part:
            return re.search(re.escape(wanted), value, re.IGNORECASE) is not None
        return value == wanted

    def _tcp_host_port(self, doc: Doc, params: Any) -> bool:
        host_port = self._host_port()
        if host_port is None or doc.get("tool") != "tcp" or not isinstance(params, dict):
            return False
        target, (host, port) = doc.get("target"), host_port
        if not isinstance(target, str) or params.get("port") != port:
            return False
        return target.lower().endswith(host.lower()) if self.part else target == host

    def matches(self, doc: Doc) -> bool:
        """Whether ``doc`` passes (what ``mongo`` asks of MongoDB)."""
        if self.schedule is not None and doc.get("schedule_id") != self.schedule:
            return False
        if self.tool is not None and doc.get("tool") != self.tool:
            return False
        if self.user is not None and not self._name(self.user, doc.get("created_by")):
            return False
        if self.target is not None:
            params = doc.get("params")
            url = params.get("url") if isinstance(params, dict) else None
            if not (self._name(self.target, doc.get("target")) or self._name(self.target, url)
                    or self._tcp_host_port(doc, params)):
                return False
        if self.outcome is not None and doc.get("outcome") != self.outcome:
            return False
        if self.state is not None and doc.get("state") != self.state:
            return False
        return self.before is None or doc["_id"] < self.before


class JobRepo:
    """Jobs in MongoDB."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes([
            index([("created_at", DESCENDING)], name="created_at"),
            index([("created_by", ASCENDING), ("_id", DESCENDING)], name="created_by"),
            index([("tool", ASCENDING), ("_id", DESCENDING)], name="tool"),
            index([("schedule_id", ASCENDING), ("_id", DESCENDING)], name="schedule", sparse=True),
            # a job made under an Idempotency-Key once only, however often its creation is retried
            index([("creation_key", ASCENDING)], name="creation_key", unique=True, sparse=True),
        ])

    async def insert(self, doc: Doc, session: Any = None) -> None:
        """``session``: in its transaction (``toolbox.store.repos.job_writes``)."""
        await self.collection.insert_one(doc, session=session)

    async def delete(self, job_id: int) -> None:
        await self.collection.delete_one({"_id": job_id})

    async def save(self, job_id: int, fields: Doc) -> None:
        """Set ``fields`` (state, counts …) on the job."""
        await self.collection.update_one({"_id": job_id}, {"$set": fields})

    async def get(self, job_id: int, session: Any = None) -> Doc | None:
        return await self.collection.find_one({"_id": job_id}, session=session)

    async def by_creation_key(self, creation_key: str) -> Doc | None:
        """The job made under ``creation_key`` (``toolbox.core.idempotency``), if stored."""
        return await self.collection.find_one({"creation_key": creation_key})

    async def forget_creation_key(self, job_id: int) -> None:
        """The job gives its creation key up (a key sent again long after, for a new job)."""
        await self.collection.update_one({"_id": job_id}, {"$unset": {"creation_key": ""}})

    async def newest(self, query: JobQuery, limit: int) -> list[Doc]:
        return await self.collection.find(query.mongo()).sort("_id", DESCENDING).to_list(limit)

    async def unfinished(self, not_owned_by: list[str] | None = None) -> list[Doc]:
        """Jobs not finished (and, when given, whose owner is none of ``not_owned_by``)."""
        query: Doc = {"finished_at": None}
        if not_owned_by is not None:
            query["owner"] = {"$nin": not_owned_by}
        return [doc async for doc in self.collection.find(query)]

    async def adopt(self, job_id: int, owner: str | None, new_owner: str) -> Doc | None:
        """Make ``new_owner`` the unfinished job's owner if it is still ``owner``'s."""
        return await self.collection.find_one_and_update(
            {"_id": job_id, "owner": owner, "finished_at": None}, {"$set": {"owner": new_owner}},
            return_document=ReturnDocument.AFTER)


class MemoryJobs:
    """Jobs in a dict by id (the embedded database)."""

    def __init__(self) -> None:
        self._docs: dict[int, Doc] = {}
        self._by_creation_key: dict[str, int] = {}

    async def ensure_indexes(self) -> None:
        """Nothing to create."""

    async def insert(self, doc: Doc) -> None:
        if doc["_id"] in self._docs:
            raise DuplicateKeyError(f"E11000 duplicate key error: jobs _id {doc['_id']!r}")
        key = doc.get("creation_key")
        if key is not None:
            if key in self._by_creation_key:
                raise DuplicateKeyError(f"E11000 duplicate key error: jobs creation_key {key!r}")
            self._by_creation_key[key] = doc["_id"]
        self._docs[doc["_id"]] = _copy(doc)

    async def delete(self, job_id: int) -> None:
        doc = self._docs.pop(job_id, None)
        if doc is not None and doc.get("creation_key") is not None:
            self._by_creation_key.pop(doc["creation_key"], None)

    async def save(self, job_id: int, fields: Doc) -> None:
        doc = self._docs.get(job_id)
        if doc is not None:
            doc.update(_copy(fields))

    async def get(self, job_id: int) -> Doc | None:
        doc = self._docs.get(job_id)
        return None if doc is None else _copy(doc)

    async def by_creation_key(self, creation_key: str) -> Doc | None:
        job_id = self._by_creation_key.get(creation_key)
        return None if job_id is None else await self.get(job_id)

    async def forget_creation_key(self, job_id: int) -> None:
        doc = self._docs.get(job_id)
        if doc is not None and doc.get("creation_key") is not None:
            self._by_creation_key.pop(doc.pop("creation_key"), None)

    async def newest(self, query: JobQuery, limit: int) -> list[Doc]:
        found = heapq.nlargest(limit, (doc for doc in self._docs.values() if query.matches(doc)),
                               key=lambda doc: doc["_id"])
        return [_copy(doc) for doc in found]

    async def unfinished(self, not_owned_by: list[str] | None = None) -> list[Doc]:
        return [_copy(doc) for doc in self._docs.values() if doc.get("finished_at") is None
                and (not_owned_by is None or doc.get("owner") not in not_owned_by)]

    async def adopt(self, job_id: int, owner: str | None, new_owner: str) -> Doc | None:
        doc = self._docs.get(job_id)
        if doc is None or doc.get("owner") != owner or doc.get("finished_at") is not None:
            return None
        doc["owner"] = new_owner
        return _copy(doc)


def _copy(doc: Doc) -> Doc:
    """A copy the caller may change: a job's lists and dicts (agents, counts, params) too."""
    return {key: (value.copy() if isinstance(value, (dict, list)) else value) for key, value in doc.items()}


# Either implementation, as the job service is handed one (``toolbox.server.variants``).
Jobs = JobRepo | MemoryJobs
