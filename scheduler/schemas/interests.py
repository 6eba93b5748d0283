"""Interest alias suggestions: what organizers propose and administrators decide."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from scheduler.domain.interests import MAX_INTEREST_LENGTH
from scheduler.models import SuggestionStatus
from scheduler.schemas.common import ArgsSchema, QueryArgsSchema, UTCDateTimeField


class AliasSuggestionArgsSchema(ArgsSchema):
    """Propose that `alias` should mean `interest` (an interest people already use)."""

    alias = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_INTEREST_LENGTH * 2)
    )
    interest = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_INTEREST_LENGTH * 2)
    )
    reason = fields.String(
        load_default="",
        validate=validate.Length(max=500),
        metadata={"description": "why, for the administrator who decides"},
    )


class AliasSuggestionQueryArgsSchema(QueryArgsSchema):
    """Which suggestions to list."""

    status = fields.String(
        load_default=None,
        validate=validate.OneOf(SuggestionStatus.ALL),
        metadata={"description": "only suggestions in this state (default: all)"},
    )


class SuggesterSchema(Schema):
    """Who made a suggestion."""

    id = fields.Integer()
    name = fields.String()


class AliasSuggestionSchema(Schema):
    """A suggested alias and where it stands."""

    id = fields.Integer()
    alias = fields.String()
    interest = fields.String(attribute="interest.name")
    reason = fields.String()
    status = fields.String(metadata={"enum": list(SuggestionStatus.ALL)})
    suggested_by = fields.Nested(SuggesterSchema, allow_none=True)
    created_at = UTCDateTimeField()
    decided_at = UTCDateTimeField(allow_none=True)
