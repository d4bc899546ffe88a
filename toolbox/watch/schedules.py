"""Schedules: create, read, change and delete them, with who may do what.

A schedule is a job's spec (``tool``, ``params``, ``agents`` | ``tags`` + ``tags_match`` |
``all``) plus ``interval``, ``spread``, ``start_at``/``stop_at``, ``enabled``, ``name`` and
``owner`` (``toolbox.watch.specs`` checks them).  Viewers read every schedule; operators
create schedules and change or delete their own; admins all, and may create one for
another user (``owner``: a user id).  A change of timing recomputes ``next_run``
(``toolbox.watch.timing.retimed_run``: resuming or a new start runs as a new schedule; a
new interval or spread keeps the rhythm, so it fires no round at once); the rounds
themselves are ``toolbox.watch.rounds``'s.
The handlers audit every change.
"""

import builtins
import datetime
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from toolbox import clock as clocks
from toolbox.errors import Forbidden, NotFound, ValidationError
from toolbox.people.principals import display_name
from toolbox.store.db import Doc
from toolbox.watch.specs import schedule_changes, schedule_fields
from toolbox.watch.timing import first_run, retimed_run

if TYPE_CHECKING:
    from toolbox.people.principals import Principal
    from toolbox.store.repos.schedules import RoundRepo, ScheduleRepo

UserLookup = Callable[[str], Awaitable[Doc | None]]
Forget = Callable[[int], Awaitable[None]]
TIMING = ("interval", "spread", "start_at", "stop_at", "enabled")
MAX_SCHEDULES = 10000


class ScheduleService:
    """The schedules' life: ``create``, ``list``, ``get``, ``update``, ``delete``, ``rounds``."""

    def __init__(self, schedules: "ScheduleRepo", rounds: "RoundRepo", find_user: UserLookup, forget: Forget,
                 now: Callable[[], datetime.datetime] = clocks.utcnow,
                 retimed: Callable[[], None] = lambda: None) -> None:
        self.schedules = schedules
        self.round_log = rounds
        self.find_user = find_user  # user id -> user document (an admin's ``owner``)
        self.forget = forget  # deletes a deleted schedule's series
        self.now = now  # the schedules' clock (tests move it)
        self.retimed = retimed  # a next run was set: the round loop looks again (RoundScheduler.wake)

    async def start(self) -> None:
        await self.schedules.ensure_indexes()
        await self.round_log.ensure_indexes()

    async def _owner(self, principal: "Principal", owner: Any) -> tuple[str, str | None]:
        if owner is None or owner == principal.user_id:
            return principal.name, principal.user_id
        if principal.role != "admin":
            raise Forbidden("only admins create schedules for someone else")
        if not isinstance(owner, str) or len(owner) > 64:
            raise ValidationError("owner: a user id")
        user = await self.find_user(owner)
        if user is None:
            raise ValidationError(f"owner: no such user: {owner}")
        return display_name(user), user["_id"]

    async def create(self, principal: "Principal", body: Any) -> Doc:
        fields = schedule_fields(body)
        if len(await self.schedules.ids(MAX_SCHEDULES)) >= MAX_SCHEDULES:
            raise ValidationError(f"there are {MAX_SCHEDULES} schedules already")
        owner, owner_id = await self._owner(principal, body.get("owner"))
        now = self.now()
        doc = await self.schedules.insert(dict(fields, owner=owner, owner_id=owner_id, created_at=now,
                                               updated_at=now, next_run=None, rounds={}))
        next_run = first_run(doc, now)
        doc["next_run"] = next_run
        await self.schedules.update(doc["_id"], {"next_run": next_run})
        self.retimed()
        return doc

    async def get(self, schedule_id: int) -> Doc:
        doc = await self.schedules.get(schedule_id)
        if doc is None:
            raise NotFound(f"schedule not found: {schedule_id}")
        return doc

    async def list(self, owner_id: str | None = None, limit: int = 50, before: int | None = None) -> builtins.list[Doc]:
        return await self.schedules.list(owner_id=owner_id, limit=limit, before=before)

    def _check_may_change(self, principal: "Principal", doc: Doc) -> None:
        if principal.role == "admin":
            return
        if doc.get("owner_id") is None or doc.get("owner_id") != principal.user_id:
            raise Forbidden(f"schedule {doc['_id']} is {doc.get('owner')}'s: operators change only their own")

    async def update(self, principal: "Principal", schedule_id: int, body: Any) -> tuple[Doc, Doc]:
        """Change a schedule → (before, after)."""
        doc = await self.get(schedule_id)
        self._check_may_change(principal, doc)
        changes = schedule_changes(body, doc)
        if "owner" in body:
            changes["owner"], changes["owner_id"] = await self._owner(principal, body["owner"])
        now = self.now()
        changes["updated_at"] = now
        merged = dict(doc, **changes)
        if any(changes[key] != doc.get(key) for key in TIMING if key in changes):
            changes["next_run"] = retimed_run(doc, merged, now)
        after = await self.schedules.update(schedule_id, changes)
        if after is None:
            raise NotFound(f"schedule not found: {schedule_id}")
        if "next_run" in changes:
            self.retimed()
        return doc, after

    async def delete(self, principal: "Principal", schedule_id: int) -> Doc:
        doc = await self.get(schedule_id)
        self._check_may_change(principal, doc)
        if not await self.schedules.delete(schedule_id):
            raise NotFound(f"schedule not found: {schedule_id}")
        await self.round_log.delete_schedule(schedule_id)
        await self.forget(schedule_id)
        return doc

    async def rounds(self, schedule_id: int, limit: int = 50) -> builtins.list[Doc]:
        await self.get(schedule_id)
        return await self.round_log.list(schedule_id, limit=limit)
