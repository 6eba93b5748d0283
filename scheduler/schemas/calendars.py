"""Two-way calendars: a person's own calendar URLs and their busy times on a poll."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from scheduler.schemas.common import ArgsSchema, UTCDateTimeField


class CalendarArgsSchema(ArgsSchema):
    """A calendar to read busy times from."""

    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={
            "description": "the ICS address of your own calendar (https, http or webcal), "
            "e.g. Google's secret address in iCal format"
        },
    )


class CalendarSchema(Schema):
    """One of the caller's calendars and how its last fetch went."""

    id = fields.Integer()
    url = fields.String()
    status = fields.String(metadata={"enum": ["pending", "ok", "failed"]})
    error = fields.String(allow_none=True, metadata={"description": "why the last fetch failed"})
    fetched_at = UTCDateTimeField(allow_none=True)


class BusyIntervalSchema(Schema):
    """A span in which the caller's calendars say they are busy (UTC)."""

    start = UTCDateTimeField()
    end = UTCDateTimeField()


class BusySchema(Schema):
    """The caller's busy times inside a poll's window (no titles or details)."""

    busy = fields.List(fields.Nested(BusyIntervalSchema))
