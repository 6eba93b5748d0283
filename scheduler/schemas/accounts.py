"""Accounts: sign-up, tokens, the caller's profile."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from scheduler.schemas.common import ArgsSchema, TimeZoneField, UTCDateTimeField, interests_field


class UserArgsSchema(ArgsSchema):
    """Sign-up."""

    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    timezone = TimeZoneField(load_default="UTC")
    interests = interests_field(load_default=list)


class ProfileArgsSchema(ArgsSchema):
    """Profile changes (PATCH /me)."""

    name = fields.String(validate=validate.Length(min=1, max=100))
    timezone = TimeZoneField()
    interests = interests_field()
    share_name = fields.Boolean(
        metadata={"description": "show my name to other attendees in follow-ups"}
    )
    discoverable = fields.Boolean(
        metadata={"description": "let people with shared interests find me"}
    )
    weekly_digest = fields.Boolean(metadata={"description": "a weekly mail of matching gatherings"})
    reminders_enabled = fields.Boolean(metadata={"description": "reminder and follow-up mail"})


class TokenArgsSchema(ArgsSchema):
    """Log-in for a bearer token."""

    email = fields.String(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(max=1024))


class TokenSchema(Schema):
    """A fresh bearer token."""

    token = fields.String(required=True)


class PersonSchema(Schema):
    """Someone as other people see them."""

    id = fields.Integer()
    name = fields.String()


class UserSchema(Schema):
    """A user as the API shows them."""

    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    timezone = fields.String()
    interests = fields.Function(lambda user: [i.name for i in user.interests])
    created_at = UTCDateTimeField()


class MeSchema(UserSchema):
    """The caller, with their secret feed URL and preferences."""

    feed_url = fields.String()
    share_name = fields.Boolean()
    discoverable = fields.Boolean()
    weekly_digest = fields.Boolean()
    reminders_enabled = fields.Boolean()


class FeedUrlSchema(Schema):
    """The personal ICS feed URL."""

    feed_url = fields.String()
    webcal_url = fields.String()
