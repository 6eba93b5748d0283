"""What the organizer sees of a gathering's mail."""

from __future__ import annotations

from marshmallow import Schema, fields

from scheduler.schemas.common import UTCDateTimeField


class FailedMailSchema(Schema):
    """One mail that could not be delivered (the server refused it for good)."""

    kind = fields.String()
    recipient_email = fields.String()
    attempts = fields.Integer()
    error = fields.String()
    due_at = UTCDateTimeField()


class MailStatusSchema(Schema):
    """Counts per mail kind and status (pending, claimed, sent, failed, withdrawn)."""

    gathering_id = fields.Integer()
    counts = fields.Dict(
        keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer())
    )
    failed = fields.List(fields.Nested(FailedMailSchema))
