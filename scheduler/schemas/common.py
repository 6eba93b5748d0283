"""Fields and base schemas shared by every API schema."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext, lazy_gettext
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate

from scheduler.domain.date_bounds import OUT_OF_RANGE, is_within_bounds
from scheduler.domain.errors import InvalidInput
from scheduler.domain.interests import MAX_INTEREST_LENGTH, MAX_INTERESTS
from scheduler.domain.timezones import zone

# NUL and lone UTF-16 surrogates (JSON's "\ud800"): PostgreSQL text cannot hold them, so such
# input would otherwise fail at the database, after the checks, as a 500.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_UNSTORABLE_MESSAGE = lazy_gettext("Text cannot contain NUL characters or unpaired surrogates.")


def _has_unstorable_text(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_unstorable_text(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_unstorable_text(v) for v in value)
    return False


class InputSchema(Schema):
    """Base of every input schema: text the database cannot store is refused, naming the field."""

    @pre_load
    def _refuse_unstorable_text(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, dict):
            bad = {
                str(k): [str(_UNSTORABLE_MESSAGE)]
                for k, v in data.items()
                if _has_unstorable_text(v)
            }
            if bad:
                raise ValidationError(bad)
        return data


class ArgsSchema(InputSchema):
    """Input schema: unknown fields are an error, not silently dropped."""

    class Meta:
        unknown = RAISE


class UTCDateTimeField(fields.DateTime):
    """ISO 8601 with a required offset on input, within the years Kindred keeps
    (domain/date_bounds.py); UTC with `Z` on output."""

    default_error_messages = {
        "naive": lazy_gettext("Give the time with a UTC offset, e.g. 2026-12-01T18:00:00+01:00."),
        "invalid": lazy_gettext("Not a valid ISO 8601 datetime."),
        "out_of_range": OUT_OF_RANGE,
    }

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or len(value) > 64:
            raise self.make_error("invalid")
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise self.make_error("naive")
        try:
            instant = parsed.astimezone(UTC)
        except OverflowError as exc:  # year 1 or 9999 pushed past the calendar by the offset
            raise self.make_error("out_of_range") from exc
        if not is_within_bounds(instant):
            raise self.make_error("out_of_range")
        return instant


class TimeZoneField(fields.String):
    """An IANA time zone name."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs)
        try:
            zone(name)
        except InvalidInput as exc:
            raise ValidationError(exc.translated(gettext)) from exc
        return name


MAX_DATABASE_ID = 2**31 - 1  # ids are PostgreSQL integers: a larger one is no query parameter


def database_id_field(*, strict: bool = True, **kwargs: Any) -> fields.Integer:
    """The id of a row: a whole number from 1 to what an id column holds (`strict`: a JSON
    number, not text; query strings are text)."""
    return fields.Integer(
        strict=strict, validate=validate.Range(min=1, max=MAX_DATABASE_ID), **kwargs
    )


def interests_field(**kwargs: Any) -> fields.List:
    """A list of interest tags (normalised by the service)."""
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=MAX_INTEREST_LENGTH * 2)),
        validate=validate.Length(max=MAX_INTERESTS),
        **kwargs,
    )


def interest_names(obj: Any) -> list[str]:
    """Dump helper: the names of an object's interests."""
    return [interest.name for interest in obj.interests]


class ErrorSchema(Schema):
    """The one error shape of the API."""

    code = fields.Integer(metadata={"description": "HTTP status"})
    status = fields.String(metadata={"description": "HTTP reason phrase"})
    error = fields.String(metadata={"description": "machine-readable error kind"})
    message = fields.String()
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "field name (dotted for nested fields) → messages"},
    )


class QueryArgsSchema(InputSchema):
    """Query-string filters: unknown parameters (paging, cache busters) are ignored."""

    class Meta:
        unknown = EXCLUDE


class WithExtra:
    """An object plus computed attributes for a schema to dump (e.g. a user and their feed URL)."""

    def __init__(self, obj: Any, **extra: Any) -> None:
        self._obj = obj
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__["_extra"]
        if name in extra:
            return extra[name]
        return getattr(self.__dict__["_obj"], name)
