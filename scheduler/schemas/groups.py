"""Groups (interest circles)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from scheduler.domain.access import JoinPolicy, MemberRole, MemberState
from scheduler.schemas.accounts import PersonSchema
from scheduler.schemas.common import ArgsSchema, QueryArgsSchema, UTCDateTimeField, interests_field


class GroupArgsSchema(ArgsSchema):
    """Create a group."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    interests = interests_field(required=True)
    join_policy = fields.String(
        load_default=JoinPolicy.OPEN.value,
        validate=validate.OneOf([p.value for p in JoinPolicy]),
        metadata={"description": "open (default): join at once; approval: organizers approve"},
    )


class MemberArgsSchema(ArgsSchema):
    """An organizer's change to a membership: a role, or approving a request."""

    role = fields.String(validate=validate.OneOf([r.value for r in MemberRole]))
    state = fields.String(
        validate=validate.OneOf(
            [MemberState.MEMBER.value], error=lazy_gettext("Only member (approve).")
        )
    )

    @validates_schema
    def _something(self, data: dict, **_kwargs: object) -> None:
        if not data:
            raise ValidationError(_("Give role or state."), field_name="role")


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
    join_policy = fields.String()
    member_count = fields.Integer()
    feed_url = fields.String()
    created_at = UTCDateTimeField()


class MembershipSchema(Schema):
    """A membership."""

    group_id = fields.Integer()
    user_id = fields.Integer()
    role = fields.String()
    state = fields.String(metadata={"description": "member, or pending until approved"})
    joined_at = UTCDateTimeField()


class MemberSchema(MembershipSchema):
    """A member as the group's organizers see them."""

    name = fields.String()
