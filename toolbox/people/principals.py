"""Who a request acts for: a ``Principal`` (a name and a role), and the roles' ranks.

The roles, least first, are defined here once: the handlers' ``require_role``, the
configuration (``TOOLBOX_DEFAULT_ROLE``), user changes and the console (``/auth/info``
serves the ranks) all read them from here.
"""

from toolbox.store.db import Doc

ROLES = ("viewer", "operator", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


def display_name(doc: Doc) -> str:
    """What to call a user in the audit log and the console."""
    return doc.get("name") or doc.get("en_name") or doc.get("email") or doc["_id"]


class Principal:
    """Who a request acts for: a name and a role (``admin``, ``operator``, ``viewer``)."""

    __slots__ = ("name", "role", "user_id", "via")

    def __init__(self, name: str, role: str, user_id: str | None = None, via: str = "token") -> None:
        self.name, self.role, self.user_id, self.via = name, role, user_id, via

    @classmethod
    def for_user(cls, doc: Doc, via: str = "session") -> "Principal":
        """The principal of a stored user (``via``: ``session`` or ``token``)."""
        return cls(display_name(doc), doc.get("role", "viewer"), user_id=doc["_id"], via=via)

    def can(self, role: str) -> bool:
        """Whether this principal has at least ``role``."""
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]

    def __repr__(self) -> str:
        return f"Principal({self.name!r}, {self.role!r})"
