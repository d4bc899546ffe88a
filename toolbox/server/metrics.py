"""``GET /metrics``: this process's figures in Prometheus's text format (``prometheus_client``).

Each server process has its own registry (scrape every process; with several behind one
address, scrape each at its own port).  What it shows:

- ``toolbox_parked_fetches``, ``toolbox_agents_online`` (as this process sees them),
  ``toolbox_websocket_clients``: gauges read when scraped;
- ``toolbox_tasks{state}``: unfinished tasks in the database by state, counted when
  scraped (the same on every process);
- ``toolbox_tasks_finished_total{outcome}``: tasks that finished here, by outcome, each
  counted once, when it ends (``ENDING_EVENTS``): a result that comes after its task ended
  (a stopped task's, ``task.released``; a lost one's, ``task.done`` marked ``late``) is
  not counted again;
- ``toolbox_dispatch_latency_seconds``: from a task's creation to its delivery to an
  agent (a task waits longer while its agent has one in flight);
- ``toolbox_event_latency_seconds``: from a ``task.done`` event's publication (on any
  process) to its arrival in this process's live feed;
- ``toolbox_websocket_dropped_total``: consoles dropped for reading too slowly;
- ``toolbox_schedule_rounds_total{state}``: schedule rounds this process ran (``fired``,
  ``skipped``), ``toolbox_schedule_rounds_missed_total`` the rounds passed over in a gap,
  ``toolbox_schedule_rounds_late_total`` those fired more than ``LATE_SECONDS`` after their
  due time, ``toolbox_schedule_round_lateness_seconds`` from a round's due time to its
  firing, ``toolbox_schedule_agents_busy_total`` agents left out of a round because their
  task of the previous one had not finished;
- ``toolbox_alerts_firing``: alerts firing now, counted when scraped (the same on every
  process); ``toolbox_alerts_total{transition}``: alerts fired and resolved by this
  process; ``toolbox_alert_notifications_total{state}``: notifications this process
  ended ``sent`` or ``failed``;
- ``toolbox_process_info{process, database}``: 1, naming the process;
- ``toolbox_database_rtt_seconds``: the health check's ping round trips (every second),
  ``toolbox_database_up``: 1 while the last one answered, ``toolbox_database_errors_total{kind}``:
  database faults by kind (``toolbox.store.faults``), ``toolbox_requests_shed_total``: API
  requests refused 503 because too many were pending.

The task counts and the alerts firing are read with a bound (``COUNT_WAIT``): a slow database leaves the last
values rather than holding the scrape.

Counts come from event listeners (the services are not told about metrics).
"""

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from toolbox.store.db import PyMongoError
from toolbox.store.faults import KINDS, Outages
from toolbox.store.health import DatabaseHealth
from toolbox.task_states import DISPATCHED, QUEUED

if TYPE_CHECKING:
    from toolbox.core.dispatch.agents import AgentRegistry
    from toolbox.core.events.bus import Hub
    from toolbox.core.events.console_feed import ConsoleFeed
    from toolbox.core.dispatch.dispatcher import ParkedFetches
    from toolbox.core.events.hub import Event
    from toolbox.core.tasks.service import TaskService

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATE_SECONDS = 1.0  # a round fired later than this after its due time counts as late
COUNT_WAIT = 0.3  # seconds a scrape waits for the task counts
# The events that end a task (``task.released`` frees the agent of a task already ended).
ENDING_EVENTS = frozenset({"task.done", "task.lost", "task.canceled", "task.delivery_timeout"})
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def _parse(iso: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))


class _CounterOf:
    """A counter whose value another object keeps (read when scraped)."""

    def __init__(self, name: str, documentation: str, value: Callable[[], float]) -> None:
        self.name, self.documentation, self.value = name, documentation, value

    def describe(self) -> list[CounterMetricFamily]:
        return [CounterMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.value())


class _FaultsOf:
    """``toolbox_database_errors_total{kind}``, read from ``Outages`` (every kind, 0 included)."""

    name = "toolbox_database_errors"
    documentation = "Database faults by kind (unreachable, timeout, not_primary, connection)"

    def __init__(self, outages: Outages) -> None:
        self.outages = outages

    def describe(self) -> list[CounterMetricFamily]:
        return [CounterMetricFamily(self.name, self.documentation, labels=["kind"])]

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=["kind"])
        for kind in KINDS:
            if kind != "shed":
                family.add_metric([kind], self.outages.by_kind[kind])
        yield family


class Metrics:
    """The registry of one server process, kept up to date from its events."""

    def __init__(self, events: "Hub", tasks: "TaskService", parked: "ParkedFetches", agents: "AgentRegistry",
                 console_feed: "ConsoleFeed", process: str, database: str, health: DatabaseHealth,
                 outages: Outages, alerts_firing: Callable[[], Awaitable[int]] | None = None) -> None:
        self.alerts_firing = alerts_firing
        self.tasks, self.parked, self.agents, self.console_feed = tasks, parked, agents, console_feed
        self.outages = outages
        self.registry = CollectorRegistry(auto_describe=True)
        Gauge("toolbox_process_info", "This server process", ["process", "database"],
              registry=self.registry).labels(process, database).set(1)
        Gauge("toolbox_parked_fetches", "Agent fetches parked in this process",
              registry=self.registry).set_function(lambda: len(self.parked))
        Gauge("toolbox_agents_online", "Agents online as this process sees them",
              registry=self.registry).set_function(lambda: len(self.agents.online))
        Gauge("toolbox_websocket_clients", "Consoles connected to this process",
              registry=self.registry).set_function(lambda: len(self.console_feed.clients))
        self.registry.register(_CounterOf("toolbox_websocket_dropped", "Consoles dropped for reading too slowly",
                                          lambda: self.console_feed.dropped))
        self._unfinished = Gauge("toolbox_tasks", "Unfinished tasks in the database", ["state"],
                                 registry=self.registry)
        self._finished = Counter("toolbox_tasks_finished", "Tasks that finished in this process",
                                 ["outcome"], registry=self.registry)
        self._dispatch = Histogram("toolbox_dispatch_latency_seconds", "Task created → delivered to its agent",
                                   buckets=LATENCY_BUCKETS, registry=self.registry)
        self._event = Histogram("toolbox_event_latency_seconds", "Event published → in this process's feed",
                                buckets=LATENCY_BUCKETS, registry=self.registry)
        self._rounds = Counter("toolbox_schedule_rounds", "Schedule rounds run in this process", ["state"],
                               registry=self.registry)
        self._missed = Counter("toolbox_schedule_rounds_missed", "Schedule rounds passed over (no server ran)",
                               registry=self.registry)
        self._lateness = Histogram("toolbox_schedule_round_lateness_seconds", "Round due → fired",
                                   buckets=LATENCY_BUCKETS, registry=self.registry)
        self._late = Counter("toolbox_schedule_rounds_late", f"Rounds fired over {LATE_SECONDS:g} s after due",
                             registry=self.registry)
        self._busy = Counter("toolbox_schedule_agents_busy", "Agents left out of a round, busy with the previous one",
                             registry=self.registry)
        rtt = Histogram("toolbox_database_rtt_seconds", "Database round trip (the health check's ping)",
                        buckets=LATENCY_BUCKETS, registry=self.registry)
        health.observers.append(rtt.observe)
        Gauge("toolbox_database_up", "1 while the database answers the health check",
              registry=self.registry).set_function(lambda: 0 if health.error or health.last_ok is None else 1)
        self.registry.register(_FaultsOf(outages))
        self.registry.register(_CounterOf("toolbox_requests_shed", "API requests refused: too many pending",
                                          lambda: outages.by_kind["shed"]))
        self._firing = Gauge("toolbox_alerts_firing", "Alerts firing now", registry=self.registry)
        self._alerts = Counter("toolbox_alerts", "Alerts fired and resolved by this process", ["transition"],
                               registry=self.registry)
        self._notifications = Counter("toolbox_alert_notifications", "Alert notifications ended here",
                                      ["state"], registry=self.registry)
        events.subscribe(self._on_event)
        events.subscribe_feed(self._on_feed)

    def _on_event(self, event: "Event") -> None:
        if event.get("remote"):
            return  # each process counts its own
        data = event["data"]
        if event["type"] == "schedule.round":
            self._rounds.labels(data["state"]).inc()
            self._missed.inc(data.get("missed") or 0)
            self._busy.inc(len(data.get("busy") or ()))
            if data["state"] == "fired":
                late = max((data.get("late_ms") or 0) / 1000, 0.0)
                self._lateness.observe(late)
                if late > LATE_SECONDS:
                    self._late.inc()
            return
        if event["type"] in ("alert.fired", "alert.resolved"):
            self._alerts.labels(event["type"].split(".")[1]).inc()
            return
        if event["type"] == "alert.notification":
            self._notifications.labels(data["state"]).inc()
            return
        if not event["type"].startswith("task."):
            return
        if event["type"] == "task.dispatched" and data.get("created_at") and data.get("dispatched_at"):
            waited = (_parse(data["dispatched_at"]) - _parse(data["created_at"])).total_seconds()
            self._dispatch.observe(max(waited, 0.0))
        elif event["type"] in ENDING_EVENTS and data.get("outcome") and not data.get("late"):
            self._finished.labels(data["outcome"]).inc()

    def _on_feed(self, event: "Event") -> None:
        if event["type"] == "task.done":  # the event consoles wait for (one per task, not five)
            self._event.observe(max(time.time() - event["at"], 0.0))

    async def render(self) -> bytes:
        """The text exposition, with the task counts read now (or left as they were when the
        database does not answer within ``COUNT_WAIT``)."""
        reads: list[Awaitable[int]] = [self.tasks.count_live(state) for state in (QUEUED, DISPATCHED)]
        if self.alerts_firing is not None:
            reads.append(self.alerts_firing())
        try:
            counts = await asyncio.wait_for(asyncio.gather(*reads), COUNT_WAIT)
        except (asyncio.TimeoutError, PyMongoError) as error:  # a slow or absent database: the scrape answers
            self.outages.refused(error, "metrics")
        else:
            for state, count in zip((QUEUED, DISPATCHED), counts):
                self._unfinished.labels(state).set(count)
            if self.alerts_firing is not None:
                self._firing.set(counts[2])
        return generate_latest(self.registry)
