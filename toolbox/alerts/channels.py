"""Channels: where alerts are sent (a Feishu/Lark custom bot, or a generic JSON webhook).

Admins make and delete them; rules name them.  ``channel_request`` checks a new one: the
type, a name, an ``http``/``https`` URL (any host: Lark, an on-premises Feishu, a proxy, a
local receiver), and an optional secret (the bot's signing secret, or the webhook's HMAC
key).  The URL's host is checked like a tool's target (``TOOLBOX_DENY_PRIVATE_TARGETS``),
here and again at each delivery.  The secret is write-only: ``channel_model`` never
shows it, and the audit entry names only the type, the name and the URL's host.
"""

import builtins
import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolbox.clock import isoformat
from toolbox.errors import NotFound, ValidationError
from toolbox.store.db import Doc
from toolbox.tools.targets import Resolver, ToolError, check_target_allowed, url_host, validate_url
from toolbox.validation import check_fields

if TYPE_CHECKING:
    from toolbox.store.repos.alerts import ChannelRepo

TYPES = ("feishu", "webhook")
MAX_CHANNELS = 200
MAX_URL = 2048
MAX_SECRET = 512


def channel_model(doc: Doc, full: bool = True) -> dict[str, Any]:
    """A channel's public JSON (``full``: the URL too, for admins); never its secret."""
    model = {"channel_id": doc["_id"], "type": doc["type"], "name": doc["name"],
             "has_secret": bool(doc.get("secret")), "created_at": isoformat(doc.get("created_at")),
             "created_by": doc.get("created_by")}
    if full:
        model["url"] = doc["url"]
    return model


async def channel_request(body: Any, deny_private: bool, resolver: Resolver | None = None) -> Doc:
    """The checked fields of ``POST /api/channels``."""
    check_fields(body, ("type", "name", "url", "secret"), ("type", "name", "url"))
    if body["type"] not in TYPES:
        raise ValidationError("type: feishu or webhook")
    name = body["name"]
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        raise ValidationError("name: 1-100 characters")
    url = body["url"]
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise ValidationError(f"url: an http or https URL of at most {MAX_URL} characters")
    try:
        url = validate_url(url, "url")
        await check_target_allowed(url_host(url), deny_private, resolver)
    except ToolError as error:
        raise ValidationError(error.message.replace("target:", "url:", 1)) from None
    secret = body.get("secret")
    if secret is not None and (not isinstance(secret, str) or not 1 <= len(secret) <= MAX_SECRET
                               or any(ord(c) < 32 for c in secret)):
        raise ValidationError(f"secret: 1-{MAX_SECRET} printable characters")
    return {"type": body["type"], "name": name.strip(), "url": url, "secret": secret or None}


class ChannelService:
    """Channels: ``create``, ``list``, ``get``, ``delete``."""

    def __init__(self, repo: "ChannelRepo", deny_private: bool, resolver: Resolver | None,
                 now: Callable[[], datetime.datetime]) -> None:
        self.repo = repo
        self.deny_private = deny_private
        self.resolver = resolver
        self.now = now

    async def create(self, body: Any, created_by: str) -> Doc:
        fields = await channel_request(body, self.deny_private, self.resolver)
        if len(await self.repo.list(MAX_CHANNELS)) >= MAX_CHANNELS:
            raise ValidationError(f"there are {MAX_CHANNELS} channels already")
        return await self.repo.insert(dict(fields, created_at=self.now(), created_by=created_by))

    async def get(self, channel_id: int) -> Doc:
        doc = await self.repo.get(channel_id)
        if doc is None:
            raise NotFound(f"channel not found: {channel_id}")
        return doc

    async def list(self) -> builtins.list[Doc]:
        return await self.repo.list(MAX_CHANNELS)

    async def delete(self, channel_id: int) -> Doc:
        doc = await self.get(channel_id)
        await self.repo.delete(channel_id)
        return doc

    async def check_ids(self, ids: builtins.list[int]) -> None:
        """Refuse a rule naming a channel that does not exist."""
        known = {doc["_id"] for doc in await self.repo.list(MAX_CHANNELS)}
        missing = [cid for cid in ids if cid not in known]
        if missing:
            raise ValidationError(f"channels: no such channel: {missing[0]}")
