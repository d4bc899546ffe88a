"""``Services``: everything one server instance holds, wired together, with its sweeper.

Handlers reach it as ``self.toolbox`` (``toolbox.handlers.base.services_of``); tests build one per app.
"""

import asyncio
import datetime
import time
import logging
import socket
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from toolbox.core.dispatch.agents import AgentRegistry
from toolbox.people.api_tokens import TokenStore
from toolbox.people.audit import AuditLog
from toolbox.core.dispatch.dispatcher import Dispatcher, ParkedFetches
from toolbox.server.drain import LIMIT_SECONDS, SETTLE_SECONDS, Requests, stop_accepting
from toolbox.core.events.console_feed import ConsoleFeed
from toolbox.server.metrics import Metrics
from toolbox.people.throttle import FailureThrottle
from toolbox.people.feishu import FeishuClient
from toolbox.people.feishu_login import FeishuLogin
from toolbox.core.jobs.service import JobService
from toolbox.people.sessions import LocalLogin
from toolbox.core.dispatch.fleet import Fleet
from toolbox.core.jobs.raw import RawTasks
from toolbox.core.tasks.live_output import LiveOutput
from toolbox.core.tasks.service import TaskService
from toolbox.core.idempotency import Idempotency
from toolbox.store.repos.idempotency import IdempotencyRepo
from toolbox.task_states import AGENT_OFFLINE
from toolbox.people.token_login import TokenLogin
from toolbox.people.users import UserStore
from toolbox.server.config import Config
from toolbox.server.variants import parts_for
from toolbox.store.db import Database
from toolbox.store.faults import OUTAGES, log_failure
from toolbox.store.health import DatabaseHealth
from toolbox.tools.targets import Resolver
from toolbox import clock
from toolbox.watch.rounds import RoundScheduler
from toolbox.watch.schedules import ScheduleService
from toolbox.watch.series import SeriesRecorder
from toolbox.watch.series_read import SeriesReader
from toolbox.alerts.channels import ChannelService
from toolbox.alerts.notifier import Notifier
from toolbox.alerts.service import AlertService
from toolbox.store.repos.alerts import AlertRepo, ChannelRepo, NotificationRepo, RuleRepo

if TYPE_CHECKING:
    from tornado.httpserver import HTTPServer

log = logging.getLogger("toolbox")


class Services:
    """Store, agents, tasks and jobs, dispatcher, event hub, live feed, audit log, users and tokens."""

    def __init__(self, config: Config, db: Database, limits_clock: Callable[[], float] = time.monotonic,
                 resolver: Resolver | None = None,
                 watch_clock: Callable[[], datetime.datetime] | None = None) -> None:
        self.config = config
        self.db = db
        self.requests = Requests()  # in flight, and whether the process is stopping (toolbox.server.drain)
        # the database's health, kept by a background ping (what /healthz reads), and its faults
        self.db_health = DatabaseHealth(db, interval=1.0, timeout=min(config.db_timeout, 2.0), slow=config.db_slow)
        self.outages = OUTAGES
        # embedded or shared database: chosen here, once; ``limits_clock``: the in-memory job
        # rate limits' clock (seconds, monotonic; tests move a fake one); ``resolver``: the
        # private-target check's name lookup (None: getaddrinfo; tests answer from a table)
        self.parts = parts = parts_for(config, db, limits_clock)
        self.database = parts.kind  # "embedded" or "mongodb", as the health check and metrics say
        self.events = parts.events
        parked = ParkedFetches()
        self.agents = AgentRegistry(parts.agents, self.events, parked, config.offline_after, parts.agent_refresh)
        self.tasks = TaskService(parts.tasks, parts.history, parts.counters, self.events, config.task_times(),
                                 id_block=config.id_block, history_limit=parts.history_limit)
        self.dispatcher = Dispatcher(parked, self.tasks, self.agents, self.events)
        self.raw_tasks = RawTasks(self.agents, self.tasks)
        self.live_output = LiveOutput(self.tasks, self.events)  # toolbox-agent's output while it runs
        self.fleet = Fleet(self.agents, self.tasks, self.dispatcher, config.task_timeout, self.live_output)
        self.guard = FailureThrottle(config.auth_failures_per_minute)
        self.audit = AuditLog(parts.audit, config.audit_retention_days, parts.audit_limit)
        self.console_feed = ConsoleFeed(self.events, config.ws_queue_size)
        self.jobs = JobService(parts.jobs, parts.job_writes, parts.counters, self.events, self.agents, self.tasks,
                               config.job_rules(), parts.per_user, parts.targets, parts.owners, resolver=resolver)
        self.users = UserStore(parts.users)
        self.idempotency = Idempotency(IdempotencyRepo(db["idempotency"]))  # creations sent again: answered once
        # schedules (toolbox.watch); ``watch_clock``: their wall clock (tests move a fake one)
        schedules, round_log, now = parts.schedules, parts.rounds, watch_clock or clock.utcnow
        self.series = SeriesRecorder(parts.points, parts.rollups, schedules,
                                     round_log, self.jobs, self.events, now, config.series_points_days,
                                     config.series_rollups_days)
        self.rounds = RoundScheduler(schedules, round_log, self.jobs, self.tasks, self.agents, self.events, now,
                                     parts.owners.instance or "embedded")
        self.schedules = ScheduleService(schedules, round_log, self.users.get, self._forget_schedule, now,
                                         retimed=self.rounds.wake)
        self.series_reader = SeriesReader(self.series.points, self.series.rollups, schedules, now,
                                          config.series_points_days)
        # alerts (toolbox.alerts): rules over the rounds, alerts, channels, notifications
        channel_repo = ChannelRepo(db["alert_channels"], db["counters"])
        self.channels = ChannelService(channel_repo, config.deny_private_targets, resolver, now)
        # (retries wait in real time, whatever the schedules' clock says: receivers recover in it)
        self.notifier = Notifier(NotificationRepo(db["alert_notifications"]), channel_repo, self.events, clock.utcnow,
                                 config.public_url or f"http://{config.host}:{config.port}",
                                 config.deny_private_targets, resolver, config.alert_tries, config.alert_retry_base)
        self.alerts = AlertService(RuleRepo(db["alert_rules"], db["counters"]), AlertRepo(db["alerts"]),
                                   self.notifier, self.channels, schedules, self.jobs, self.tasks, self.events, now,
                                   self.series.points)
        self.tokens = TokenStore(parts.tokens, self.events, authoritative=parts.tokens_authoritative,
                                 refresh=parts.token_refresh)
        self.feishu: FeishuClient | None = None
        if config.feishu_enabled:
            # feishu_enabled means both the app id and the secret are set (the ignore below)
            self.feishu = FeishuClient(config.feishu_app_id, config.feishu_app_secret,  # type: ignore[arg-type]
                                       accounts_url=config.feishu_accounts_url,
                                       open_url=config.feishu_open_url)
        self.feishu_login = FeishuLogin(self.feishu, self.users, self.guard, config.feishu_rules())
        self.local_login = LocalLogin(enabled=not config.feishu_enabled)
        self.metrics = Metrics(self.events, self.tasks, parked, self.agents, self.console_feed,
                               process=parts.owners.instance or "embedded",
                               database=parts.kind, health=self.db_health, outages=self.outages,
                               alerts_firing=self.alerts.firing_count)
        self.token_login = TokenLogin(config.admin_token, enabled=not config.feishu_enabled)
        self._sweeper: asyncio.Future[None] | None = None
        self._rounds: asyncio.Future[None] | None = None  # fires rounds at their due times
        self._last_refresh = 0.0

    async def _forget_schedule(self, schedule_id: int) -> None:
        """A deleted schedule's series and alert rules go with it (its alerts stay, as history)."""
        await self.series.delete_schedule(schedule_id)
        await self.alerts.forget_schedule(schedule_id)

    async def start(self) -> None:
        """Open the event hub, create indexes, load the agents and start the sweeper."""
        await self.db_health.start()
        await self.events.start()
        await self.agents.start()
        await self.tasks.start()
        for agent, since in await self.tasks.dispatched_agents():
            self.agents.watch(agent, since)  # so a task of an agent that never returns ends
        await self.audit.start()
        await self.jobs.start()
        await self.users.start()
        await self.idempotency.start()
        await self.tokens.start()
        await self.schedules.start()
        await self.series.start()
        await self.alerts.start()
        self._sweeper = asyncio.ensure_future(self._sweep_forever())
        self._rounds = asyncio.ensure_future(self.rounds.run_forever(self.config.sweep_interval))

    @property
    def local_login_url_token(self) -> str | None:
        """The one-time local login token (None when Feishu is configured)."""
        return self.local_login.token

    async def stop_gracefully(self, server: "HTTPServer", listening: Iterable[socket.socket],
                              settle: float = SETTLE_SECONDS, limit: float = LIMIT_SECONDS) -> None:
        """Stop ``server`` (a Tornado HTTPServer listening on ``listening``) and these
        services, answering everything first (the steps are in ``toolbox.server.drain``)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        taken = stop_accepting(server, listening)  # what was queued is served, not reset
        if taken:
            log.info("stopping: took in %d connections queued on the listening sockets", taken)
        self.requests.draining = True
        self.dispatcher.close_all()  # every parked fetch: the empty reply, now and from now on
        self.console_feed.close_all()  # consoles reconnect (to the new process)
        while loop.time() - started < limit:
            if self.requests.in_flight <= 0 and loop.time() - started >= settle:
                break
            await asyncio.sleep(0.05)
        else:
            log.warning("%d requests still in flight after %gs; closing", self.requests.in_flight, limit)
        await self.stop()
        await server.close_all_connections()

    async def stop(self) -> None:
        for loop in (self._sweeper, self._rounds):
            if loop is not None:
                loop.cancel()
                try:
                    await loop
                except asyncio.CancelledError:
                    pass
        self._sweeper = self._rounds = None
        self.dispatcher.close_all()
        self.live_output.close()
        self.console_feed.close_all()
        await self.db_health.stop()
        await self.jobs.stop()
        await self.series.stop()
        await self.alerts.stop()
        await self.events.stop()

    async def sweep_once(self) -> None:
        """End stale tasks and overdue jobs, move finished tasks to history, wake cross-process work
        (the rounds of schedules fire in their own loop, ``RoundScheduler.run_forever``)."""
        await self.tasks.expire()
        await self.jobs.sweep()
        await self.tasks.archive()
        await self.events.prune()
        await self.audit.sweep()
        await self.series.sweep()
        await self.alerts.sweep()
        await self.dispatcher.wake_queued()
        loop = asyncio.get_running_loop()
        refresh = self.agents.refresh_interval
        if refresh and loop.time() - self._last_refresh >= refresh:
            self._last_refresh = loop.time()
            await self.agents.refresh()
        for name in await self.agents.check_offline():
            await self.tasks.end_in_flight(name, AGENT_OFFLINE)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store may be away for a moment; try again next tick
                log_failure(log, "sweep failed; retrying in %.1fs", self.config.sweep_interval)
