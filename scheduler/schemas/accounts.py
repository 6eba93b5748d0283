"""Accounts: sign-up, tokens, the caller's profile."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from scheduler.domain.language import SUPPORTED_LOCALES
from scheduler.schemas.common import ArgsSchema, TimeZoneField, UTCDateTimeField, interests_field


def locale_field(**kwargs: Any) -> fields.String:
    """One of the languages Kindred speaks (en, de, fr, es)."""
    return fields.String(validate=validate.OneOf(SUPPORTED_LOCALES), **kwargs)


class UserArgsSchema(ArgsSchema):
    """Sign-up."""

    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    timezone = TimeZoneField(load_default="UTC")
    interests = interests_field(load_default=list)
    locale = locale_field(
        load_default=None,
        metadata={"description": "the language of pages and mail; default: from Accept-Language"},
    )


class ProfileArgsSchema(ArgsSchema):
    """Profile changes (PATCH /me)."""

    name = fields.String(validate=validate.Length(min=1, max=100))
    timezone = TimeZoneField()
    interests = interests_field()
    locale = locale_field(metadata={"description": "the language of pages and mail"})
    share_name = fields.Boolean(
        metadata={"description": "show my name to other attendees in follow-ups"}
    )
    discoverable = fields.Boolean(
        metadata={"description": "let people with shared interests find me"}
    )
    weekly_digest = fields.Boolean(metadata={"description": "a weekly mail of matching gatherings"})
    reminders_enabled = fields.Boolean(metadata={"description": "reminder and follow-up mail"})
    announcements = fields.String(
        validate=validate.OneOf(["each", "weekly", "none"]),
        metadata={"description": "new gatherings and polls in my groups: each, weekly or none"},
    )
    organizer_updates = fields.Boolean(
        metadata={"description": "a daily mail of new answers and comments on what I organize"}
    )
    allow_checkins = fields.Boolean(
        metadata={
            "description": "people I have met may ask me for a one-to-one check-in "
            "(default: on when discoverable)"
        }
    )
    checkin_nudges = fields.Boolean(
        metadata={"description": "an occasional mail about people I have not caught up with"}
    )


class TokenArgsSchema(ArgsSchema):
    """Log-in for a bearer token, with an optional label and expiry."""

    email = fields.String(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(max=1024))
    label = fields.String(
        load_default="",
        validate=validate.Length(max=100),
        metadata={"description": "what the token is for, shown in the token list"},
    )
    expires_at = UTCDateTimeField(
        load_default=None,
        allow_none=True,
        metadata={"description": "the token answers 401 from then on (default: never)"},
    )


class ApiTokenSchema(Schema):
    """One of my API tokens (never its secret)."""

    id = fields.Integer()
    label = fields.String()
    created_at = UTCDateTimeField()
    last_used_at = UTCDateTimeField(allow_none=True)
    expires_at = UTCDateTimeField(allow_none=True)


class EmailArgsSchema(ArgsSchema):
    """An address to mail a link to."""

    email = fields.String(required=True, validate=validate.Length(min=1, max=254))


class EmailLinkArgsSchema(EmailArgsSchema):
    """Ask for a sign-in link, optionally leading to a page of this site afterwards."""

    next = fields.String(
        load_default=None,
        validate=validate.Length(max=2000),
        metadata={"description": "a path on this site to open after signing in, e.g. a poll"},
    )


class AcceptedSchema(Schema):
    """A request taken: what happens next."""

    message = fields.String()


class SignUpPendingSchema(AcceptedSchema):
    """A sign-up with an address an unconfirmed account holds: its owner was mailed."""

    email = fields.String()
    email_verified = fields.Boolean()


class PasswordArgsSchema(ArgsSchema):
    """The caller's password, to confirm something that cannot be undone."""

    password = fields.String(required=True, validate=validate.Length(max=1024))


class PasswordChangeArgsSchema(ArgsSchema):
    """A new password, with the current one."""

    current_password = fields.String(load_default="", validate=validate.Length(max=1024))
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class EmailChangeArgsSchema(ArgsSchema):
    """A new address (it takes effect once the link mailed there is followed)."""

    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(load_default="", validate=validate.Length(max=1024))


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
    email_verified = fields.Function(lambda user: user.email_verified_at is not None)
    created_at = UTCDateTimeField()


class MeSchema(UserSchema):
    """The caller, with their secret feed URL and preferences."""

    feed_url = fields.String()
    locale = fields.String()
    has_password = fields.Boolean()
    share_name = fields.Boolean()
    discoverable = fields.Boolean()
    weekly_digest = fields.Boolean()
    reminders_enabled = fields.Boolean()
    announcements = fields.String()
    organizer_updates = fields.Boolean()
    allow_checkins = fields.Boolean(attribute="accepts_checkins")
    checkin_nudges = fields.Boolean()


class FeedUrlSchema(Schema):
    """The personal ICS feed URL."""

    feed_url = fields.String()
    webcal_url = fields.String()
