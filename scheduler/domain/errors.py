"""Errors raised by the domain and services, carrying a message meant for the user."""

from __future__ import annotations


class KindredError(Exception):
    """Base of every user-facing error; `status` is the HTTP status the edge answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(KindredError):
    """The input breaks a rule; `field` names the culprit."""

    status = 422
    code = "validation_error"


class NotAuthenticated(KindredError):
    """No or an invalid credential."""

    status = 401
    code = "unauthorized"


class NotAllowed(KindredError):
    """Authenticated, but not allowed to do this."""

    status = 403
    code = "forbidden"


class NotFound(KindredError):
    """No such thing (or not visible to the caller)."""

    status = 404
    code = "not_found"


class Gone(KindredError):
    """The thing exists but can no longer be shown (e.g. a stored value nothing can read)."""

    status = 410
    code = "gone"


class Conflict(KindredError):
    """The request clashes with the current state (email taken, RSVPs closed, ...)."""

    status = 409
    code = "conflict"
