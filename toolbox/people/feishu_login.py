"""The Feishu login, without HTTP: the state, Feishu's answer, who may log in, with which role.

``FeishuLogin.begin`` makes the ``state`` the browser carries to Feishu and back, and what
to keep of it (``{s: state, n: next page, t: time}``, which the handler keeps in a
short-lived signed cookie).  ``finish`` takes what came back (``FeishuCallback``): it checks
the state against what was kept (fresh and equal, compared in constant time; a mismatch
counts as a failed login of the address), Feishu's error, the code, trades the code for the
profile (``FeishuClient.login``), refuses another organisation (``FEISHU_TENANT_KEY``),
upserts the user and refuses a disabled one.  It returns ``LoggedIn`` or raises
``LoginRefused``: the HTTP status, the reason the audit log records, and the words of the
page the handler draws (``handlers/auth.py``).

Role rules (``FeishuRules``): a new user is ``admin`` when their union_id is listed in
``TOOLBOX_ADMINS``, or their email is listed and ``FEISHU_TENANT_KEY`` is set and is their
tenant (an email is a field an organisation's admins fill in, unverified: without the
tenant check anyone from any Feishu organisation could claim ``boss@corp``); else the
default role (``TOOLBOX_DEFAULT_ROLE``).  The role is given at first login only: later role
changes made by an admin stick.
"""

import dataclasses
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from toolbox.people import sessions
from toolbox.people.feishu import FeishuClient, FeishuError, FeishuProfile, callback_error_message
from toolbox.people.throttle import FailureThrottle
from toolbox.people.users import UserStore
from toolbox.store.db import Doc

STATE_SECONDS = 600  # a login must come back from Feishu within this
_AGAIN = "Please start the login again."

# FeishuError.reason -> HTTP status of the page (anything else: 502, Feishu or its app setup).
USER_REFUSED = {"user_not_allowed", "app_not_installed", "user_status_invalid", "user_resigned",
                "user_frozen", "user_not_registered", "user_not_found"}
BAD_LOGIN = {"invalid_code", "code_expired", "code_used", "redirect_uri_mismatch", "client_mismatch",
             "pkce_failed", "scope_not_granted", "missing_code", "invalid_token"}


def feishu_status(error: FeishuError) -> int:
    """The HTTP status of the page for a failed trade of the code."""
    if error.reason in USER_REFUSED:
        return 403
    if error.reason in BAD_LOGIN:
        return 400
    return 502


@dataclasses.dataclass(frozen=True)
class FeishuRules:
    """Who becomes admin at first login, and who may log in at all."""

    admins: tuple[str, ...] = ()  # TOOLBOX_ADMINS: union ids, or emails (counted with a tenant key)
    default_role: str = "viewer"  # TOOLBOX_DEFAULT_ROLE
    tenant_key: str | None = None  # FEISHU_TENANT_KEY: the one organisation allowed, when set

    def initial_role(self, profile: FeishuProfile) -> str:
        """The role of a user logging in for the first time."""
        listed = {entry.lower() for entry in self.admins}
        if profile.union_id.lower() in listed:
            return "admin"
        if self.tenant_key and profile.tenant_key == self.tenant_key:
            emails = {e.lower() for e in (profile.email, profile.enterprise_email) if e}
            if emails & listed:
                return "admin"
        return self.default_role

    def email_warning(self) -> str | None:
        """The start-up warning when ``admins`` lists emails that will not count, else None."""
        emails = [entry for entry in self.admins if "@" in entry]
        if emails and not self.tenant_key:
            return (f"TOOLBOX_ADMINS lists emails ({', '.join(emails[:3])}) but FEISHU_TENANT_KEY is not set: "
                    "emails are not verified by Feishu, so they make no one admin; list union ids (on_...) "
                    "or set FEISHU_TENANT_KEY")
        return None


@dataclasses.dataclass(frozen=True)
class FeishuCallback:
    """What the browser brought back to ``/auth/feishu/callback``."""

    kept: str | None  # what ``begin`` said to keep, as kept (None: missing or not genuine)
    state: str  # the ``state`` query argument ("" when absent)
    error: str | None  # the ``error`` query argument (the user refused, or Feishu failed)
    code: str  # the ``code`` query argument ("" when absent)
    redirect_uri: str  # the callback's URL, as sent to Feishu at the start
    address: str | None  # the client's address (a bad state counts against it)


@dataclasses.dataclass(frozen=True)
class LoggedIn:
    """A login that succeeded: open a session for ``user`` and go to ``next``."""

    user: Doc
    created: bool  # this was the user's first login
    next: str  # a local path (``sessions.safe_next``)


class LoginRefused(Exception):
    """A login refused: the page's status, title and words, and what the audit log records.

    ``counted``: refusals of no one in particular (no user known yet) are counted per
    address and minute, not each logged (``AuditLog.record_refusal``).
    """

    def __init__(self, status: int, reason: str, title: str, message: str, *, retry: bool = True,
                 counted: bool = True, user: Doc | None = None, target: str | None = None,
                 **details: Any) -> None:
        super().__init__(reason)
        self.status, self.reason, self.title, self.message = status, reason, title, message
        self.retry, self.counted, self.user, self.target = retry, counted, user, target
        self.details = details


class FeishuLogin:
    """Logs people in with Feishu (``client`` None: Feishu is not set up, ``enabled`` is False)."""

    def __init__(self, client: FeishuClient | None, users: UserStore, guard: FailureThrottle, rules: FeishuRules,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.users = users
        self.guard = guard  # failed logins per address (shared with the other logins)
        self.rules = rules
        self.clock = clock  # wall-clock seconds, for the age of a kept state

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def begin(self, next_page: str, redirect_uri: str) -> tuple[str, str]:
        """Start a login → (what to keep until the callback, the URL of Feishu's authorize page)."""
        if self.client is None:
            raise RuntimeError("Feishu is not set up")
        state = secrets.token_urlsafe(24)
        kept = json.dumps({"s": state, "n": sessions.safe_next(next_page), "t": int(self.clock())})
        return kept, self.client.authorize_url(redirect_uri, state)

    def _kept_state(self, kept: str | None) -> dict[str, Any] | None:
        """The kept {s, n, t} when it is well formed and fresh."""
        try:
            saved = json.loads(kept) if kept else None
        except ValueError:
            return None
        if not isinstance(saved, dict) or not isinstance(saved.get("s"), str):
            return None
        if not isinstance(saved.get("t"), int) or self.clock() - saved["t"] > STATE_SECONDS:
            return None
        return saved

    async def finish(self, callback: FeishuCallback) -> LoggedIn:
        """Finish the login: verify, exchange the code, check the user → ``LoggedIn``, or ``LoginRefused``."""
        if self.client is None:
            raise RuntimeError("Feishu is not set up")
        saved = self._kept_state(callback.kept)
        state = callback.state
        if saved is None or not state or not hmac.compare_digest(state.encode(), saved["s"].encode()):
            self.guard.failed(callback.address)
            raise LoginRefused(
                400, "unknown_state", "This login could not be verified",
                "The login did not come back to the browser it started in, or it took too long. " + _AGAIN)
        if callback.error is not None:
            denied = callback.error == "access_denied"
            raise LoginRefused(403 if denied else 400, "denied" if denied else "feishu_callback_error",
                               "Login cancelled" if denied else "Feishu could not log you in",
                               callback_error_message(callback.error))
        if not callback.code:
            raise LoginRefused(400, "missing_code", "Feishu did not complete the login",
                               "Feishu came back without a login code. " + _AGAIN)
        try:
            profile = await self.client.login(callback.code, callback.redirect_uri)
        except FeishuError as error:
            raise LoginRefused(feishu_status(error), error.reason, "Feishu could not log you in",
                               error.message, feishu_error=error.code) from None
        tenant = self.rules.tenant_key
        if tenant and profile.tenant_key != tenant:
            raise LoginRefused(
                403, "wrong_tenant", "This organisation may not use toolBox",
                "Your Feishu account belongs to another organisation. Log in with an account of "
                "the organisation that runs this toolBox.", counted=False, target=profile.union_id,
                name=profile.name, tenant_key=profile.tenant_key)
        doc, created = await self.users.upsert_feishu(profile, self.rules.initial_role(profile))
        if doc.get("disabled"):
            raise LoginRefused(403, "disabled", "Your toolBox account is disabled",
                               "An administrator has disabled your account. Ask them to enable it.",
                               retry=False, user=doc)
        return LoggedIn(doc, created, sessions.safe_next(saved.get("n")))
