"""Embedded or shared database: decided once, at start-up, here.

The embedded database (no ``MONGODB_URI``) lives in this process: one process is its
only user, so the event hub, the one-task-in-flight rule, the job rate limits and job
counting can all be kept in memory.  With a shared MongoDB, several server processes
may use one database, and each of those is kept in the database instead.  The services
get the right parts through their constructors and never ask which database they run on.

| part          | embedded                     | shared MongoDB                              |
|---------------|------------------------------|---------------------------------------------|
| events        | ``EventHub`` (in memory)     | ``MongoBus`` (``events`` + a change stream) |
| claims        | ``LocalClaims``              | ``SharedClaims`` (unique partial index)     |
| jobs per user | ``SlidingWindow``            | ``SharedWindow``                            |
| per target    | ``TargetLimiter``            | ``SharedTargets``                           |
| job counting  | ``SoleOwner`` (counts all)   | ``SharedOwners`` (heartbeats, adoption)     |
"""

import dataclasses
import time
from collections.abc import Callable

from toolbox.core.bus import Hub, MongoBus
from toolbox.core.claims import Claims, LocalClaims, SharedClaims
from toolbox.core.events import EventHub
from toolbox.core.job_owners import Owners, SharedOwners, SoleOwner
from toolbox.core.target_limits import TargetLimiter
from toolbox.people.throttle import SlidingWindow
from toolbox.core.shared_limits import JobWindow, SharedTargets, SharedWindow, Targets
from toolbox.server.config import Config
from toolbox.store.db import Database

@dataclasses.dataclass
class Parts:
    """What differs between the embedded and the shared database."""

    events: Hub
    claims: Claims
    per_user: JobWindow
    targets: Targets
    owners: Owners


def parts_for(config: Config, db: Database, clock: Callable[[], float] = time.monotonic) -> Parts:
    """The parts for ``db``: in memory when it is embedded, in the database otherwise.

    The embedded database can be shared only by passing its object around (tests run
    two server instances on one), so its claims live with that object.
    """
    if db.local_state is not None:
        return Parts(events=EventHub(config.replay_events),
                     claims=db.local_state.setdefault("claims", LocalClaims()),
                     per_user=SlidingWindow(config.jobs_per_minute, 60.0, clock),
                     targets=TargetLimiter(config.target_concurrency, clock),
                     owners=SoleOwner())
    return Parts(events=MongoBus(db, config.replay_events),
                 claims=SharedClaims(),
                 per_user=SharedWindow(db["rate_limits"], config.jobs_per_minute, 60.0),
                 targets=SharedTargets(db["tasks"], config.target_concurrency, config.task_times()),
                 owners=SharedOwners(db["processes"]))
