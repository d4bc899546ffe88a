"""Embedded or shared database: decided once, at start-up, here.

The embedded database (no ``MONGODB_URI``) lives in this process: one process is its
only user, so the event hub, the one-task-in-flight rule, the job rate limits, job
counting and the hot collections can all be kept in memory.  With a shared MongoDB,
several server processes may use one database, and each of those is kept in the
database instead.  ``parts_for`` reads the one decision (``Database.embedded``, made by
``toolbox.store.db.open_database``) and builds every part that differs, defaults
included; the services get them through their constructors and never ask which
database they run on.  Nothing else reads that flag.

| part               | embedded                              | shared MongoDB                              |
|--------------------|---------------------------------------|---------------------------------------------|
| events             | ``EventHub`` (in memory)              | ``MongoBus`` (``events`` + a change stream) |
| tasks, history     | ``MemoryTasks``, ``MemoryHistory``    | ``TaskRepo``, ``HistoryRepo``               |
| agents, jobs       | ``MemoryAgents``, ``MemoryJobs``      | ``AgentRepo``, ``JobRepo``                  |
| a job + its tasks  | ``PlainJobWrites`` (one after other)  | ``TransactionalJobWrites`` (a transaction)  |
| series             | ``MemoryPoints``, ``MemoryRollups``   | ``PointRepo``, ``RollupRepo``               |
| audit              | ``KnownAudit`` (prunes by known ids)  | ``AuditRepo``                               |
| jobs per user      | ``SlidingWindow``                     | ``SharedWindow`` (``rate_limits``)          |
| per target         | ``TargetLimiter``                     | ``SharedTargets`` (counts ``tasks``)        |
| job counting       | ``SoleOwner`` (counts all)            | ``SharedOwners`` (``processes``, adoption)  |
| history kept       | 5,000 tasks                           | all                                         |
| audit kept         | 20,000 entries                        | all (the retention only)                    |
| agent refresh      | never (nobody else writes)            | every 2 s                                   |
| API token cache    | authoritative (every token in memory) | trusted for 2 s (``agent_refresh``)         |

The operator's ``TOOLBOX_HISTORY_LIMIT``, ``TOOLBOX_AUDIT_LIMIT`` and
``TOOLBOX_AGENT_REFRESH`` override the defaults on either.  The collections the hot path
does not touch (users, API tokens, counters, audit, schedules and their rounds' log) stay
in mongomock on the embedded database: the same repository class on either.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from toolbox.core.events.bus import Hub, MongoBus
from toolbox.core.events.hub import EventHub
from toolbox.core.jobs.owners import Owners, SharedOwners, SoleOwner
from toolbox.core.limits.targets import TargetLimiter
from toolbox.people.throttle import SlidingWindow
from toolbox.core.limits.shared import JobWindow, SharedTargets, SharedWindow, Targets
from toolbox.server.config import Config
from toolbox.store.db import Database
from toolbox.store.repos.agents import AgentRepo, Agents, MemoryAgents
from toolbox.store.repos.api_tokens import TokenRepo
from toolbox.store.repos.audit import Audit, AuditRepo, KnownAudit
from toolbox.store.repos.counters import CounterRepo
from toolbox.store.repos.events import EventRepo
from toolbox.store.repos.job_writes import JobWrites, PlainJobWrites, TransactionalJobWrites
from toolbox.store.repos.jobs import JobRepo, Jobs, MemoryJobs
from toolbox.store.repos.processes import ProcessRepo
from toolbox.store.repos.rate_limits import RateLimitRepo
from toolbox.store.repos.schedules import RoundRepo, ScheduleRepo
from toolbox.store.repos.series import PointRepo, RollupRepo
from toolbox.store.repos.series_memory import MemoryPoints, MemoryRollups, Points, Rollups
from toolbox.store.repos.task_history import History, HistoryRepo, MemoryHistory
from toolbox.store.repos.tasks import TaskRepo
from toolbox.store.repos.tasks_memory import MemoryTasks, Tasks
from toolbox.store.repos.users import UserRepo

EMBEDDED_HISTORY_LIMIT = 5000
EMBEDDED_AUDIT_LIMIT = 20000
SHARED_AGENT_REFRESH = 2.0


@dataclasses.dataclass
class Parts:
    """What differs between the embedded and the shared database."""

    kind: str  # "embedded" or "mongodb": what the server says it runs on (health, metrics)
    events: Hub
    tasks: Tasks
    history: History
    agents: Agents
    jobs: Jobs
    job_writes: JobWrites  # a new job with its tasks: all or nothing
    counters: CounterRepo
    users: UserRepo
    tokens: TokenRepo
    schedules: ScheduleRepo
    rounds: RoundRepo  # the log of each schedule's rounds
    points: Points  # series points
    rollups: Rollups  # and their hourly and daily rollups
    audit: Audit
    per_user: JobWindow
    targets: Targets
    owners: Owners
    history_limit: int  # finished tasks kept (0: all)
    audit_limit: int  # audit entries kept (0: all)
    agent_refresh: float  # seconds between agent-cache refreshes (0: never)
    tokens_authoritative: bool  # the API token cache holds every token
    token_refresh: float  # seconds a cached API token is trusted when it is not


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value


def parts_for(config: Config, db: Database, clock: Callable[[], float] = time.monotonic) -> Parts:
    """The parts for ``db``: in memory when it is embedded, in the database otherwise.

    The embedded database can be shared only by passing its object around (tests run
    two server instances on one, and restart one on the same object), so its in-memory
    collections live with that object.
    """
    counters, users, tokens = CounterRepo(db["counters"]), UserRepo(db["users"]), TokenRepo(db["api_tokens"])
    schedules, rounds = ScheduleRepo(db["schedules"], db["counters"]), RoundRepo(db["schedule_rounds"])
    if db.embedded:
        held = db.local_state
        refresh = _given(config.agent_refresh, 0.0)
        memory_tasks, memory_jobs = held.setdefault("tasks", MemoryTasks()), held.setdefault("jobs", MemoryJobs())
        return Parts(kind="embedded", events=EventHub(config.replay_events),
                     tasks=memory_tasks, jobs=memory_jobs, job_writes=PlainJobWrites(memory_jobs, memory_tasks),
                     history=held.setdefault("task_history", MemoryHistory()),
                     agents=held.setdefault("agents", MemoryAgents()),
                     points=held.setdefault("series_points", MemoryPoints()),
                     rollups=held.setdefault("series_rollups", MemoryRollups()),
                     audit=held.setdefault("audit", KnownAudit(db["audit"])),
                     per_user=SlidingWindow(config.jobs_per_minute, 60.0, clock),
                     targets=TargetLimiter(config.target_concurrency, clock),
                     owners=SoleOwner(),
                     history_limit=_given(config.history_limit, EMBEDDED_HISTORY_LIMIT),
                     audit_limit=_given(config.audit_limit, EMBEDDED_AUDIT_LIMIT),
                     agent_refresh=refresh, tokens_authoritative=True, token_refresh=refresh or SHARED_AGENT_REFRESH,
                     counters=counters, users=users, tokens=tokens, schedules=schedules, rounds=rounds)
    tasks, jobs = TaskRepo(db["tasks"]), JobRepo(db["jobs"])
    refresh = _given(config.agent_refresh, SHARED_AGENT_REFRESH)
    return Parts(kind="mongodb", events=MongoBus(EventRepo(db), config.replay_events),
                 tasks=tasks, history=HistoryRepo(db["task_history"]), agents=AgentRepo(db["agents"]),
                 jobs=jobs, job_writes=TransactionalJobWrites(db, jobs, tasks, config.db_timeout),
                 audit=AuditRepo(db["audit"]),
                 points=PointRepo(db["series_points"]), rollups=RollupRepo(db["series_rollups"]),
                 per_user=SharedWindow(RateLimitRepo(db["rate_limits"]), config.jobs_per_minute, 60.0),
                 targets=SharedTargets(tasks, config.target_concurrency, config.task_times()),
                 owners=SharedOwners(ProcessRepo(db["processes"])),
                 history_limit=_given(config.history_limit, 0), audit_limit=_given(config.audit_limit, 0),
                 agent_refresh=refresh, tokens_authoritative=False, token_refresh=refresh or SHARED_AGENT_REFRESH,
                 counters=counters, users=users, tokens=tokens, schedules=schedules, rounds=rounds)
