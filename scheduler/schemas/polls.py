"""Polls: answering with availability, the ranked slots, scheduling."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_dump, validate

from scheduler.schemas.accounts import PersonSchema
from scheduler.schemas.common import ArgsSchema, QueryArgsSchema, UTCDateTimeField

MAX_SLOTS_LIMIT = 100


class IntervalArgsSchema(ArgsSchema):
    """One span the caller can make."""

    start = UTCDateTimeField(required=True)
    end = UTCDateTimeField(required=True, metadata={"description": "must be after start"})
    preference = fields.String(
        load_default="yes",
        validate=validate.OneOf(["yes", "ifneedbe"]),
        metadata={"description": "yes (preferred) or ifneedbe"},
    )


class AvailabilityArgsSchema(ArgsSchema):
    """The caller's whole availability for a poll (replaces any earlier answer)."""

    intervals = fields.List(
        fields.Nested(IntervalArgsSchema),
        required=True,
        metadata={"description": "at most 500; clipped to the poll window; may overlap"},
    )


class IntervalSchema(Schema):
    """One stored span (clipped to the window, UTC)."""

    start = UTCDateTimeField()
    end = UTCDateTimeField()
    preference = fields.String()


class AvailabilitySchema(Schema):
    """The caller's current answer."""

    gathering_id = fields.Integer()
    user_id = fields.Integer()
    intervals = fields.List(fields.Nested(IntervalSchema))
    revision = fields.Integer(
        metadata={"description": "the poll's availability revision after this answer"}
    )


class SlotsQueryArgsSchema(QueryArgsSchema):
    """Which slots to show."""

    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=MAX_SLOTS_LIMIT))
    view = fields.String(
        load_default="ranking",
        validate=validate.OneOf(["ranking", "heatmap"]),
        metadata={
            "description": "heatmap (organizer only): counts for the candidate starts of a "
            "week from `since`"
        },
    )
    start = UTCDateTimeField(
        metadata={"description": "who can make this one candidate start (computed now)"}
    )
    since = UTCDateTimeField(
        metadata={
            "description": "with view=heatmap: the page starts at the first candidate at or "
            "after this time (default the window start); within the poll's window, else 422. "
            "Follow `next_since` for the next page"
        }
    )


class SlotSchema(Schema):
    """A candidate start with who can make it."""

    start = UTCDateTimeField()
    end = UTCDateTimeField()
    available = fields.List(fields.Integer(), metadata={"description": "user ids"})
    preferred = fields.List(fields.Integer(), metadata={"description": "user ids (yes)"})


class HeatmapCellSchema(Schema):
    """Counts for one candidate start."""

    start = UTCDateTimeField()
    available_count = fields.Integer()
    preferred_count = fields.Integer()


class SlotsSchema(Schema):
    """The ranking (or heatmap) and how far it reflects the answers."""

    status = fields.String(
        metadata={"description": "pending while an answer is not yet reflected, then ready"}
    )
    revision = fields.Integer(metadata={"description": "answers received (availability revision)"})
    computed_revision = fields.Integer(metadata={"description": "the revision `slots` reflects"})
    computed_at = UTCDateTimeField(allow_none=True)
    participants = fields.Integer(metadata={"description": "people who gave some availability"})
    slots = fields.List(fields.Nested(SlotSchema))
    candidates = fields.List(
        fields.Nested(HeatmapCellSchema),
        metadata={
            "description": "only with view=heatmap: the candidates of one page (a week of "
            "starts from `since`), in start order; a window of a week or less fits in one"
        },
    )
    next_since = UTCDateTimeField(
        allow_none=True,
        metadata={
            "description": "only with view=heatmap: `since` of the next page, null on the last"
        },
    )

    @post_dump
    def _ranking_as_before(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # the ranking's answer keeps the keys it had before the heatmap was paged
        if data.get("candidates") is None:
            data.pop("next_since", None)
        return data


class ScheduleArgsSchema(ArgsSchema):
    """Fix the gathering at one of the poll's candidate starts."""

    start = UTCDateTimeField(required=True)


class ParticipationSchema(Schema):
    """Who has answered the poll, and who has not yet (invitees and group members)."""

    answered = fields.List(fields.Nested(PersonSchema))
    not_answered = fields.List(fields.Nested(PersonSchema))
