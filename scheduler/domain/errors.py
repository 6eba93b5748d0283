"""Errors raised by the domain and services, carrying a message meant for the user.

The message is English source text with `%(name)s` placeholders filled from keyword
arguments; the edge shows it in the reader's language (`translated`). Babel's extraction
knows these class names as keywords (babel.cfg), so raise them with a literal message.
"""

from __future__ import annotations

from typing import Any


class Term(str):
    """A word among a message's params that is itself English source text (a weekday): it
    is translated with the message. Mark its literal for extraction with N_."""

    __slots__ = ()


class KindredError(Exception):
    """Base of every user-facing error; `status` is the HTTP status the edge answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, **params: Any) -> None:
        text = message % params if params else message
        super().__init__(text)
        self.message = text
        self.template = message
        self.params = params
        self.field = field

    def translated(self, gettext: Any) -> str:
        """The message in a language: `gettext` maps English source text to its translation."""
        text = gettext(self.template)
        if not self.params:
            return text
        params = {
            name: gettext(value) if isinstance(value, Term) else value
            for name, value in self.params.items()
        }
        return text % params


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
