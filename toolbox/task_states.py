"""The states a task goes through, and why a dispatched one can end ``lost``.

``queued`` → ``dispatched`` (handed to its agent) → ``done`` (its result stored); or it
ends ``canceled``, ``delivery_timeout`` (never fetched in time) or ``lost`` (dispatched,
never answered: its agent went offline, restarted or was deleted, or the task's time
bound passed).  A late result for a ``lost`` task still makes it ``done``.
"""

QUEUED, DISPATCHED, DONE = "queued", "dispatched", "done"
CANCELED, DELIVERY_TIMEOUT, LOST = "canceled", "delivery_timeout", "lost"
TASK_STATES = (QUEUED, DISPATCHED, DONE, CANCELED, DELIVERY_TIMEOUT, LOST)
TERMINAL_STATES = (DONE, CANCELED, DELIVERY_TIMEOUT, LOST)
# Why a dispatched task ended lost.
AGENT_OFFLINE, AGENT_RESTARTED = "agent_offline", "agent_restarted"
TIMEOUT, AGENT_DELETED = "timeout", "agent_deleted"
LOST_SUMMARIES = {AGENT_OFFLINE: "agent went offline", AGENT_DELETED: "agent deleted",
                  AGENT_RESTARTED: "agent restarted before answering"}
