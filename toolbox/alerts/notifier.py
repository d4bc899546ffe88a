"""Notifications: each message to a channel stored once, delivered with bounded retries.

``queue`` stores one notification per channel with a key that says what it is
(``<alert>:<kind><n>:<channel>``), so whoever writes it again (a second process, or this
one after a restart, finishing an outbox) changes nothing: a message is queued once.
Delivery claims it (``pending`` → ``sending``, with the time), tries once and writes what
came of it: ``sent``, back to ``pending`` with ``next_try_at`` after a backoff (1, 2, 4 …
``retry_base`` seconds, at most ``MAX_BACKOFF``) when another try can help, or ``failed``
with the reason when it cannot or after ``tries`` tries.  The sweeper of any process hands
due retries on (``sweep``), and takes over a claim older than ``LEASE`` (its process died
mid-try).  Only a process dying between the receiver's answer and the write of ``sent``
can send a message twice; nothing is lost.  The notification documents are the delivery
log (``GET /api/alerts/{id}``, ``GET /api/channels/{id}/deliveries``).
"""

import asyncio
import datetime
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolbox.alerts.delivery import Attempt, send
from toolbox.alerts.messages import summary
from toolbox.clock import isoformat
from toolbox.store.db import Doc
from toolbox.tools.targets import Resolver

if TYPE_CHECKING:
    from toolbox.core.events.bus import Hub
    from toolbox.store.repos.alerts import ChannelRepo, NotificationRepo

log = logging.getLogger("toolbox.alerts")

LEASE = datetime.timedelta(seconds=60)  # longer than one try's timeout
MAX_BACKOFF = 300.0


def notification_model(doc: Doc) -> dict[str, Any]:
    """A notification's public JSON: its delivery log line (the message's title, never a secret)."""
    return {"notification_id": doc["_id"], "alert_id": doc.get("alert_id"), "rule_id": doc.get("rule_id"),
            "channel_id": doc.get("channel_id"), "channel_type": doc.get("channel_type"), "kind": doc.get("kind"),
            "state": doc.get("state"), "tries": doc.get("tries", 0), "last_error": doc.get("last_error"),
            "status": doc.get("status"), "title": (doc.get("message") or {}).get("title"),
            "created_at": isoformat(doc.get("created_at")), "sent_at": isoformat(doc.get("sent_at")),
            "next_try_at": isoformat(doc.get("next_try_at")) if doc.get("state") == "pending" else None}


class Notifier:
    """Queues and delivers notifications (``queue``, ``test``, ``sweep``)."""

    def __init__(self, repo: "NotificationRepo", channels: "ChannelRepo", events: "Hub",
                 now: Callable[[], datetime.datetime], public_url: str, deny_private: bool,
                 resolver: Resolver | None = None, tries: int = 5, retry_base: float = 1.0) -> None:
        self.repo = repo
        self.channels = channels
        self.events = events
        self.now = now
        self.public_url = public_url
        self.deny_private = deny_private
        self.resolver = resolver
        self.tries = tries
        self.retry_base = retry_base
        self._running: dict[str, asyncio.Future[Doc | None]] = {}

    async def start(self) -> None:
        await self.repo.ensure_indexes()

    async def stop(self) -> None:
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def queue(self, alert: Doc, kind: str, channel_ids: list[int], seq: int = 1) -> int:
        """Store (once) and start delivering ``kind``'s message of ``alert`` to each channel."""
        message, queued = summary(kind, alert, self.public_url), 0
        for cid in channel_ids:
            key = f"{alert['_id']}:{kind}{seq}:{cid}"
            doc = {"_id": key, "alert_id": alert["_id"], "rule_id": alert.get("rule_id"), "channel_id": cid,
                   "kind": kind, "state": "pending", "tries": 0, "last_error": None, "status": None,
                   "created_at": self.now(), "next_try_at": self.now(), "sent_at": None, "message": message}
            if await self.repo.add(doc):
                queued += 1
                self.kick(key)
        return queued

    def kick(self, key: str) -> None:
        """Deliver ``key`` in the background (unless this process is at it already)."""
        if key in self._running:
            return
        future = asyncio.ensure_future(self.deliver(key))
        self._running[key] = future
        future.add_done_callback(lambda _f: self._running.pop(key, None))

    async def sweep(self) -> None:
        """Hand on the retries due now, and the claims of processes gone silent."""
        now = self.now()
        for key in await self.repo.due(now, now - LEASE):
            self.kick(key)

    async def deliver(self, key: str, retry: bool = True) -> Doc | None:
        """One try of ``key`` (if this process wins its claim); the notification afterwards."""
        now = self.now()
        doc = await self.repo.claim(key, now, now - LEASE)
        if doc is None:
            return None
        channel = await self.channels.get(doc["channel_id"])
        if channel is None:
            attempt = Attempt(False, error="the channel was deleted")
        else:
            try:
                attempt = await send(channel, doc["message"], self.deny_private, self.resolver)
            except Exception as error:  # never leave a claim behind on a bug: say it in the log
                log.exception("notification %s: sending failed", key)
                attempt = Attempt(False, retry=True, error=f"internal error: {type(error).__name__}")
        tries = int(doc.get("tries") or 0) + 1
        fields: Doc = {"tries": tries, "last_error": attempt.error, "status": attempt.status,
                       "channel_type": (channel or {}).get("type")}
        if attempt.delivered:
            fields.update(state="sent", sent_at=self.now())
        elif attempt.retry and retry and tries < self.tries:
            wait = min(MAX_BACKOFF, self.retry_base * 2 ** (tries - 1))
            fields.update(state="pending", next_try_at=self.now() + datetime.timedelta(seconds=wait))
        else:
            fields["state"] = "failed"
        await self.repo.save(key, fields)
        if fields["state"] != "pending":
            self.events.publish("alert.notification", {"notification_id": key, "state": fields["state"],
                                                       "channel_id": doc["channel_id"], "kind": doc["kind"],
                                                       "alert_id": doc.get("alert_id"), "tries": tries})
            log.info("notification %s: %s after %d tries%s", key, fields["state"], tries,
                     f" ({attempt.error})" if attempt.error else "")
        return dict(doc, **fields)

    async def log(self, alert_id: int | None = None, channel_id: int | None = None, limit: int = 100) -> list[Doc]:
        """The delivery log: an alert's or a channel's notifications, newest first."""
        return await self.repo.list(alert_id=alert_id, channel_id=channel_id, limit=limit)

    async def test(self, channel: Doc, by: str) -> Doc:
        """Send a test message to ``channel`` now, once; the notification (delivery log line)."""
        alert: Doc = {"_id": None, "rule_name": f"toolBox test message from {by}", "schedule_id": None,
                 "state": "test", "agents": []}
        key = f"test:{channel['_id']}:{uuid.uuid4().hex[:12]}"
        await self.repo.add({"_id": key, "alert_id": None, "rule_id": None, "channel_id": channel["_id"],
                             "kind": "test", "state": "pending", "tries": 0, "last_error": None, "status": None,
                             "created_at": self.now(), "next_try_at": self.now(), "sent_at": None,
                             "message": summary("test", alert, self.public_url)})
        done = await self.deliver(key, retry=False)
        return done or (await self.repo.get(key)) or {}
