"""Feishu (Lark) OAuth web-login client: authorize URL, code exchange, user profile.

A plain object with no toolBox handlers. It speaks the current Feishu flow
(see docs in shared/feishu-api.md):

1. the browser goes to ``{accounts_url}/open-apis/authen/v1/authorize``;
2. Feishu redirects back with ``?code=…&state=…`` (or ``?error=access_denied``);
3. :meth:`FeishuClient.exchange_code` POSTs the code to the v2 token endpoint
   (flat JSON answer, errors as ``{code, error, error_description}``);
4. :meth:`FeishuClient.user_info` reads the profile (``{code, msg, data}``).

Every failure becomes a :class:`FeishuError` whose ``message`` is a sentence a
person can read. Tokens, secrets and codes never go into messages or logs.
"""

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger(__name__)

FEISHU_ACCOUNTS_URL = "https://accounts.feishu.cn"
FEISHU_OPEN_URL = "https://open.feishu.cn"
LARK_ACCOUNTS_URL = "https://accounts.larksuite.com"
LARK_OPEN_URL = "https://open.larksuite.com"

AUTHORIZE_PATH = "/open-apis/authen/v1/authorize"
TOKEN_PATH = "/open-apis/authen/v2/oauth/token"
USER_INFO_PATH = "/open-apis/authen/v1/user_info"

_AGAIN = "Please log in again."
_ADMIN = "tell an administrator."
_RETRY = "Please try again in a moment."

# Feishu code -> (reason, sentence for a person, retryable).
# v2 token endpoint (authorization_code and refresh_token grants), user_info,
# and the generic open-apis gateway codes.
ERRORS: dict[int, tuple[str, str, bool]] = {
    # v2 token endpoint
    20001: ("missing_parameter", "toolBox sent Feishu an incomplete login request — " + _ADMIN, False),
    20002: ("bad_client_secret", "toolBox's Feishu app secret is wrong — " + _ADMIN, False),
    20003: ("invalid_code", "This login link is not valid or was already used. " + _AGAIN, False),
    20004: ("code_expired", "This login link has expired. " + _AGAIN, False),
    20008: ("user_not_found", "Feishu could not find your account. " + _AGAIN, False),
    20009: ("app_not_installed",
            "toolBox's Feishu app is not installed in your organisation. "
            "Ask your Feishu administrator to install it.", False),
    20010: ("user_not_allowed",
            "You are not allowed to use this app. Ask your Feishu administrator for access.", False),
    20024: ("client_mismatch", "This login link was made for a different app. " + _AGAIN, False),
    20036: ("unsupported_grant_type", "toolBox sent Feishu a request type it does not accept — " + _ADMIN, False),
    20048: ("app_not_found", "toolBox's Feishu app ID is wrong or the app no longer exists — " + _ADMIN, False),
    20049: ("pkce_failed", "The login could not be verified. " + _AGAIN, False),
    20050: ("server_error", "Feishu had a temporary problem. " + _RETRY, True),
    20063: ("malformed_request", "toolBox sent Feishu a malformed login request — " + _ADMIN, False),
    20065: ("code_used", "This login link was already used. " + _AGAIN, False),
    20066: ("user_status_invalid",
            "Your Feishu account is not active. Ask your Feishu administrator.", False),
    20067: ("duplicate_scope", "toolBox asked Feishu for the same permission twice — " + _ADMIN, False),
    20068: ("scope_not_granted", "toolBox asked for a permission you did not grant. " + _AGAIN, False),
    20069: ("app_disabled", "toolBox's Feishu app is disabled — " + _ADMIN, False),
    20070: ("multiple_client_auth", "toolBox sent its Feishu credentials twice — " + _ADMIN, False),
    20071: ("redirect_uri_mismatch",
            "The login came back to a different address than it started from. "
            "Please log in again; if it keeps happening, " + _ADMIN, False),
    20072: ("temporarily_unavailable", "Feishu is temporarily unavailable. " + _RETRY, True),
    # v2 token endpoint, refresh_token grant
    20026: ("invalid_refresh_token", "Your Feishu session is no longer valid. " + _AGAIN, False),
    20037: ("refresh_token_expired", "Your Feishu session has expired. " + _AGAIN, False),
    20064: ("refresh_token_revoked", "Your Feishu session was revoked. " + _AGAIN, False),
    20073: ("refresh_token_used", "Your Feishu session was already renewed elsewhere. " + _AGAIN, False),
    20074: ("refresh_not_allowed", "toolBox's Feishu app may not renew sessions — " + _ADMIN, False),
    # user_info (20001, 20008 and 20050 are shared with the token endpoint)
    20005: ("invalid_token", "Feishu did not accept the login. " + _AGAIN, False),
    20021: ("user_resigned", "Your Feishu account belongs to someone who has left the organisation.", False),
    20022: ("user_frozen", "Your Feishu account is frozen. Ask your Feishu administrator.", False),
    20023: ("user_not_registered", "Your Feishu account is not fully registered yet.", False),
    # generic open-apis gateway codes
    99991400: ("rate_limited", "Feishu is busy right now. " + _RETRY, True),
    99991661: ("missing_token", "toolBox did not send its Feishu login token — " + _ADMIN, False),
    99991663: ("invalid_token", "Feishu did not accept the login. " + _AGAIN, False),
    99991668: ("invalid_token", "Feishu did not accept the login. " + _AGAIN, False),
    99991671: ("invalid_token", "Feishu did not accept the login. " + _AGAIN, False),
    99991677: ("token_expired", "Your Feishu login has expired. " + _AGAIN, False),
    99991679: ("scope_not_granted", "toolBox is missing a Feishu permission it needs. " + _AGAIN, False),
}

CALLBACK_ERRORS = {
    "access_denied": "You did not allow toolBox to use your Feishu account, so you are not logged in. "
                     "Log in again if you want to continue.",
    "server_error": "Feishu had a problem during the login. " + _RETRY,
    "temporarily_unavailable": "Feishu is temporarily unavailable. " + _RETRY,
    "invalid_scope": "toolBox asked Feishu for a permission the app does not have — " + _ADMIN,
    "invalid_request": "Feishu rejected the login request — " + _ADMIN,
    "unauthorized_client": "toolBox's Feishu app may not log people in — " + _ADMIN,
}

_TOKEN_KEYS = {"access_token", "refresh_token", "id_token", "code"}
_SAFE_WORD = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class FeishuError(Exception):
    """A Feishu login step failed; ``message`` is safe to show to the user."""

    def __init__(self, reason: str, message: str, code: Optional[int] = None, *,
                 http_status: Optional[int] = None, retryable: bool = False,
                 log_id: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.http_status = http_status
        self.retryable = retryable
        self.log_id = log_id

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"FeishuError(reason={self.reason!r}, code={self.code!r}, http_status={self.http_status!r})"


@dataclass
class FeishuProfile:
    """The user's Feishu identity, from ``/open-apis/authen/v1/user_info``."""

    union_id: str
    open_id: str
    user_id: Optional[str] = None
    tenant_key: str = ""
    name: str = ""
    en_name: str = ""
    avatar_url: Optional[str] = None
    email: Optional[str] = None
    enterprise_email: Optional[str] = None
    raw: dict = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: dict) -> "FeishuProfile":
        """Build a profile from user_info's ``data``; None for absent or empty fields."""
        def opt(key: str) -> Optional[str]:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        return cls(
            union_id=data["union_id"], open_id=data["open_id"], user_id=opt("user_id"),
            tenant_key=data["tenant_key"], name=opt("name") or "", en_name=opt("en_name") or "",
            avatar_url=opt("avatar_url"), email=opt("email"), enterprise_email=opt("enterprise_email"),
            raw={k: v for k, v in data.items() if k not in _TOKEN_KEYS},
        )


def callback_error_message(error: str) -> str:
    """A sentence for a person, for the ``?error=…`` Feishu put on the callback URL."""
    return CALLBACK_ERRORS.get(error, "Feishu could not complete the login. Please try again.")


def error_for_code(code: int, *, http_status: Optional[int] = None,
                   log_id: Optional[str] = None) -> FeishuError:
    """The FeishuError for a non-zero Feishu ``code``."""
    reason, message, retryable = ERRORS.get(code, (
        "feishu_error",
        f"Feishu refused the login (error {code}). Please try again; "
        "if it keeps happening, " + _ADMIN, False))
    return FeishuError(reason, message, code, http_status=http_status,
                       retryable=retryable, log_id=log_id)


class FeishuClient:
    """Talks to Feishu for one app (``app_id`` / ``app_secret``)."""

    def __init__(self, app_id: str, app_secret: str, accounts_url: str = FEISHU_ACCOUNTS_URL,
                 open_url: str = FEISHU_OPEN_URL, http_client: Optional[AsyncHTTPClient] = None,
                 request_timeout: float = 10.0):
        self.app_id = app_id
        self._app_secret = app_secret
        self.accounts_url = accounts_url.rstrip("/")
        self.open_url = open_url.rstrip("/")
        self._http_client = http_client
        self.request_timeout = request_timeout

    def __repr__(self) -> str:
        return f"FeishuClient(app_id={self.app_id!r}, open_url={self.open_url!r})"

    # --- Browser step ---

    def authorize_url(self, redirect_uri: str, state: str, scope: Optional[str] = None) -> str:
        """The Feishu page to send the browser to; it comes back to ``redirect_uri``."""
        params = {"client_id": self.app_id, "response_type": "code",
                  "redirect_uri": redirect_uri, "state": state}
        if scope:
            params["scope"] = scope
        return f"{self.accounts_url}{AUTHORIZE_PATH}?{urlencode(params, quote_via=quote)}"

    # --- Server steps ---

    async def exchange_code(self, code: str, redirect_uri: str) -> dict:
        """Trade the callback ``code`` for the flat v2 token dict (``access_token``, …)."""
        if not code:
            raise FeishuError("missing_code", "Feishu did not send a login code. " + _AGAIN)
        body = json.dumps({
            "grant_type": "authorization_code", "client_id": self.app_id,
            "client_secret": self._app_secret, "code": code, "redirect_uri": redirect_uri,
        })
        request = HTTPRequest(
            self.open_url + TOKEN_PATH, method="POST", body=body,
            headers={"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"},
            request_timeout=self.request_timeout, connect_timeout=self.request_timeout,
            follow_redirects=False)
        status, log_id, payload = await self._fetch_json(request, "token")
        self._raise_for_code(payload, status, log_id, "token")
        token = payload.get("access_token")
        if status != 200 or not isinstance(token, str) or not token:
            raise self._bad_response("token", status, log_id, "no access_token")
        return payload

    async def user_info(self, access_token: str) -> FeishuProfile:
        """The profile of the user who owns ``access_token``."""
        if not access_token or "\r" in access_token or "\n" in access_token:
            raise FeishuError("invalid_token", "Feishu did not accept the login. " + _AGAIN)
        request = HTTPRequest(
            self.open_url + USER_INFO_PATH, method="GET",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            request_timeout=self.request_timeout, connect_timeout=self.request_timeout,
            follow_redirects=False)
        status, log_id, payload = await self._fetch_json(request, "user_info")
        self._raise_for_code(payload, status, log_id, "user_info")
        data = payload.get("data")
        if status != 200 or payload.get("code") != 0 or not isinstance(data, dict):
            raise self._bad_response("user_info", status, log_id, "no data")
        if not all(isinstance(data.get(k), str) and data.get(k)
                   for k in ("open_id", "union_id", "tenant_key")):
            raise self._bad_response("user_info", status, log_id, "missing ids")
        return FeishuProfile.from_data(data)

    async def login(self, code: str, redirect_uri: str) -> FeishuProfile:
        """Exchange the callback code and return the user's profile."""
        token = await self.exchange_code(code, redirect_uri)
        return await self.user_info(token["access_token"])

    # --- Helpers ---

    async def _fetch_json(self, request: HTTPRequest, step: str) -> tuple[int, Optional[str], dict]:
        """Fetch and decode a JSON object; network trouble or non-JSON -> FeishuError."""
        client = self._http_client or AsyncHTTPClient()
        try:
            response = await client.fetch(request, raise_error=False)
        except (HTTPClientError, OSError, TimeoutError) as exc:
            kind = "timeout" if getattr(exc, "code", None) == 599 else type(exc).__name__
            log.warning("Feishu %s request to %s failed: %s", step, self.open_url, kind)
            raise FeishuError("unreachable", "toolBox could not reach Feishu. " + _RETRY,
                              retryable=True) from None
        log_id = response.headers.get("X-Tt-Logid")
        try:
            payload = json.loads(response.body or b"")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise self._bad_response(step, response.code, log_id, "not a JSON object")
        return response.code, log_id, payload

    def _raise_for_code(self, payload: dict, status: int, log_id: Optional[str], step: str) -> None:
        """Raise the mapped FeishuError when the body carries a non-zero ``code``."""
        raw = payload.get("code", 0)
        try:
            code = int(raw)
        except (TypeError, ValueError):
            raise self._bad_response(step, status, log_id, "non-numeric code") from None
        if code == 0:
            return
        err = error_for_code(code, http_status=status, log_id=log_id)
        oauth_error = payload.get("error")
        log.warning("Feishu %s failed: code=%s reason=%s http=%s error=%s logid=%s", step, code,
                    err.reason, status,
                    oauth_error if isinstance(oauth_error, str) and _SAFE_WORD.match(oauth_error) else "-",
                    log_id if isinstance(log_id, str) and _SAFE_WORD.match(log_id) else "-")
        raise err

    def _bad_response(self, step: str, status: int, log_id: Optional[str], why: str) -> FeishuError:
        """A FeishuError for an answer that is not what the Feishu API documents."""
        log.warning("Feishu %s gave an unexpected answer (http=%s, %s, logid=%s)", step, status, why,
                    log_id if isinstance(log_id, str) and _SAFE_WORD.match(log_id) else "-")
        return FeishuError("bad_response", "Feishu gave an unexpected answer. " + _RETRY,
                           http_status=status, retryable=status >= 500, log_id=log_id)
