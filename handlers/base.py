"""Base handlers: one JSON error shape, JSON bodies, and who is asking.

Every error, from any handler, is ``{"status": false, "error": "<message>"}`` with the
right HTTP status; a database fault (unreachable, timed out, not primary: the store's
``toolbox.store.faults``) is a 503 with ``Retry-After``, logged once per outage; other
unexpected exceptions are logged and answered as a 500 with no internals.  While the
database is slow or away, API requests past ``max_pending`` in progress are shed (503).  ``APIHandler`` authenticates every request before the method runs
(``AuthMixin.authenticate``: admin token, personal API token, or session cookie) and
``@require_role`` checks the role.
"""

import functools
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tornado import httputil, web

from toolbox import validation
from toolbox.jsontext import dumps_bytes
from toolbox.people import sessions
from toolbox.people.throttle import credential_proof
from toolbox.errors import AuthError, Forbidden, NotFound, TooLarge, ToolboxError, ValidationError
from toolbox.people.principals import ROLE_RANK, Principal
from toolbox.people.users import session_ended
from toolbox.store.db import Doc
from toolbox.store.faults import DatabaseUnavailable

if TYPE_CHECKING:
    from toolbox.server.config import Config
    from toolbox.server.wiring import Services

    _RequestHandler = web.RequestHandler  # what AuthMixin is mixed into
else:
    _RequestHandler = object

log = logging.getLogger("toolbox.web")

MAX_JSON_BODY = 1024 * 1024
MAX_ID = 2**62


def require_role(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a handler method: only principals with at least ``role`` may call it."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            user = self.current_user
            if user is None:
                raise AuthError("authentication required")
            if not user.can(role):
                raise Forbidden(f"this needs the {role} role; you are {user.role}")
            result = method(self, *args, **kwargs)
            if hasattr(result, "__await__"):
                result = await result
            return result

        wrapper.required_role = role  # type: ignore[attr-defined]  # read by the role tests
        return wrapper

    return decorate


def services_of(application: web.Application) -> "Services":
    """The services that ``make_app`` (``toolbox.server.app``) set on the application."""
    return application.toolbox  # type: ignore[attr-defined,no-any-return]  # set by make_app


@web.stream_request_body
class BaseHandler(web.RequestHandler):
    """JSON errors, bodies read only once the request is accepted, and the ``Services`` (``self.toolbox``).

    Bodies are streamed (``data_received``), so that nothing is read before ``prepare``
    has run: an API request is authenticated from its headers first (a refusal answers
    at once and closes the connection, the body unread), and a body is kept only up to
    ``body_limit`` bytes (a ``Content-Length`` over it is refused before a byte is read).
    """

    body_limit = MAX_JSON_BODY
    counts_as_request = True  # a request a graceful stop waits for (websockets are closed instead)

    def initialize(self, **kwargs: Any) -> None:
        self.body_chunks: list[bytes] = []
        self.body_size = 0
        self._in_flight = False
        if self.counts_as_request:
            self._in_flight = True
            self.toolbox.requests.opened()

    def _request_over(self) -> None:
        if self._in_flight:
            self._in_flight = False
            self.toolbox.requests.closed()

    def on_finish(self) -> None:
        self._request_over()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._request_over()

    def prepare(self) -> Awaitable[None] | None:
        self.check_body_length()
        return None

    def check_body_length(self) -> None:
        """Refuse (413) a request whose Content-Length says its body is over ``body_limit``."""
        length = validation.parse_digits(self.request.headers.get("Content-Length", "0"), 0, 2**62)
        if length is not None and length > self.body_limit:
            raise TooLarge(f"the body is larger than {self.body_limit} bytes")

    def data_received(self, chunk: bytes) -> None:
        if self.body_size + len(chunk) <= self.body_limit:
            self.body_chunks.append(chunk)
        self.body_size += len(chunk)

    @property
    def toolbox(self) -> "Services":
        return services_of(self.application)

    @property
    def config(self) -> "Config":
        return self.toolbox.config

    def compute_etag(self) -> None:
        """No ETag: answers are ``no-store`` and change from one request to the next."""
        return None

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        if self.toolbox.requests.draining:  # the process is stopping: no keep-alive
            self.set_header("Connection", "close")

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.write(json_bytes(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ToolboxError):
            message = error.message
            for name, value in error.headers.items():
                self.set_header(name, value)
        elif isinstance(error, web.HTTPError):
            message = error.log_message if error.log_message and status_code < 500 else self._reason
            if status_code == 405:
                message = f"method {self.request.method} not allowed here"
        else:
            message = "internal server error" if status_code >= 500 else self._reason
        self.clear_header("Content-Type")
        self.write_json({"status": False, "error": message}, status_code)

    def _handle_request_exception(self, e: BaseException) -> None:
        """Tornado's error path, with a database fault turned into its 503 first (the one
        place: every handler, every method, ``prepare`` included)."""
        unavailable = self.toolbox.outages.refused(e, f"{self.request.method} {self.request.path}")
        if unavailable is None:
            super()._handle_request_exception(e)
            return
        try:
            raise unavailable from None
        except DatabaseUnavailable as converted:  # so that sys.exc_info() is the 503
            super()._handle_request_exception(converted)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, DatabaseUnavailable):
            return  # counted and logged once per outage (toolbox.store.faults)
        if isinstance(value, ToolboxError):
            log.info("%s %s -> %d: %s", self.request.method, self.request.path, value.status_code,
                     value.message)
        else:
            super().log_exception(typ, value, tb)

    async def authenticate_agent(self, name: Any, token: Any, allow_disabled: bool = False) -> Doc:
        """The agent's document when ``token`` is its token (``AgentRegistry.authenticate``),
        with failed attempts throttled per client address (a right token always passes)."""
        toolbox, address = self.toolbox, self.request.remote_ip
        proof = credential_proof("agent", str(name), str(token))
        toolbox.guard.check(address, proof)
        try:
            doc = await toolbox.agents.authenticate(name, token, allow_disabled=allow_disabled)
        except AuthError:
            toolbox.guard.failed(address)
            raise
        except Forbidden:  # the right token of a disabled agent: not a guess
            toolbox.guard.succeeded(address, proof)
            raise
        toolbox.guard.succeeded(address, proof)
        return doc

    def query_args(self, *names: str) -> dict[str, str]:
        """The named query arguments that were given and are not empty (as sent: not stripped)."""
        values = {name: self.get_query_argument(name, None, strip=False) for name in names}
        return {name: value for name, value in values.items() if value not in (None, "")}

    def json_body(self) -> Any:
        """The request body parsed as JSON; ValidationError when it is not."""
        if self.body_size > self.body_limit:
            raise TooLarge(f"the body is larger than {self.body_limit} bytes")
        body = b"".join(self.body_chunks)
        if not body.strip():
            raise ValidationError("the body is empty; a JSON object is expected")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise ValidationError("the body is not valid JSON") from None


def json_bytes(data: Any) -> bytes:
    """``data`` as compact UTF-8 JSON; text that is not valid Unicode (a lone surrogate
    from a client's ``\\ud800``) is sent escaped rather than failing the answer."""
    try:
        return dumps_bytes(data)
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def id_arg(text: str, what: str) -> int:
    """A positive integer id from a URL path segment; NotFound (naming ``what``) otherwise."""
    number = validation.parse_digits(text, 1, MAX_ID)
    if number is None:
        raise NotFound(f"{what} not found: {text[:40]}")
    return number


def bearer_token(request: httputil.HTTPServerRequest) -> str:
    """The token in ``Authorization: Bearer T`` (or a bare ``Authorization: T``)."""
    value = request.headers.get("Authorization", "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value


class AuthMixin(_RequestHandler):
    """Who is asking: the one place requests are authenticated (API and websocket handlers).

    In order: ``Authorization: Bearer`` = TOOLBOX_ADMIN_TOKEN → admin; ``Authorization:
    Bearer`` = a personal API token → its owner, with the owner's current role; the
    ``toolbox_session`` cookie → its user.  When an Authorization header is sent it alone
    decides (no fallback to the cookie).  Users are re-read on every request, so a role
    change, a disabled account or a logout applies at once.
    """

    user_doc: Doc | None = None

    async def authenticate(self) -> Principal:
        """The Principal for this request; AuthError (401) or Forbidden (403) when there is none."""
        toolbox = services_of(self.application)
        if "Authorization" in self.request.headers:
            token = bearer_token(self.request)
            address, proof = self.request.remote_ip, credential_proof("bearer", token)
            toolbox.guard.check(address, proof)  # 429 for an address that keeps guessing
            admin_token = toolbox.config.admin_token
            if token and admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
                toolbox.guard.succeeded(address, proof)
                return Principal("admin-token", "admin")
            record = await toolbox.tokens.lookup(token) if token else None
            if record is None:
                toolbox.guard.failed(address)
                raise AuthError("this Authorization token is not valid (wrong, expired or revoked)")
            toolbox.guard.succeeded(address, proof)
            return await self._principal_for(record["user_id"], via="token")
        claims = sessions.read(self.get_cookie(sessions.SESSION_COOKIE), toolbox.config.secret)
        if claims is not None:
            return await self._principal_for(claims["sub"], via="session", sid=claims["sid"])
        raise AuthError("authentication required: log in, or send Authorization: Bearer <token>")

    async def _principal_for(self, user_id: str, via: str, sid: str | None = None) -> Principal:
        doc = await services_of(self.application).users.get(user_id)
        if doc is None or (sid is not None and session_ended(doc, sid)):
            raise AuthError("your session has ended: log in again (or send Authorization: Bearer <token>)")
        if doc.get("disabled"):
            raise Forbidden("this toolBox account is disabled")
        self.user_doc = doc
        return Principal.for_user(doc, via=via)

    def needs_xsrf_check(self) -> bool:
        """Only a session cookie is an ambient credential: bearer and anonymous calls skip XSRF."""
        return "Authorization" not in self.request.headers and bool(self.get_cookie(sessions.SESSION_COOKIE))


class APIHandler(AuthMixin, BaseHandler):
    """A JSON API handler: authenticated before the method runs."""

    _pending = False
    sheddable = True  # False: answered even when overloaded (/metrics)

    async def prepare(self) -> None:
        if self.sheddable:
            self._shed_when_overloaded()
        self.current_user = await self.authenticate()
        self.check_body_length()  # credentials first: nothing of the body is read before this

    def _shed_when_overloaded(self) -> None:
        """503 for a request past ``max_pending`` API requests in progress while the database
        is slow or away (what would otherwise queue without bound, in memory)."""
        toolbox = self.toolbox
        if toolbox.requests.api_pending >= self.config.max_pending and toolbox.db_health.state != "ok":
            toolbox.outages.shed()
            raise DatabaseUnavailable("shed", "too many requests are waiting for the database; try again shortly")
        toolbox.requests.api_pending += 1
        self._pending = True

    def _request_over(self) -> None:
        if self._pending:
            self._pending = False
            self.toolbox.requests.api_pending -= 1
        super()._request_over()

    async def created_once(self, route: str, body: Any,
                           create: Callable[[str | None], Awaitable[tuple[int, Any]]]) -> None:
        """Answer ``create(creation_key)``'s (status, JSON); with an ``Idempotency-Key`` header,
        the answer of the key's first request instead when there was one, and ``creation_key``
        the same for each retry of it (``toolbox.core.idempotency``); without one, None."""
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            status, answer = await create(None)
        else:
            principal = self.current_user
            status, answer, replayed = await self.toolbox.idempotency.once(
                principal.user_id or principal.name, route, key, body, create)
            if replayed:
                self.set_header("Idempotent-Replayed", "true")
        self.write_json(answer, status=status)

    async def audit(self, action: str, target: str | None = None, outcome: str = "ok", **details: Any) -> None:
        """Append an audit entry for this request's principal."""
        await self.toolbox.audit.record(self.current_user, action, target, outcome, details,
                                        address=self.request.remote_ip)

    def check_xsrf_cookie(self) -> None:
        """Cookie-authenticated writes need ``X-XSRFToken``; bearer-authenticated ones do not."""
        if self.needs_xsrf_check():
            super().check_xsrf_cookie()

    # --- Pages of a list: ?limit=&before= in, {items, next_before} out ---

    @staticmethod
    def page_limit(args: dict[str, Any]) -> int:
        """``?limit=``: 1 to 500 items, 50 when not given."""
        return validation.int_in(args.get("limit", 50), "limit", 1, 500)

    @staticmethod
    def page_before(args: dict[str, Any]) -> int | None:
        """``?before=`` as an id (the previous page's ``next_before``), or None."""
        return validation.int_in(args["before"], "before", 1, MAX_ID) if "before" in args else None

    def write_page(self, items: list[dict[str, Any]], limit: int, key: str) -> None:
        """``{items, next_before}``: the last item's ``key`` when the page is full, else None."""
        self.write_json({"items": items, "next_before": items[-1][key] if len(items) == limit else None})


class NotFoundHandler(BaseHandler):
    """JSON 404 for every path no route matches (``/api``, ``/agent``, ``/auth`` and the rest)."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

    def check_xsrf_cookie(self) -> None:
        """Nothing happens here, so an unknown path answers 404 whatever the method."""

    def prepare(self) -> None:
        path = self.request.path
        raise NotFound(f"no such endpoint: {path[:200]}")


default_handlers: list[Any] = []
