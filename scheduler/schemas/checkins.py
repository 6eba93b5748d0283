"""Check-ins: ask, answer, list."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from scheduler.schemas.common import ArgsSchema, UTCDateTimeField, database_id_field


class CheckinArgsSchema(ArgsSchema):
    """Ask someone you have met for a check-in."""

    with_ = database_id_field(
        required=True, data_key="with", metadata={"description": "the person's user id"}
    )
    every_weeks = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=52),
        metadata={"description": "make it a habit: the next is proposed after each one ends"},
    )


class CheckinAnswerArgsSchema(ArgsSchema):
    """Accept one of the proposed times."""

    choice = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=20),
        metadata={"description": "the index of the proposed time"},
    )


class CheckinPersonSchema(Schema):
    """One of the two."""

    id = fields.Integer()
    name = fields.String()


class CheckinSchema(Schema):
    """A check-in as either of the two sees it."""

    id = fields.Integer()
    status = fields.String(metadata={"description": "proposed, accepted, declined or stopped"})
    asker = fields.Nested(CheckinPersonSchema)
    invitee = fields.Nested(CheckinPersonSchema)
    every_weeks = fields.Integer(allow_none=True)
    duration_minutes = fields.Integer()
    proposals = fields.List(UTCDateTimeField())
    chosen_start = UTCDateTimeField(allow_none=True)
    next_date = UTCDateTimeField(
        allow_none=True, metadata={"description": "the agreed time, else the earliest proposal"}
    )
    gathering_id = fields.Integer(allow_none=True)
    created_at = UTCDateTimeField()
