"""The errors toolBox raises, each carrying the HTTP status and a message safe to show.

They subclass ``tornado.web.HTTPError`` so that a handler can let them propagate and
the base handler answers ``{"status": false, "error": message}`` with the right code.
Plain objects in ``toolbox/`` raise them too: the status is part of what went wrong.
"""

from tornado.web import HTTPError


class ToolboxError(HTTPError):
    """Base class: ``status`` is the HTTP status, ``message`` what the client is told."""

    status = 500

    def __init__(self, message: str, status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status or self.status)
        self.message = message
        self.headers = headers or {}

    def __str__(self) -> str:
        return self.message


class ValidationError(ToolboxError, ValueError):
    """The request is malformed: a field is missing, of the wrong type or out of range."""

    status = 400


class AuthError(ToolboxError):
    """No valid credentials."""

    status = 401


class Forbidden(ToolboxError):
    """Valid credentials that may not do this (a disabled agent, a viewer writing)."""

    status = 403


class NotFound(ToolboxError):
    status = 404


class Conflict(ToolboxError):
    status = 409


class TooLarge(ToolboxError):
    status = 413


class RateLimited(ToolboxError):
    """Too many requests; ``retry_after`` seconds until the next one may succeed."""

    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        retry_after = max(1, int(retry_after + 0.999))
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class Unavailable(ToolboxError):
    status = 503
