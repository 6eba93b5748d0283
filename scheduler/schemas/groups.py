"""Groups (interest circles)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from scheduler.schemas.accounts import PersonSchema
from scheduler.schemas.common import ArgsSchema, QueryArgsSchema, UTCDateTimeField, interests_field


class GroupArgsSchema(ArgsSchema):
    """Create a group."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    interests = interests_field(required=True)


class GroupQueryArgsSchema(QueryArgsSchema):
    """Filters for listing groups."""

    interest = fields.String(validate=validate.Length(max=120))


class GroupSchema(Schema):
    """A group as the API shows it."""

    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    interests = fields.Function(lambda group: [i.name for i in group.interests])
    organizer = fields.Nested(PersonSchema)
    member_count = fields.Integer()
    feed_url = fields.String()
    created_at = UTCDateTimeField()


class MembershipSchema(Schema):
    """A membership."""

    group_id = fields.Integer()
    user_id = fields.Integer()
    role = fields.String()
    joined_at = UTCDateTimeField()
