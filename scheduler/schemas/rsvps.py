"""RSVPs and attendee lists."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_dump, validate

from scheduler.schemas.common import ArgsSchema

STATES = ("going", "waitlisted", "maybe", "not_going")


class RsvpArgsSchema(ArgsSchema):
    """Answer "are you coming?"."""

    response = fields.String(
        required=True,
        validate=validate.OneOf(["yes", "no", "maybe"], error="Answer yes, no or maybe."),
    )
    all_future = fields.Boolean(
        load_default=False,
        metadata={
            "description": "for an occurrence of a series: answer this one and every later "
            "one, including occurrences created later as the series rolls forward"
        },
    )


class _DropEmpty(Schema):
    """Leaves out optional fields that do not apply (e.g. no waitlist place when going)."""

    OMIT_WHEN_NONE: tuple[str, ...] = ()

    @post_dump
    def _drop_empty(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        for name in self.OMIT_WHEN_NONE:
            if data.get(name) is None:
                data.pop(name, None)
        return data


class RsvpSchema(_DropEmpty):
    """The caller's answer and where it leaves them."""

    OMIT_WHEN_NONE = ("waitlist_position",)

    response = fields.String(required=True, metadata={"enum": ["yes", "no", "maybe"]})
    state = fields.String(required=True, metadata={"enum": list(STATES)})
    waitlist_position = fields.Integer(
        metadata={"description": "1 = next to get a seat; only while waitlisted"}
    )
    gathering_id = fields.Integer()
    going_count = fields.Integer()
    seats_left = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})


class AttendeeSchema(_DropEmpty):
    """One person who answered; `email` only in the organizer's view."""

    OMIT_WHEN_NONE = ("waitlist_position", "email")

    user_id = fields.Integer(required=True)
    name = fields.String(required=True)
    response = fields.String(required=True, metadata={"enum": ["yes", "no", "maybe"]})
    state = fields.String(required=True, metadata={"enum": list(STATES)})
    waitlist_position = fields.Integer()
    email = fields.String()
