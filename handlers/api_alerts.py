"""Alerts: a schedule's rules (operators, their own schedules), alerts, channels (admins)."""

from .base import APIHandler, id_arg, require_role
from toolbox import validation
from toolbox.alerts.channels import channel_model
from toolbox.alerts.models import alert_model, rule_model
from toolbox.alerts.notifier import notification_model
from toolbox.validation import check_fields

RULE_AUDITED = ("name", "when", "min_agents", "min_pct", "rounds", "of_rounds", "clear_after", "channels",
                "remind_every", "enabled")


def _rule_view(doc: dict) -> dict:
    return {key: doc.get(key) for key in RULE_AUDITED}


class RulesHandler(APIHandler):
    @require_role("viewer")
    async def get(self, schedule_id: str) -> None:
        """The schedule's alert rules."""
        docs = await self.toolbox.alerts.rules_of(id_arg(schedule_id, "schedule"))
        self.write_json({"items": [rule_model(doc) for doc in docs]})

    @require_role("operator")
    async def post(self, schedule_id: str) -> None:
        """A new rule: ``when``, ``min_agents`` | ``min_pct``, ``rounds`` of ``of_rounds``, ``clear_after``."""
        doc = await self.toolbox.alerts.create_rule(self.current_user, id_arg(schedule_id, "schedule"),
                                                    self.json_body())
        await self.audit("alert_rule.create", str(doc["_id"]), schedule_id=doc["schedule_id"], **_rule_view(doc))
        self.write_json(rule_model(doc), status=201)


class RulePreviewHandler(APIHandler):
    @require_role("viewer")
    async def post(self, schedule_id: str) -> None:
        """What a rule would have done over the last ``hours`` (default 24) of stored points."""
        hours = validation.int_in(self.get_query_argument("hours", "24"), "hours", 1, 24 * 31)
        self.write_json(await self.toolbox.alerts.preview(id_arg(schedule_id, "schedule"), self.json_body(), hours))


class RuleHandler(APIHandler):
    @require_role("viewer")
    async def get(self, schedule_id: str, rule_id: str) -> None:
        self.write_json(rule_model(await self.toolbox.alerts.rule(id_arg(schedule_id, "schedule"),
                                                                  id_arg(rule_id, "alert rule"))))

    @require_role("operator")
    async def patch(self, schedule_id: str, rule_id: str) -> None:
        doc = await self.toolbox.alerts.update_rule(self.current_user, id_arg(schedule_id, "schedule"),
                                                    id_arg(rule_id, "alert rule"), self.json_body())
        await self.audit("alert_rule.update", str(doc["_id"]), schedule_id=doc["schedule_id"], **_rule_view(doc))
        self.write_json(rule_model(doc))

    @require_role("operator")
    async def delete(self, schedule_id: str, rule_id: str) -> None:
        doc = await self.toolbox.alerts.delete_rule(self.current_user, id_arg(schedule_id, "schedule"),
                                                    id_arg(rule_id, "alert rule"))
        await self.audit("alert_rule.delete", str(doc["_id"]), schedule_id=doc["schedule_id"])
        self.write_json({"status": True, "rule_id": doc["_id"]})


class AlertsHandler(APIHandler):
    @require_role("viewer")
    async def get(self) -> None:
        """Alerts, newest first: ``?state=firing|resolved``, ``rule``, ``schedule``, ``limit``, ``before``."""
        args = self.query_args("state", "rule", "schedule", "limit", "before")
        limit, before = self.page_limit(args), self.page_before(args)
        rule = validation.int_in(args["rule"], "rule", 1, 2**62) if "rule" in args else None
        schedule = validation.int_in(args["schedule"], "schedule", 1, 2**62) if "schedule" in args else None
        docs = await self.toolbox.alerts.list(state=args.get("state"), rule_id=rule, schedule_id=schedule,
                                              limit=limit, before=before)
        self.write_page([alert_model(doc) for doc in docs], limit, "alert_id")


class AlertHandler(APIHandler):
    @require_role("viewer")
    async def get(self, alert_id: str) -> None:
        """One alert, with its delivery log (``notifications``)."""
        doc = await self.toolbox.alerts.get(id_arg(alert_id, "alert"))
        log = await self.toolbox.notifier.log(alert_id=doc["_id"])
        self.write_json(dict(alert_model(doc), notifications=[notification_model(n) for n in log]))


class AlertAckHandler(APIHandler):
    @require_role("operator")
    async def post(self, alert_id: str) -> None:
        """Acknowledge a firing alert: its reminders stop (its clear is still sent)."""
        doc = await self.toolbox.alerts.acknowledge(self.current_user, id_arg(alert_id, "alert"))
        await self.audit("alert.acknowledge", str(doc["_id"]))
        self.write_json(alert_model(doc))


class AlertSilenceHandler(APIHandler):
    @require_role("operator")
    async def post(self, alert_id: str) -> None:
        """``{"until": ISO time | null}``: no reminder nor clear message until then."""
        body = self.json_body()
        check_fields(body, ("until",), ("until",))
        doc = await self.toolbox.alerts.silence(id_arg(alert_id, "alert"), body["until"])
        await self.audit("alert.silence", str(doc["_id"]), until=body["until"])
        self.write_json(alert_model(doc))


class ChannelsHandler(APIHandler):
    @require_role("viewer")
    async def get(self) -> None:
        """Every channel (the URL for admins only; never the secret)."""
        full = self.current_user.can("admin")
        self.write_json({"items": [channel_model(doc, full) for doc in await self.toolbox.channels.list()]})

    @require_role("admin")
    async def post(self) -> None:
        """A channel: ``{"type": "feishu" | "webhook", "name", "url", "secret"?}``."""
        doc = await self.toolbox.channels.create(self.json_body(), self.current_user.name)
        await self.audit("channel.create", str(doc["_id"]), type=doc["type"], name=doc["name"],
                         has_secret=bool(doc.get("secret")))
        self.write_json(channel_model(doc), status=201)


class ChannelHandler(APIHandler):
    @require_role("admin")
    async def get(self, channel_id: str) -> None:
        self.write_json(channel_model(await self.toolbox.channels.get(id_arg(channel_id, "channel"))))

    @require_role("admin")
    async def delete(self, channel_id: str) -> None:
        doc = await self.toolbox.channels.delete(id_arg(channel_id, "channel"))
        await self.audit("channel.delete", str(doc["_id"]), type=doc["type"], name=doc["name"])
        self.write_json({"status": True, "channel_id": doc["_id"]})


class ChannelTestHandler(APIHandler):
    @require_role("admin")
    async def post(self, channel_id: str) -> None:
        """Send a test message now (one try); the delivery log line says what came of it."""
        channel = await self.toolbox.channels.get(id_arg(channel_id, "channel"))
        doc = await self.toolbox.notifier.test(channel, self.current_user.name)
        await self.audit("channel.test", str(channel["_id"]), state=doc.get("state"))
        self.write_json(notification_model(doc))


class ChannelDeliveriesHandler(APIHandler):
    @require_role("admin")
    async def get(self, channel_id: str) -> None:
        """The channel's latest notifications (its delivery log), newest first."""
        channel = await self.toolbox.channels.get(id_arg(channel_id, "channel"))
        limit = validation.int_in(self.get_query_argument("limit", "100"), "limit", 1, 500)
        docs = await self.toolbox.notifier.log(channel_id=channel["_id"], limit=limit)
        self.write_json({"items": [notification_model(doc) for doc in docs]})


default_handlers = [
    (r"/api/schedules/(?P<schedule_id>[^/]+)/alerts", RulesHandler),
    (r"/api/schedules/(?P<schedule_id>[^/]+)/alerts/preview", RulePreviewHandler),
    (r"/api/schedules/(?P<schedule_id>[^/]+)/alerts/(?P<rule_id>[^/]+)", RuleHandler),
    (r"/api/alerts", AlertsHandler),
    (r"/api/alerts/(?P<alert_id>[^/]+)/ack", AlertAckHandler),
    (r"/api/alerts/(?P<alert_id>[^/]+)/silence", AlertSilenceHandler),
    (r"/api/alerts/(?P<alert_id>[^/]+)", AlertHandler),
    (r"/api/channels", ChannelsHandler),
    (r"/api/channels/(?P<channel_id>[^/]+)/test", ChannelTestHandler),
    (r"/api/channels/(?P<channel_id>[^/]+)/deliveries", ChannelDeliveriesHandler),
    (r"/api/channels/(?P<channel_id>[^/]+)", ChannelHandler),
]
