"""Gatherings: create, change, show, list."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from scheduler.domain.access import VISIBILITIES
from scheduler.domain.language import translate_plural
from scheduler.schemas.accounts import PersonSchema
from scheduler.schemas.common import (
    ArgsSchema,
    QueryArgsSchema,
    TimeZoneField,
    UTCDateTimeField,
    database_id_field,
    interests_field,
)
from scheduler.schemas.messages import caller_locale
from scheduler.schemas.rsvps import QuestionSchema, max_guests_field, questions_field

MAX_DURATION_MINUTES = 7 * 24 * 60
MAX_REMINDER_MINUTES = 60 * 24 * 60
STEP_CHOICES = (5, 10, 15, 30, 60)


def _visibility_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.OneOf(
            VISIBILITIES, error=lazy_gettext("Must be one of public, members or unlisted.")
        ),
        metadata={
            "description": "public; members (of its group: 404 to anyone else; the default in "
            "a group); unlisted (by link only, in no listing). Default public outside a group"
        },
        **kwargs,
    )


class PollArgsSchema(ArgsSchema):
    """The "find a time" window of a polled gathering."""

    window_start = UTCDateTimeField(required=True)
    window_end = UTCDateTimeField(required=True)
    step_minutes = fields.Integer(
        load_default=15,
        strict=True,
        validate=validate.OneOf(
            STEP_CHOICES, error=lazy_gettext("Must be one of 5, 10, 15, 30 or 60.")
        ),
    )
    deadline = UTCDateTimeField(
        load_default=None,
        allow_none=True,
        metadata={"description": "the worker schedules the best slot at this time"},
    )
    min_attendees = fields.Integer(
        load_default=1, strict=True, validate=validate.Range(min=1, max=100_000)
    )


ATTENDANCE_MODES = ("in_person", "online", "hybrid")
MAX_ONLINE_URL = 2000


def _attendance_mode_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.OneOf(
            ATTENDANCE_MODES, error=lazy_gettext("Must be one of in_person, online or hybrid.")
        ),
        metadata={"description": "in_person (the default), online or hybrid"},
        **kwargs,
    )


_URL = validate.URL(schemes={"http", "https"}, error=lazy_gettext("Must be an http or https link."))


def _online_url(value: str) -> None:
    """Empty (no link), or an http(s) URL of at most MAX_ONLINE_URL characters."""
    if not value:
        return
    if len(value) > MAX_ONLINE_URL:
        raise ValidationError(
            translate_plural(
                caller_locale(),
                "At most %(num)d character.",
                "At most %(num)d characters.",
                MAX_ONLINE_URL,
            )
        )
    _URL(value)


def _online_url_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=_online_url,
        metadata={
            "description": "the video call link (http or https); shown only to organizers "
            "and people going, and in their invites (CONFERENCE) and personal feeds"
        },
        **kwargs,
    )


def _reminders_field(**kwargs: Any) -> fields.List:
    return fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_REMINDER_MINUTES)),
        validate=validate.Length(max=10),
        metadata={"description": "minutes before the start; default [1440, 60]"},
        **kwargs,
    )


class GatheringArgsSchema(ArgsSchema):
    """Create a gathering: exactly one of `starts_at` or `poll`."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=20_000))
    location = fields.String(load_default="", validate=validate.Length(max=500))
    attendance_mode = _attendance_mode_field(load_default="in_person")
    online_url = _online_url_field(load_default="")
    group_id = database_id_field(load_default=None, allow_none=True)
    visibility = _visibility_field(load_default=None, allow_none=True)
    timezone = TimeZoneField(required=True)
    duration_minutes = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=5, max=MAX_DURATION_MINUTES)
    )
    capacity = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=100_000),
        metadata={"description": "seats; null means unlimited"},
    )
    max_guests = max_guests_field(load_default=0)
    questions = questions_field(load_default=list)
    interests = interests_field(load_default=list)
    starts_at = UTCDateTimeField(load_default=None, allow_none=True)
    poll = fields.Nested(PollArgsSchema, load_default=None, allow_none=True)
    recurrence = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": "an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=TH;COUNT=8: the "
            "gathering becomes a series whose occurrences are gatherings of their own"
        },
    )
    reminders = _reminders_field(load_default=None)
    followup_minutes = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=0, max=30 * 24 * 60)
    )

    @validates_schema
    def _one_way_to_pick_a_time(self, data: dict[str, Any], **_kwargs: Any) -> None:
        has_start = data.get("starts_at") is not None
        has_poll = data.get("poll") is not None
        if has_start == has_poll:
            message = _("Give exactly one of starts_at (a fixed time) or poll (find a time).")
            raise ValidationError({"starts_at": [message], "poll": [message]})


class GatheringPatchArgsSchema(ArgsSchema):
    """Change a gathering (organizer only); every field optional."""

    scope = fields.String(
        load_default="this",
        validate=validate.OneOf(["this", "following"]),
        metadata={
            "description": "for an occurrence of a series: change only this one (default), "
            "or this and all following ones (the series is split; past ones stay)"
        },
    )
    title = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=20_000))
    location = fields.String(validate=validate.Length(max=500))
    attendance_mode = _attendance_mode_field()
    online_url = _online_url_field()
    visibility = _visibility_field()
    timezone = TimeZoneField()
    duration_minutes = fields.Integer(
        strict=True, validate=validate.Range(min=5, max=MAX_DURATION_MINUTES)
    )
    capacity = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=1, max=100_000)
    )
    max_guests = max_guests_field()
    questions = questions_field()
    interests = interests_field()
    starts_at = UTCDateTimeField()
    reminders = _reminders_field()
    followup_minutes = fields.Integer(strict=True, validate=validate.Range(min=0, max=30 * 24 * 60))


class GatheringCancelArgsSchema(ArgsSchema):
    """Cancel a gathering (organizer only); the body is optional."""

    scope = fields.String(
        load_default="this",
        validate=validate.OneOf(["this", "following"]),
        metadata={
            "description": "for an occurrence of a series: cancel only this one (default), "
            "or end the series here (this one and all later ones are cancelled)"
        },
    )


class GatheringQueryArgsSchema(QueryArgsSchema):
    """Filters for listing gatherings."""

    group_id = database_id_field(strict=False)
    interest = fields.String(validate=validate.Length(max=120))
    starts_after = UTCDateTimeField(metadata={"description": "only those starting at or after"})
    starts_before = UTCDateTimeField(metadata={"description": "only those starting before"})
    status = fields.String(
        validate=validate.OneOf(["polling", "scheduled", "cancelled", "completed"])
    )


class PollSchema(Schema):
    """The poll part of a gathering."""

    window_start = UTCDateTimeField()
    window_end = UTCDateTimeField()
    step_minutes = fields.Integer()
    deadline = UTCDateTimeField(allow_none=True)
    min_attendees = fields.Integer()


class OccurrenceSchema(Schema):
    """One occurrence of a series."""

    id = fields.Integer()
    starts_at = UTCDateTimeField()
    status = fields.String()


class GatheringSchema(Schema):
    """A gathering as the API shows it."""

    id = fields.Integer()
    uid = fields.String(metadata={"description": "iCalendar UID, stable for life"})
    sequence = fields.Integer()
    status = fields.String()
    title = fields.String()
    description = fields.String()
    location = fields.String(
        metadata={"description": "empty for people outside its group (members only)"}
    )
    attendance_mode = fields.String()
    online_url = fields.String(
        metadata={"description": "empty unless the caller organizes it or has a seat"}
    )
    group_id = fields.Integer(allow_none=True)
    visibility = fields.String()
    members_only = fields.Boolean(
        metadata={"description": "true when its details (place, who comes) are for members"}
    )
    organizer = fields.Nested(PersonSchema)
    timezone = fields.String()
    duration_minutes = fields.Integer()
    capacity = fields.Integer(allow_none=True)
    going_count = fields.Integer(metadata={"description": "seats taken, guests included"})
    max_guests = fields.Integer()
    questions = fields.List(fields.Nested(QuestionSchema))
    seats_left = fields.Integer(allow_none=True)
    interests = fields.Function(lambda g: [i.name for i in g.interests])
    starts_at = UTCDateTimeField(allow_none=True)
    ends_at = UTCDateTimeField(allow_none=True)
    poll = fields.Nested(PollSchema, allow_none=True)
    reminders = fields.List(fields.Integer())
    followup_minutes = fields.Integer()
    series_id = fields.Integer(allow_none=True)
    recurrence = fields.String(
        allow_none=True, metadata={"description": "the series' RRULE, for occurrences"}
    )
    occurrences = fields.List(
        fields.Nested(OccurrenceSchema),
        metadata={"description": "every materialised occurrence of the series"},
    )
    url = fields.String(metadata={"description": "the gathering's page"})
    ics_url = fields.String()
    created_at = UTCDateTimeField()
