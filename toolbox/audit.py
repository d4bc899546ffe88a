"""The audit log: an append-only record of who did what, never holding a secret.

``AuditLog.record`` inserts one document per action into ``audit`` (inserts only:
nothing in toolBox updates or deletes an entry).  ``details`` must not carry tokens,
secrets or codes; ``record`` drops keys whose names say they might.
"""

import logging

from bson import ObjectId
from bson.errors import InvalidId

from toolbox import models
from toolbox.db import ASCENDING, DESCENDING, index
from toolbox.errors import ValidationError
from toolbox.filters import name_match

log = logging.getLogger("toolbox.audit")

SECRET_WORDS = ("token", "secret", "password", "code", "cookie", "authorization")


def scrub(details):
    """A copy of ``details`` without keys that might hold a secret."""
    clean = {}
    for key, value in (details or {}).items():
        if any(word in key.lower() for word in SECRET_WORDS) and key not in ("exit_code", "status_code"):
            continue
        clean[key] = scrub(value) if isinstance(value, dict) else value
    return clean


class AuditLog:
    """Append and read audit entries."""

    def __init__(self, db):
        self.collection = db["audit"]

    async def start(self):
        await self.collection.create_indexes([
            index([("at", DESCENDING)], name="at"),
            index([("actor", ASCENDING), ("at", DESCENDING)], name="actor_at"),
            index([("action", ASCENDING), ("at", DESCENDING)], name="action_at"),
        ])

    async def record(self, actor, action, target=None, outcome="ok", details=None, address=None):
        """Append one entry.  ``actor`` is a Principal (or None for anonymous)."""
        entry = {
            "at": models.utcnow(),
            "actor": getattr(actor, "name", None),
            "actor_id": getattr(actor, "user_id", None),
            "role": getattr(actor, "role", None),
            "action": action,
            "target": target,
            "outcome": outcome,
            "details": scrub(details),
            "address": address,
        }
        await self.collection.insert_one(entry)
        return entry

    async def list(self, actor=None, action=None, target=None, limit=50, before=None, part=False):
        """Newest first.  ``actor`` matches the actor's name or user id; ``part``: names,
        actions and targets containing the text given; ``before`` is a datetime bound, or
        the id of an entry (a page's ``next_before``: no entry is skipped even when several
        share a millisecond)."""
        clauses = []
        if actor is not None:
            actor = name_match(actor, part)
            clauses.append({"$or": [{"actor": actor}, {"actor_id": actor}]})
        for key, value in (("action", action), ("target", target)):
            if value is not None:
                clauses.append({key: name_match(value, part)})
        if isinstance(before, str):
            anchor = await self.collection.find_one({"_id": _entry_id(before)})
            if anchor is None:
                raise ValidationError("before: no such audit entry")
            clauses.append({"$or": [{"at": {"$lt": anchor["at"]}},
                                    {"at": anchor["at"], "_id": {"$lt": anchor["_id"]}}]})
        elif before is not None:
            clauses.append({"at": {"$lt": before}})
        query = {"$and": clauses} if clauses else {}
        cursor = self.collection.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [entry async for entry in cursor]


def _entry_id(text):
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        raise ValidationError("before: not an audit entry id") from None


def audit_model(entry):
    return {
        "id": str(entry["_id"]),
        "at": models.isoformat(entry["at"]),
        "actor": entry.get("actor"),
        "actor_id": entry.get("actor_id"),
        "role": entry.get("role"),
        "action": entry["action"],
        "target": entry.get("target"),
        "outcome": entry.get("outcome"),
        "details": entry.get("details") or {},
        "address": entry.get("address"),
    }
