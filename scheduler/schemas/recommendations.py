"""Interests autocomplete, aliases, recommendations and people."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from scheduler.domain.interests import MAX_INTEREST_LENGTH
from scheduler.schemas.common import ArgsSchema, QueryArgsSchema, UTCDateTimeField


class InterestQueryArgsSchema(QueryArgsSchema):
    """Autocomplete query."""

    q = fields.String(load_default="", validate=validate.Length(max=MAX_INTEREST_LENGTH * 2))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class InterestCountSchema(Schema):
    """An existing tag and how many people, groups and gatherings use it."""

    name = fields.String()
    count = fields.Integer()


class AliasArgsSchema(ArgsSchema):
    """Make `alias` resolve to `interest` (site administrators only; organizers suggest one
    with AliasSuggestionArgsSchema)."""

    alias = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_INTEREST_LENGTH * 2)
    )
    interest = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_INTEREST_LENGTH * 2)
    )


class AliasSchema(Schema):
    """An alias and the tag it stands for."""

    alias = fields.String()
    interest = fields.String()


class PageArgsSchema(QueryArgsSchema):
    """Paging applied to each recommendation list."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RecommendedGroupSchema(Schema):
    """A group I am not in, with why it fits me."""

    id = fields.Integer()
    name = fields.String()
    shared_interests = fields.List(fields.String())
    reasons = fields.List(fields.String())
    score = fields.Float()


class RecommendedGatheringSchema(Schema):
    """An upcoming gathering I have not answered, with why it fits me."""

    id = fields.Integer()
    title = fields.String()
    starts_at = UTCDateTimeField(allow_none=True)
    group_id = fields.Integer(allow_none=True)
    seats_left = fields.Integer(allow_none=True)
    shared_interests = fields.List(fields.String())
    reasons = fields.List(fields.String())
    score = fields.Float()


class RecommendationsSchema(Schema):
    """Both lists, best first; `page`/`page_size` apply to each."""

    groups = fields.List(fields.Nested(RecommendedGroupSchema))
    gatherings = fields.List(fields.Nested(RecommendedGatheringSchema))
    page = fields.Integer()
    page_size = fields.Integer()
    groups_total = fields.Integer(metadata={"description": "recommended groups over all pages"})
    gatherings_total = fields.Integer(
        metadata={"description": "recommended gatherings over all pages"}
    )


class PersonMatchSchema(Schema):
    """A discoverable person and what connects us."""

    id = fields.Integer()
    name = fields.String()
    shared_interests = fields.List(fields.String())
    times_met = fields.Integer(metadata={"description": "past gatherings we both went to"})


class UnsubscribedSchema(Schema):
    """The outcome of an unsubscribe link."""

    weekly_digest = fields.Boolean()
