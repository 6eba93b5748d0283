"""Comments and organizers' messages on a gathering."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from scheduler.models import MESSAGE_AUDIENCES
from scheduler.schemas.common import ArgsSchema, UTCDateTimeField
from scheduler.services.gatherings.comments import MAX_BODY as MAX_COMMENT
from scheduler.services.gatherings.messages import MAX_BODY as MAX_MESSAGE
from scheduler.services.gatherings.messages import MAX_SUBJECT


class CommentArgsSchema(ArgsSchema):
    """A new comment."""

    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_COMMENT))


class AuthorSchema(Schema):
    """Who wrote a comment, as the caller may see their name."""

    id = fields.Integer()
    name = fields.String()


class CommentSchema(Schema):
    """One comment; `can_delete` says whether the caller may delete it."""

    id = fields.Integer()
    body = fields.String()
    author = fields.Nested(AuthorSchema)
    created_at = UTCDateTimeField()
    can_delete = fields.Boolean()


class MessageArgsSchema(ArgsSchema):
    """A message to the gathering's people."""

    subject = fields.String(required=True, validate=validate.Length(min=1, max=MAX_SUBJECT))
    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_MESSAGE))
    to = fields.String(
        required=True,
        validate=validate.OneOf(list(MESSAGE_AUDIENCES)),
        metadata={"description": "going; attending (going, waitlisted, maybe); all who answered"},
    )


class MessageSchema(Schema):
    """A message as sent (its mail is owed through the outbox)."""

    id = fields.Integer()
    subject = fields.String()
    body = fields.String()
    to = fields.String(attribute="audience")
    created_at = UTCDateTimeField()
