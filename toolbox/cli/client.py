"""HTTP calls to a toolBox server, and the one-line errors ``tbx`` prints for them.

Only the standard library's ``urllib``: every call is a JSON request with the bearer
token, answered in JSON (or text for exports).  Whatever goes wrong becomes a
:class:`CliError` whose message is one line: a 401 says to log in, a 429 says when to
retry (the server's ``Retry-After``), an unreachable server names the URL.
"""

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT = 30.0  # seconds for one HTTP call


class CliError(Exception):
    """A usage or server error: ``tbx`` prints the message on stderr and exits 2."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, from a 429's Retry-After


def error_message(status: int, text: str, retry_after: str | None) -> str:
    """The one line said for an HTTP error answer."""
    if status == 401:
        return f"not logged in or the token was refused ({text}): run `tbx login`"
    if status == 403:
        return f"not allowed: {text}"
    if status == 429:
        wait = f"retry in {retry_after} s" if retry_after else "retry later"
        return f"too many requests ({text}): {wait}"
    return f"the server answered {status}: {text}"


class Client:
    """Calls to one server (``url``) with one token (or none)."""

    def __init__(self, url: str, token: str | None, timeout: float = TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
                want_text: bool = False) -> Any:
        """The answer to one call: parsed JSON, or the text itself with ``want_text``."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            with error:
                retry = error.headers.get("Retry-After")
                raise CliError(error_message(error.code, _error_text(error.read()), retry), error.code,
                               _seconds(retry)) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(f"cannot reach the server at {self.url}: {reason}") from None
        text = payload.decode("utf-8", "replace")
        if want_text:
            return text
        try:
            return json.loads(text)
        except ValueError:
            raise CliError(f"the server at {self.url} did not answer JSON (is it a toolBox server?)") from None

    def get(self, path: str, **query: Any) -> Any:
        """``GET path?query`` as JSON."""
        return self.request("GET", path, query=query or None)

    def post(self, path: str, body: Any = None) -> Any:
        """``POST path`` with a JSON body (``{}`` when none)."""
        return self.request("POST", path, body={} if body is None else body)


def _error_text(payload: bytes) -> str:
    """The ``error`` of the one JSON error shape, else the start of the body, on one line."""
    text = payload.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        text = data["error"]
    return " ".join(text.split())[:300] or "no details"


def _seconds(value: str | None) -> float | None:
    """A Retry-After given in seconds, else None."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
