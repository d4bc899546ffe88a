"""People API: who am I, the users (admin), and the audit log (admin).

- ``GET /api/me`` → the caller: ``{id, name, email, avatar_url, role, via}``.
- ``GET /api/users`` → ``{items: [user...]}``; ``PATCH /api/users/{id}`` ``{role?, disabled?}``
  (audited as ``user.role`` / ``user.disable`` / ``user.enable``; 409 when it would leave
  no enabled admin).
- ``GET /api/audit?actor=&action=&target=&match=part&limit=&before=`` → ``{items, next_before}``.
"""

from .base import APIHandler, require_role
from toolbox import validation
from toolbox.presenters import audit_model
from toolbox.people.principals import ROLES
from toolbox.store.filters import match_mode
from toolbox.people.users import role_arg
from toolbox.presenters import user_model

USER_ID = r"(?P<user_id>[A-Za-z0-9_.:-]{1,64})"


class MeHandler(APIHandler):
    @require_role("viewer")
    def get(self) -> None:
        """The caller, as toolBox sees them, with every role least first (the console ranks them)."""
        user = self.current_user
        doc = self.user_doc
        model = user_model(doc) if doc is not None else {}
        self.write_json({"id": user.user_id, "name": user.name, "email": model.get("email"),
                         "avatar_url": model.get("avatar_url"), "role": user.role, "via": user.via,
                         "roles": list(ROLES)})


class UsersHandler(APIHandler):
    @require_role("admin")
    async def get(self) -> None:
        """Every user, oldest first."""
        self.write_json({"items": [user_model(doc) for doc in await self.toolbox.users.list()]})


class UserHandler(APIHandler):
    @require_role("admin")
    async def patch(self, user_id: str) -> None:
        """Change a user's role or disable/enable them; applies to their sessions at once."""
        body = self.json_body()
        validation.check_fields(body, ("role", "disabled"))
        role = role_arg(body["role"]) if "role" in body else None
        disabled = validation.boolean(body["disabled"], "disabled") if "disabled" in body else None
        before, after = await self.toolbox.users.update(user_id, role=role, disabled=disabled)
        if before.get("role") != after.get("role"):
            await self.audit("user.role", user_id, name=after.get("name"),
                             previous=before.get("role"), role=after.get("role"))
        if bool(before.get("disabled")) != bool(after.get("disabled")):
            await self.audit("user.disable" if after.get("disabled") else "user.enable", user_id,
                             name=after.get("name"))
        self.write_json(user_model(after))


class AuditHandler(APIHandler):
    @require_role("admin")
    async def get(self) -> None:
        """Audit entries, newest first; ``next_before`` pages on."""
        args = self.query_args("actor", "action", "target", "match", "limit", "before")
        limit = self.page_limit(args)
        filters = {key: args.get(key) for key in ("actor", "action", "target")}
        entries = await self.toolbox.audit.list(limit=limit, before=args.get("before"),
                                                part=match_mode(args.get("match")), **filters)
        self.write_page([audit_model(entry) for entry in entries], limit, "id")


default_handlers = [
    (r"/api/me", MeHandler),
    (r"/api/users", UsersHandler),
    (rf"/api/users/{USER_ID}", UserHandler),
    (r"/api/audit", AuditHandler),
]
