"""Logging in and out: Feishu OAuth, the one-time local admin link, the admin token
(``POST /auth/token``, see ``toolbox.people.token_login``), logout, ``/auth/info``.

``GET /auth/feishu/login?next=/path`` keeps what ``FeishuLogin.begin`` says to keep (a random
``state`` and ``next``) in a short-lived signed cookie and sends the browser to Feishu;
``GET /auth/feishu/callback`` hands what came back to ``FeishuLogin.finish``
(``toolbox.people.feishu_login``: the state, tenant and disabled checks, the upsert) and sets
the session cookie.  Every refusal is an HTML page a person can read, and an audit entry
(``login``, outcome ``refused``, with the reason).  Codes, tokens and secrets
are never logged or audited (the access log hides them too: see ``toolbox.server.app``).
"""

import logging
from typing import Any, cast

from tornado import escape

from .base import BaseHandler, Principal
from toolbox.people import sessions
from toolbox.errors import Forbidden, NotFound, RateLimited, ToolboxError
from toolbox.people.feishu_login import STATE_SECONDS, FeishuCallback, LoginRefused
from toolbox.people.users import expiry_from_timestamp
from toolbox.store.db import Doc

log = logging.getLogger("toolbox.auth")

STATE_COOKIE = "toolbox_oauth"
STATE_PATH = "/auth/feishu"
CALLBACK_PATH = "/auth/feishu/callback"

# The console's own stylesheet (light and dark), so these pages look like the console.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>{title} · toolBox</title>
<link rel="stylesheet" href="{css}"></head>
<body><main class="login-view"><div class="card login-card" data-testid="auth-page">
<p class="brand"><span class="logo" aria-hidden="true">▣</span> toolBox</p>
<h1>{title}</h1><p>{message}</p><p>{links}</p></div></main></body></html>
"""


class AuthPage(BaseHandler):
    """HTML answers (never JSON, never a traceback) and the session cookie."""

    def page(self, status: int, title: str, message: str, retry: bool = False) -> None:
        links = []
        if retry:
            links.append('<a href="/auth/feishu/login">Log in again</a>')
        links.append('<a href="/">Back to toolBox</a>')
        self.clear_header("Content-Type")
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(PAGE.format(title=escape.xhtml_escape(title), message=escape.xhtml_escape(message),
                                links=" · ".join(links), css=escape.xhtml_escape(self.static_url("console.css"))))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.page(status_code, "Something went wrong",
                  "toolBox could not complete this request. Please try again in a moment.")

    @property
    def https(self) -> bool:
        return self.request.protocol == "https" or (self.config.public_url or "").startswith("https:")

    def start_session(self, doc: Doc) -> None:
        """Set the session cookie for user ``doc``."""
        token, claims = sessions.issue(doc["_id"], cast(str, self.config.secret),  # make_app fills it in
                                       self.config.session_hours)
        self.set_cookie(sessions.SESSION_COOKIE, token, path="/", httponly=True, samesite="Lax",
                        secure=self.https, expires=expiry_from_timestamp(claims["exp"]))

    async def audit_login(self, outcome: str, method: str, doc: Doc | None = None, reason: str | None = None,
                          target: str | None = None, **details: Any) -> None:
        actor = None
        if doc is not None:
            actor = Principal.for_user(doc)
            target = target or doc["_id"]
        if reason:
            details["reason"] = reason
        await self.toolbox.audit.record(actor, "login", target, outcome, dict(details, method=method),
                                        address=self.request.remote_ip)

    async def throttled(self, method: str) -> bool:
        """Answer 429 (a page, with Retry-After) when this address keeps failing to log in."""
        try:
            self.toolbox.guard.check(self.request.remote_ip)
        except RateLimited as error:
            for name, value in error.headers.items():
                self.set_header(name, value)
            await self.refuse(429, "throttled", "Too many attempts",
                              f"Too many failed logins from your address. {error.message[0].upper()}"
                              f"{error.message[1:]}.", method=method, retry=False)
            return True
        return False

    async def refuse(self, status: int, reason: str, title: str, message: str, method: str = "feishu",
                     retry: bool = True, counted: bool = True, **audit: Any) -> None:
        """Answer a refused login with a page and audit it: refusals of no one in particular
        (``counted``: no user known yet) are counted per address and minute, not each logged."""
        log.info("login refused: %s", reason)
        if counted and audit.get("doc") is None:
            details = dict(audit, method=method)
            details.pop("doc", None)
            await self.toolbox.audit.record_refusal("login", reason, self.request.remote_ip,
                                                    target=details.pop("target", None), details=details)
        else:
            await self.audit_login("refused", method, reason=reason, **audit)
        self.page(status, title, message, retry=retry)


class FeishuLoginHandler(AuthPage):
    def get(self) -> None:
        """Send the browser to Feishu's authorize page, remembering ``state`` and ``next``."""
        login = self.toolbox.feishu_login
        if not login.enabled:
            return self.page(404, "Feishu login is not set up",
                             "This toolBox server has no Feishu app configured.")
        kept, authorize_url = login.begin(self.get_query_argument("next", "/"), self.redirect_uri())
        self.set_signed_cookie(STATE_COOKIE, kept, expires_days=None, path=STATE_PATH, httponly=True,
                               samesite="Lax", secure=self.https, max_age=STATE_SECONDS)
        self.redirect(authorize_url)

    def redirect_uri(self) -> str:
        base = self.config.public_url or f"{self.request.protocol}://{self.request.host}"
        return base.rstrip("/") + CALLBACK_PATH


class FeishuCallbackHandler(FeishuLoginHandler):
    def kept_state(self) -> str | None:
        """What the login page kept in the state cookie, when it is genuine; the cookie is cleared."""
        raw = self.get_signed_cookie(STATE_COOKIE, max_age_days=1)
        self.clear_cookie(STATE_COOKIE, path=STATE_PATH)
        return raw.decode("utf-8", "replace") if raw else None

    # Tornado takes a verb as a plain method or a coroutine (RequestHandler.get: Awaitable[None] | None):
    # this one is a coroutine where FeishuLoginHandler.get is plain.
    async def get(self) -> None:  # type: ignore[override]
        """Finish the Feishu login (``FeishuLogin.finish``), then open a session."""
        login = self.toolbox.feishu_login
        if not login.enabled:
            return self.page(404, "Feishu login is not set up",
                             "This toolBox server has no Feishu app configured.")
        if await self.throttled("feishu"):
            return
        callback = FeishuCallback(kept=self.kept_state(), state=self.get_query_argument("state", ""),
                                  error=self.get_query_argument("error", None),
                                  code=self.get_query_argument("code", ""), redirect_uri=self.redirect_uri(),
                                  address=self.request.remote_ip)
        try:
            done = await login.finish(callback)
        except LoginRefused as refused:
            return await self.refuse(refused.status, refused.reason, refused.title, refused.message,
                                     retry=refused.retry, counted=refused.counted, doc=refused.user,
                                     target=refused.target, **refused.details)
        self.start_session(done.user)
        await self.audit_login("ok", "feishu", doc=done.user, created=done.created)
        self.redirect(done.next)


class LocalLoginHandler(AuthPage):
    async def get(self) -> None:
        """The one-time admin link printed at start-up (only without Feishu)."""
        local = self.toolbox.local_login
        if not local.enabled:
            return self.page(404, "Not found", "There is no such page on this toolBox server.")
        if await self.throttled("local"):
            return
        if not local.consume(self.get_query_argument("token", "")):
            self.toolbox.guard.failed(self.request.remote_ip)
            return await self.refuse(
                403, "bad_local_token", "This login link does not work",
                "The one-time login link is wrong or was already used. Restart the server "
                "to get a new one.", method="local", retry=False)
        doc = await self.toolbox.users.ensure_local_admin()
        if doc.get("disabled"):
            return await self.refuse(403, "disabled", "This account is disabled",
                                     "The local admin account is disabled.", method="local",
                                     retry=False, doc=doc)
        self.start_session(doc)
        await self.audit_login("ok", "local", doc=doc)
        self.redirect("/")


class TokenLoginHandler(AuthPage):
    """``POST /auth/token`` ``{"token"}``: the admin API token opens an admin session (no Feishu).

    The console's login page sends it with ``X-XSRFToken`` (checked like every cookie
    POST); answers are JSON: 200, 403 wrong token, 429 throttled, 404 with Feishu.
    """

    write_error = BaseHandler.write_error  # JSON errors, not the HTML pages of the other logins
    body_limit = 4096

    async def post(self) -> None:
        login = self.toolbox.token_login
        if not login.enabled:
            raise NotFound("logging in with the admin token is off: log in with Feishu")
        body = self.json_body()
        candidate = body.get("token") if isinstance(body, dict) else None
        try:
            login.check(cast(str, self.request.remote_ip), candidate)  # Tornado's server always sets it
        except ToolboxError as error:  # no credentials: counted per address and minute (AuditLog)
            await self.toolbox.audit.record_refusal(
                "login", "throttled" if error.status_code == 429 else "bad_admin_token", self.request.remote_ip,
                details={"method": "admin_token"})
            raise
        doc = await self.toolbox.users.ensure_local_admin()
        if doc.get("disabled"):
            await self.audit_login("refused", "admin_token", doc=doc, reason="disabled")
            raise Forbidden("the local admin account is disabled")
        self.start_session(doc)
        await self.audit_login("ok", "admin_token", doc=doc)
        self.write_json({"status": True})


class LogoutHandler(BaseHandler):
    async def post(self) -> None:
        """End this browser's session (the cookie is cleared and the session refused hereafter)."""
        claims = sessions.read(self.get_cookie(sessions.SESSION_COOKIE), self.config.secret)
        doc = await self.toolbox.users.get(claims["sub"]) if claims else None
        if doc is not None and claims is not None:  # a doc was read only with claims
            await self.toolbox.users.end_session(doc["_id"], claims["sid"], expiry_from_timestamp(claims["exp"]))
            actor = Principal.for_user(doc)
            await self.toolbox.audit.record(actor, "logout", doc["_id"], address=self.request.remote_ip)
        self.clear_cookie(sessions.SESSION_COOKIE, path="/")
        self.write_json({"status": True})


class InfoHandler(BaseHandler):
    def get(self) -> None:
        """Which ways to log in this server offers (public)."""
        self.write_json({"feishu": self.config.feishu_enabled, "local_login": self.toolbox.local_login.enabled})


default_handlers = [
    (r"/auth/feishu/login", FeishuLoginHandler),
    (r"/auth/feishu/callback", FeishuCallbackHandler),
    (r"/auth/local", LocalLoginHandler),
    (r"/auth/token", TokenLoginHandler),
    (r"/auth/logout", LogoutHandler),
    (r"/auth/info", InfoHandler),
]
