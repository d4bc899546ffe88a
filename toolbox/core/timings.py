"""The settings the task and job services are given: plain values, read once from the configuration.

``toolbox.server.config.Config`` builds them (``task_times``, ``job_rules``); nothing in
``toolbox.core`` reads the configuration itself (the layers: docs/architecture.md).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TaskTimes:
    """How long a task may take (seconds): what ends it, and what bounds a target's wait."""

    task_timeout: float = 600.0  # a raw task's limit, and a tool's when it names none
    task_grace: float = 10.0  # added to a tool's own limit before the task ends as timeout
    delivery_timeout: float = 300.0  # queued this long, unfetched: it ends as delivery_timeout


@dataclasses.dataclass(frozen=True)
class JobRules:
    """What a job may do and how it is counted."""

    times: TaskTimes = TaskTimes()
    sweep_interval: float = 1.0  # how often stale tasks are ended (a job's deadline allows two)
    job_deadline: float = 300.0  # the least time a job has before its unfinished tasks time out
    progress_interval: float = 0.1  # job.progress at most this often per job
    deny_private_targets: bool = False  # refuse targets that resolve to private addresses
