"""marshmallow's and webargs' own error messages in the caller's language.

Fields copy their messages when a schema class is defined, and validators when they are made,
so the messages are translated where they are written out instead: `install()` makes
`Field.make_error` and every validator's `_format_error` look the English template up in the
request's catalogue (Flask-Babel) before filling its `{placeholders}`. A message that is
already a lazy string (a custom one marked with `lazy_gettext`) is written out as it is.
Outside a request (the RSVP fast path checks bodies before Flask) the English stays.

The catalogues need every message as a literal: MESSAGES lists those of the marshmallow
version in use (tests/api/test_api_languages.py checks that none is missing), and the words
marshmallow puts into them (`{obj_type}`, `{awareness}`).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

from flask_babel import get_locale, gettext, lazy_gettext
from flask_babel.speaklater import LazyString
from marshmallow import ValidationError, fields, validate

from scheduler.domain import language

MESSAGES = (
    # marshmallow.fields
    lazy_gettext("Missing data for required field."),
    lazy_gettext("Field may not be null."),
    lazy_gettext("Invalid value."),
    lazy_gettext("Invalid type."),
    lazy_gettext("Not a valid string."),
    lazy_gettext("Not a valid utf-8 string."),
    lazy_gettext("Not a valid number."),
    lazy_gettext("Not a valid integer."),
    lazy_gettext("Number too large."),
    lazy_gettext("Special numeric values (nan or infinity) are not permitted."),
    lazy_gettext("Not a valid boolean."),
    lazy_gettext("Not a valid list."),
    lazy_gettext("Not a valid tuple."),
    lazy_gettext("Not a valid mapping type."),
    lazy_gettext("Not a valid {obj_type}."),
    lazy_gettext("Not a valid {awareness} {obj_type}."),
    lazy_gettext('"{input}" cannot be formatted as a {obj_type}.'),
    lazy_gettext('"{input}" cannot be formatted as a date.'),
    lazy_gettext("Not a valid date."),
    lazy_gettext("Not a valid period of time."),
    lazy_gettext("{input!r} cannot be formatted as a timedelta."),
    lazy_gettext("Not a valid UUID."),
    lazy_gettext("Not a valid URL."),
    lazy_gettext("Not a valid email address."),
    lazy_gettext("Not a valid IP address."),
    lazy_gettext("Not a valid IPv4 address."),
    lazy_gettext("Not a valid IPv6 address."),
    lazy_gettext("Not a valid IP interface."),
    lazy_gettext("Not a valid IPv4 interface."),
    lazy_gettext("Not a valid IPv6 interface."),
    lazy_gettext("Must be one of: {choices}."),
    # marshmallow.Schema, and webargs
    lazy_gettext("Invalid input type."),
    lazy_gettext("Unknown field."),
    lazy_gettext("Invalid JSON body."),
    # marshmallow.validate (Range's message as it puts it together)
    lazy_gettext("Must be greater than or equal to {min}."),
    lazy_gettext("Must be greater than {min}."),
    lazy_gettext("Must be less than or equal to {max}."),
    lazy_gettext("Must be less than {max}."),
    lazy_gettext("Must be greater than or equal to {min} and less than or equal to {max}."),
    lazy_gettext("Must be greater than or equal to {min} and less than {max}."),
    lazy_gettext("Must be greater than {min} and less than or equal to {max}."),
    lazy_gettext("Must be greater than {min} and less than {max}."),
    lazy_gettext("Shorter than minimum length {min}."),
    lazy_gettext("Longer than maximum length {max}."),
    lazy_gettext("Length must be between {min} and {max}."),
    lazy_gettext("Length must be {equal}."),
    lazy_gettext("Must be equal to {other}."),
    lazy_gettext("String does not match expected pattern."),
    lazy_gettext("Invalid input."),
    lazy_gettext("One or more of the choices you made was not in: {choices}."),
    lazy_gettext("One or more of the choices you made was in: {values}."),
)
# what marshmallow fills into `{obj_type}` and `{awareness}`
WORDS = (
    lazy_gettext("datetime"),
    lazy_gettext("date"),
    lazy_gettext("time"),
    lazy_gettext("naive"),
    lazy_gettext("aware"),
)
_TRANSLATED_PARAMS = ("obj_type", "awareness")


def translated(message: Any) -> Any:
    """An English message template in the request's language (a lazy string: its text)."""
    if isinstance(message, LazyString):
        return str(message)
    if isinstance(message, str):
        return gettext(message)
    return message  # a list or dict of messages, as marshmallow allows


def _make_error(self: fields.Field, key: str, **kwargs: Any) -> ValidationError:
    """marshmallow's Field.make_error, the message translated before it is filled."""
    try:
        message = self.error_messages[key]
    except KeyError as error:
        class_name = self.__class__.__name__
        raise AssertionError(
            f"ValidationError raised by `{class_name}`, but error key `{key}` does "
            "not exist in the `error_messages` dictionary."
        ) from error
    message = translated(message)
    if isinstance(message, str | bytes):
        for name in _TRANSLATED_PARAMS:
            if isinstance(kwargs.get(name), str):
                kwargs[name] = gettext(kwargs[name])
        message = message.format(**kwargs)
    return ValidationError(message)


def _translating(format_error: Callable[..., str]) -> Callable[..., str]:
    """A validator's `_format_error` that translates its message (own or passed) first."""

    @functools.wraps(format_error)
    def _format_error(self: validate.Validator, value: Any, *message: Any) -> str:
        clone = copy.copy(self)  # the validator is shared between requests: not changed
        if getattr(clone, "error", None):
            clone.error = translated(clone.error)
        return format_error(clone, value, *(translated(m) for m in message))

    _format_error.kindred_translated = True  # type: ignore[attr-defined]
    return _format_error


def install() -> None:
    """Translate marshmallow's messages from now on (idempotent; called by init_api)."""
    fields.Field.make_error = _make_error  # type: ignore[method-assign]
    for validator in vars(validate).values():
        if not (inspect.isclass(validator) and issubclass(validator, validate.Validator)):
            continue
        format_error = validator.__dict__.get("_format_error")
        if format_error is not None and not getattr(format_error, "kindred_translated", False):
            validator._format_error = _translating(format_error)  # type: ignore[attr-defined]


def caller_locale() -> str:
    """The language the caller is answered in (Flask-Babel's choice), English outside a
    request: for plural texts, whose count `language.translate_plural` writes the caller's way
    ("2.000 Zeichen") where Flask-Babel's `ngettext` writes the bare number."""
    locale = get_locale()
    return language.normalise_locale(str(locale)) if locale else language.DEFAULT_LOCALE
