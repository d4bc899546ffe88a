"""People: the ``users`` collection, keyed on Feishu's ``union_id``, with roles.

``UserStore`` upserts a user from a Feishu profile at each login (every id and the
profile are refreshed; the role given is the first login's: who is given which is
``toolbox.people.feishu_login``'s rule), creates the local ``local-admin`` user for the
one-time local login, changes roles and the disabled flag, and remembers the sessions a
user ended with logout (their ``sid``), so a logged-out session cookie stops working
everywhere.  No change may leave toolBox without an enabled admin user (``Conflict``).
"""

import datetime
import secrets
from typing import TYPE_CHECKING, Any

from toolbox import clock
from toolbox.people.principals import ROLES
from toolbox.store.db import Doc
from toolbox.store.repos.users import UserRepo
from toolbox.errors import Conflict, NotFound, ValidationError

if TYPE_CHECKING:
    from toolbox.people.feishu import FeishuProfile

LOCAL_ADMIN_ID = "local-admin"
PROFILE_FIELDS = ("open_id", "tenant_key", "name", "en_name", "avatar_url", "email", "enterprise_email")


def new_user_id() -> str:
    return "u_" + secrets.token_hex(8)


def role_arg(value: Any) -> str:
    """A valid role name, or ValidationError."""
    if value not in ROLES:
        raise ValidationError(f"role: one of {', '.join(ROLES)}")
    return value


class UserStore:
    """Read and change users; every read goes to the database (the collection is small)."""

    def __init__(self, repo: UserRepo) -> None:
        self.repo = repo

    async def start(self) -> None:
        await self.repo.ensure_indexes()

    async def get(self, user_id: Any) -> Doc | None:
        if not isinstance(user_id, str) or not user_id:
            return None
        return await self.repo.get(user_id)

    async def require(self, user_id: Any) -> Doc:
        doc = await self.get(user_id)
        if doc is None:
            raise NotFound(f"user not found: {str(user_id)[:40]}")
        return doc

    async def list(self, limit: int = 10000) -> list[Doc]:
        return await self.repo.all(limit)

    async def upsert_feishu(self, profile: "FeishuProfile", role: str) -> tuple[Doc, bool]:
        """Create or refresh the user behind a Feishu profile → (doc, created); ``role``: a new user's."""
        now = clock.utcnow()
        fields = {key: getattr(profile, key) for key in PROFILE_FIELDS}
        fields.update(feishu_user_id=profile.user_id, last_login_at=now)
        doc = await self.repo.upsert_by_union_id(
            profile.union_id, fields,
            {"_id": new_user_id(), "role": role, "disabled": False, "created_at": now})
        return doc, doc["created_at"] == now

    async def ensure_local_admin(self) -> Doc:
        """The local admin of a server without Feishu; the role is admin at each login."""
        now = clock.utcnow()
        return await self.repo.upsert(
            LOCAL_ADMIN_ID, {"role": "admin", "last_login_at": now},
            {"name": LOCAL_ADMIN_ID, "local": True, "disabled": False, "created_at": now})

    async def update(self, user_id: str, role: str | None = None, disabled: bool | None = None) -> tuple[Doc, Doc]:
        """Change role and/or disabled → (before, after); refuses to remove the last admin."""
        before = await self.require(user_id)
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = role_arg(role)
        if disabled is not None:
            changes["disabled"] = bool(disabled)
        if not changes:
            return before, before
        after = await self.repo.update(user_id, changes)
        if after is None:
            raise NotFound(f"user not found: {user_id[:40]}")
        if _is_active_admin(before) and not _is_active_admin(after):
            # Checked after the write so that two admins demoting each other at once
            # both see zero and both undo, instead of both passing a check made before.
            if await self.repo.count_active_admins() == 0:
                await self.repo.set_fields(user_id, {"role": before.get("role"),
                                                     "disabled": bool(before.get("disabled"))})
                raise Conflict("this is the last enabled admin: make someone else admin first")
        return before, after

    async def end_session(self, user_id: str, sid: str, expires_at: datetime.datetime) -> None:
        """Remember that session ``sid`` was logged out (until it would have expired)."""
        await self.repo.end_session(user_id, sid, expires_at, clock.utcnow())


def session_ended(doc: Doc, sid: str) -> bool:
    """True when the user logged session ``sid`` out."""
    return any(entry.get("sid") == sid for entry in doc.get("ended_sessions") or ())


def _is_active_admin(doc: Doc) -> bool:
    return doc.get("role") == "admin" and not doc.get("disabled")


def expiry_from_timestamp(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
