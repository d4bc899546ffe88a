"""Configuration: every setting from an environment variable, with a matching flag.

One place reads the environment.  ``Config.load(argv, environ)`` returns a frozen
``Config`` or raises ``ConfigError`` with a one-line message that ``toolbox``
prints before exiting (never a traceback).
"""

import argparse
import dataclasses
import importlib.util
import os
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from toolbox.core.timings import JobRules, TaskTimes
from toolbox.people.feishu_login import FeishuRules
from toolbox.people.principals import ROLES


class ConfigError(ValueError):
    """A setting has a value toolBox cannot use."""


_ASCII_INT = re.compile(r"-?[0-9]{1,12}")


def _seconds_or_zero(name: str, raw: str) -> float:
    """A number of seconds, 0 allowed."""
    try:
        if float(raw) == 0:
            return 0.0
    except (TypeError, ValueError):
        pass  # refused below, with the message every number of seconds gets
    return _positive_float(name, raw)


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ConfigError(f"{name} must be greater than 0, not {raw!r}")
    return value


def _int_in(name: str, raw: str, low: int, high: int) -> int:
    text = str(raw).strip()
    if not _ASCII_INT.fullmatch(text):
        raise ConfigError(f"{name} must be a whole number, not {raw!r}")
    value = int(text)
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _flag(name: str, raw: str) -> bool:
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


EVENT_LOOPS = ("asyncio", "uvloop")


def _event_loop(name: str, raw: str) -> str:
    text = str(raw).strip().lower()
    if text not in EVENT_LOOPS:
        raise ConfigError(f"{name} must be one of {', '.join(EVENT_LOOPS)}, not {raw!r}")
    if text == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ConfigError(f"{name}: uvloop is not installed (pip install uvloop)")
    return text


def _csv(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(raw).split(",") if part.strip())


MIN_SECRET_LENGTH = 32


def _secret(name: str, raw: str) -> str:
    """A secret or token an operator sets: at least MIN_SECRET_LENGTH characters."""
    if len(raw) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{name} must be at least {MIN_SECRET_LENGTH} characters long "
                          f"(it is {len(raw)}); e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return raw


def _mongodb_uri(name: str, raw: str) -> str:
    """A MongoDB connection string that PyMongo can use (checked without connecting)."""
    from toolbox.store.db import uri_problem

    if not raw.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigError(f"{name} must start with mongodb:// or mongodb+srv://, not {raw[:20]!r}")
    reason = uri_problem(raw)
    if reason is not None:
        raise ConfigError(f"{name} is not a usable MongoDB URI: {reason}")
    return raw


def _role(name: str, raw: str) -> str:
    if raw not in ROLES:
        raise ConfigError(f"{name} must be one of {', '.join(ROLES)}, not {raw!r}")
    return raw


# (field, environment variable, flag, parser, default, help)
# A default of None means "not set"; parsers receive the raw string.
_SETTINGS: list[tuple[str, str, str, Callable[..., Any], Any, str]] = [
    ("host", "HOST", "--host", str, "127.0.0.1", "address to listen on"),
    ("port", "PORT", "--port", lambda n, v: _int_in(n, v, 0, 65535), 8000, "port to listen on"),
    ("mongodb_uri", "MONGODB_URI", "--mongodb-uri", _mongodb_uri, None,
     "MongoDB URI; unset = embedded in-memory database (data lost on restart)"),
    ("secret", "TOOLBOX_SECRET", "--secret", _secret, None,
     "secret signing sessions and cookies (32+ characters); unset = random per start"),
    ("admin_token", "TOOLBOX_ADMIN_TOKEN", "--admin-token", _secret, None,
     "bearer token for the admin API (32+ characters); unset = random, printed at start-up"),
    ("poll_timeout", "TOOLBOX_POLL_TIMEOUT", "--poll-timeout", _positive_float, 30.0,
     "seconds an agent's fetch may park waiting for a task"),
    ("delivery_timeout", "TOOLBOX_DELIVERY_TIMEOUT", "--delivery-timeout", _positive_float, 300.0,
     "seconds a task may wait for its agent to fetch it before it ends as delivery_timeout"),
    ("task_timeout", "TOOLBOX_TASK_TIMEOUT", "--task-timeout", _positive_float, 600.0,
     "seconds a delivered raw command may run before it ends as lost (tool tasks: their own bound)"),
    ("task_grace", "TOOLBOX_TASK_GRACE", "--task-grace", _positive_float, 10.0,
     "seconds a tool task's result may arrive after its command's time bound before it ends as lost"),
    ("offline_after", "TOOLBOX_OFFLINE_AFTER", "--offline-after", _positive_float, 10.0,
     "seconds without a request (and no fetch open) after which an agent is offline"),
    ("result_max_bytes", "TOOLBOX_RESULT_MAX_BYTES", "--result-max-bytes",
     lambda n, v: _int_in(n, v, 1024, 64 * 1024 * 1024), 1024 * 1024,
     "results longer than this are stored truncated"),
    ("history_limit", "TOOLBOX_HISTORY_LIMIT", "--history-limit",
     lambda n, v: _int_in(n, v, 0, 10**9), None,
     "finished tasks kept; oldest pruned beyond it (default 5000 embedded, 0 = unlimited with MongoDB)"),
    ("sweep_interval", "TOOLBOX_SWEEP_INTERVAL", "--sweep-interval", _positive_float, 1.0,
     "seconds between timeout sweeps and cross-process dispatch checks"),
    ("agent_refresh", "TOOLBOX_AGENT_REFRESH", "--agent-refresh",
     lambda n, v: float(v) if float(v) >= 0 else _positive_float(n, v), None,
     "seconds between agent cache refreshes from the database (default 2 with MongoDB, off embedded)"),
    ("id_block", "TOOLBOX_ID_BLOCK", "--id-block", lambda n, v: _int_in(n, v, 1, 10000), 20,
     "task ids reserved per counter increment"),
    ("debug", "TOOLBOX_DEBUG", "--debug", _flag, False, "verbose logging"),
    ("reuse_port", "TOOLBOX_REUSE_PORT", "--reuse-port", _flag, False,
     "bind with SO_REUSEPORT, so a new process can take the port over before this one stops "
     "(needs MONGODB_URI)"),
    ("public_url", "TOOLBOX_PUBLIC_URL", "--public-url", str, None,
     "the URL people reach toolBox at (for Feishu's redirect_uri); default http://HOST:PORT"),
    ("feishu_app_id", "FEISHU_APP_ID", "--feishu-app-id", str, None, "Feishu/Lark app id (cli_...)"),
    ("feishu_app_secret", "FEISHU_APP_SECRET", "--feishu-app-secret", str, None, "Feishu/Lark app secret"),
    ("feishu_accounts_url", "FEISHU_ACCOUNTS_URL", "--feishu-accounts-url", str,
     "https://accounts.feishu.cn", "Feishu authorize host (Lark: https://accounts.larksuite.com)"),
    ("feishu_open_url", "FEISHU_OPEN_URL", "--feishu-open-url", str,
     "https://open.feishu.cn", "Feishu API host (Lark: https://open.larksuite.com)"),
    ("feishu_tenant_key", "FEISHU_TENANT_KEY", "--feishu-tenant-key", str, None,
     "when set, only users of this Feishu tenant may log in"),
    ("admins", "TOOLBOX_ADMINS", "--admins", _csv, (), "union ids or emails made admins at first login"),
    ("default_role", "TOOLBOX_DEFAULT_ROLE", "--default-role", _role, "viewer", "role of new users"),
    ("session_hours", "TOOLBOX_SESSION_HOURS", "--session-hours", _positive_float, 12.0,
     "hours a login session lasts"),
    ("deny_private_targets", "TOOLBOX_DENY_PRIVATE_TARGETS", "--deny-private-targets", _flag, False,
     "refuse loopback, private and link-local targets for tools"),
    ("jobs_per_minute", "TOOLBOX_JOBS_PER_MINUTE", "--jobs-per-minute",
     lambda n, v: _int_in(n, v, 1, 100000), 30, "jobs one user may start per minute"),
    ("target_concurrency", "TOOLBOX_TARGET_CONCURRENCY", "--target-concurrency",
     lambda n, v: _int_in(n, v, 1, 1000000), 2000, "unfinished tasks aimed at one target across all agents"),
    ("job_deadline", "TOOLBOX_JOB_DEADLINE", "--job-deadline", _positive_float, 300.0,
     "seconds after which a job's unfinished tasks stop counting and the job ends"),
    ("progress_interval", "TOOLBOX_PROGRESS_INTERVAL", "--progress-interval",
     _seconds_or_zero, 0.1,
     "seconds between two job.progress events of one job; changes in between are merged "
     "into the next (0 = one event per task change)"),
    ("ws_queue_size", "TOOLBOX_WS_QUEUE_SIZE", "--ws-queue-size",
     lambda n, v: _int_in(n, v, 2, 1000000), 1000,
     "events queued for one console websocket before that (too slow) console is dropped"),
    ("replay_events", "TOOLBOX_REPLAY_EVENTS", "--replay-events",
     lambda n, v: _int_in(n, v, 1, 10**7), 10000,
     "live-feed events kept for consoles that reconnect with since= (further back: reset)"),
    ("audit_retention_days", "TOOLBOX_AUDIT_RETENTION_DAYS", "--audit-retention-days",
     lambda n, v: float(_int_in(n, v, 0, 36500)), 180.0,
     "days audit entries are kept (0 = for ever)"),
    ("audit_limit", "TOOLBOX_AUDIT_LIMIT", "--audit-limit", lambda n, v: _int_in(n, v, 0, 10**9), None,
     "audit entries kept; oldest pruned beyond it (default 20000 embedded, 0 = unlimited with MongoDB)"),
    ("series_points_days", "TOOLBOX_SERIES_POINTS_DAYS", "--series-points-days",
     lambda n, v: float(_int_in(n, v, 0, 36500)), 30.0,
     "days a schedule's raw points (and its rounds' log) are kept (0 = for ever)"),
    ("series_rollups_days", "TOOLBOX_SERIES_ROLLUPS_DAYS", "--series-rollups-days",
     lambda n, v: float(_int_in(n, v, 0, 36500)), 400.0,
     "days a schedule's hourly and daily rollups are kept (0 = for ever)"),
    ("alert_tries", "TOOLBOX_ALERT_TRIES", "--alert-tries", lambda n, v: _int_in(n, v, 1, 20), 5,
     "tries of one alert notification before it is marked failed"),
    ("alert_retry_base", "TOOLBOX_ALERT_RETRY_BASE", "--alert-retry-base", _positive_float, 2.0,
     "seconds before a notification's second try; each later wait doubles (at most 300 s)"),
    ("header_timeout", "TOOLBOX_HEADER_TIMEOUT", "--header-timeout", _positive_float, 120.0,
     "seconds a connection may take to send a request's headers, counted from when it opened or "
     "its last answer ended (so also how long an idle keep-alive connection is kept)"),
    ("body_timeout", "TOOLBOX_BODY_TIMEOUT", "--body-timeout", _positive_float, 120.0,
     "seconds a client may take to send a request body"),
    ("db_timeout", "TOOLBOX_DB_TIMEOUT", "--db-timeout", _positive_float, 3.0,
     "seconds a request waits for the database to be reachable before it is answered 503 "
     "(MongoDB's serverSelectionTimeoutMS and connectTimeoutMS)"),
    ("db_slow", "TOOLBOX_DB_SLOW", "--db-slow", _positive_float, 0.2,
     "a database round trip at least this long (seconds) makes /healthz say degraded"),
    ("max_pending", "TOOLBOX_MAX_PENDING", "--max-pending", lambda n, v: _int_in(n, v, 1, 1000000), 200,
     "API requests in progress past which new ones are refused 503 (load shed) while the "
     "database is slow or away"),
    ("event_loop", "TOOLBOX_EVENT_LOOP", "--event-loop", _event_loop, "asyncio",
     "the event loop: asyncio, or uvloop (pip install uvloop; docs/benchmarks.md measures it)"),
    ("auth_failures_per_minute", "TOOLBOX_AUTH_FAILURES_PER_MINUTE", "--auth-failures-per-minute",
     lambda n, v: _int_in(n, v, 1, 1000000), 30,
     "failed token or login attempts one client address may make in any 60 seconds (then 429)"),
]


@dataclasses.dataclass(frozen=True)
class Config:
    """All of toolBox's settings; build with ``Config.load`` or ``Config(...)`` in tests."""

    host: str = "127.0.0.1"
    port: int = 8000
    mongodb_uri: str | None = None
    secret: str | None = None
    admin_token: str | None = None
    poll_timeout: float = 30.0
    delivery_timeout: float = 300.0
    task_timeout: float = 600.0
    task_grace: float = 10.0
    offline_after: float = 10.0
    result_max_bytes: int = 1024 * 1024
    history_limit: int | None = None
    sweep_interval: float = 1.0
    agent_refresh: float | None = None
    id_block: int = 20
    debug: bool = False
    event_loop: str = "asyncio"
    reuse_port: bool = False
    public_url: str | None = None
    feishu_app_id: str | None = None
    feishu_app_secret: str | None = None
    feishu_accounts_url: str = "https://accounts.feishu.cn"
    feishu_open_url: str = "https://open.feishu.cn"
    feishu_tenant_key: str | None = None
    admins: tuple = ()
    default_role: str = "viewer"
    session_hours: float = 12.0
    deny_private_targets: bool = False
    jobs_per_minute: int = 30
    target_concurrency: int = 2000
    job_deadline: float = 300.0
    progress_interval: float = 0.1
    ws_queue_size: int = 1000
    replay_events: int = 10000
    audit_retention_days: float = 180.0
    audit_limit: int | None = None
    series_points_days: float = 30.0
    series_rollups_days: float = 400.0
    alert_tries: int = 5
    alert_retry_base: float = 2.0
    header_timeout: float = 120.0
    body_timeout: float = 120.0
    auth_failures_per_minute: int = 30
    db_timeout: float = 3.0
    db_slow: float = 0.2
    max_pending: int = 200
    # Filled in by ``resolved()`` when the operator left them unset.
    generated: tuple = ()

    @property
    def feishu_enabled(self) -> bool:
        """True when a Feishu app id and secret are configured."""
        return bool(self.feishu_app_id and self.feishu_app_secret)

    def task_times(self) -> TaskTimes:
        """How long tasks may take, for the task service and the shared target limits."""
        return TaskTimes(task_timeout=self.task_timeout, task_grace=self.task_grace,
                         delivery_timeout=self.delivery_timeout)

    def job_rules(self) -> JobRules:
        """What jobs may do and how they are counted, for the job service."""
        return JobRules(times=self.task_times(), sweep_interval=self.sweep_interval, job_deadline=self.job_deadline,
                        progress_interval=self.progress_interval, deny_private_targets=self.deny_private_targets)

    def feishu_rules(self) -> FeishuRules:
        """Who may log in with Feishu, and who becomes admin at first login."""
        return FeishuRules(admins=tuple(self.admins), default_role=self.default_role, tenant_key=self.feishu_tenant_key)

    def resolved(self) -> "Config":
        """Return a copy with generated secrets for the settings left unset."""
        changes: dict[str, Any] = {}
        generated: list[str] = []
        if not self.secret:
            changes["secret"] = secrets.token_urlsafe(32)
            generated.append("secret")
        if not self.admin_token:
            changes["admin_token"] = secrets.token_urlsafe(24)
            generated.append("admin_token")
        return dataclasses.replace(self, generated=tuple(generated), **changes)

    @classmethod
    def load(cls, argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> "Config":
        """Read environment variables, then command-line flags (flags win)."""
        environ = os.environ if environ is None else environ
        parser = argparse.ArgumentParser(
            prog="toolbox", description="Run the toolBox server.",
            epilog="Every flag can also be set through the environment variable named in its help.")
        for field, env, flag, _parse, default, help_text in _SETTINGS:
            if _parse is _flag:
                parser.add_argument(flag, dest=field, action="store_const", const="true",
                                    help=f"{help_text} [{env}]")
            else:
                parser.add_argument(flag, dest=field, metavar=env,
                                    help=f"{help_text} [{env}, default {default}]")
        args = parser.parse_args(argv)
        values: dict[str, Any] = {}
        for field, env, flag, parse, default, _help in _SETTINGS:
            raw = getattr(args, field)
            name = flag if raw is not None else env
            if raw is None:
                raw = environ.get(env)
            if raw is None or (raw == "" and parse is not str):
                continue
            if parse is str or (raw == "" and parse in (_secret, _mongodb_uri)):
                values[field] = raw if raw != "" else None
                continue
            try:
                values[field] = parse(name, raw)
            except ConfigError:
                raise
            except (TypeError, ValueError):
                raise ConfigError(f"{name} has an unusable value {raw!r}") from None
        return cls(**values)
