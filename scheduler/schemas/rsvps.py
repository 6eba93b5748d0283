"""RSVPs and attendee lists."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates

from scheduler.domain.language import translate_plural
from scheduler.domain.questions import MAX_ANSWER_LENGTH, MAX_QUESTION_LENGTH, MAX_QUESTIONS
from scheduler.schemas.common import ArgsSchema
from scheduler.schemas.messages import caller_locale

STATES = ("going", "waitlisted", "maybe", "not_going")
MAX_GUESTS = 100
QUESTION_ID = re.compile(r"[1-9][0-9]{0,5}")


def max_guests_field(**kwargs: Any) -> fields.Integer:
    """A gathering's `max_guests`: how many guests one person may bring."""
    return fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=MAX_GUESTS),
        metadata={"description": "guests one person may bring, each taking a seat; 0: none"},
        **kwargs,
    )


class QuestionArgsSchema(ArgsSchema):
    """A question to people who answer; with the `id` of an existing one, changes it."""

    id = fields.Integer(strict=True, validate=validate.Range(min=1, max=999_999))
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_QUESTION_LENGTH))
    required = fields.Boolean(
        load_default=False, metadata={"description": "must be answered to say yes"}
    )


def questions_field(**kwargs: Any) -> fields.List:
    """A gathering's `questions` (the whole list: questions left out are removed)."""
    return fields.List(
        fields.Nested(QuestionArgsSchema),
        validate=validate.Length(max=MAX_QUESTIONS),
        metadata={
            "description": "questions to people who answer (all of them: those left out are "
            "removed with their answers); answers are shown to organizers only"
        },
        **kwargs,
    )


class QuestionSchema(Schema):
    """A question as the API shows it."""

    id = fields.Integer()
    text = fields.String()
    required = fields.Boolean()


class RsvpArgsSchema(ArgsSchema):
    """Answer "are you coming?"."""

    response = fields.String(
        required=True,
        validate=validate.OneOf(
            ["yes", "no", "maybe"], error=lazy_gettext("Answer yes, no or maybe.")
        ),
    )
    all_future = fields.Boolean(
        load_default=False,
        metadata={
            "description": "for an occurrence of a series: answer this one and every later "
            "one, including occurrences created later as the series rolls forward"
        },
    )
    guests = fields.Integer(
        load_default=None,
        strict=True,
        validate=validate.Range(min=0, max=MAX_GUESTS),
        metadata={
            "description": "people you bring (up to the gathering's max_guests); they take "
            "seats with you, or wait with you. Left out: as before (0 at first)"
        },
    )
    answers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        load_default=None,
        metadata={
            "description": "{question_id: text}: answers to the gathering's questions (an "
            "empty text takes one back); required ones are needed to say yes"
        },
    )

    @validates("answers")
    def _answers_name_questions(self, answers: dict[str, str] | None, **_kwargs: Any) -> None:
        problems = {}
        for key, text in (answers or {}).items():
            if not QUESTION_ID.fullmatch(key):
                problems[key] = [_("Not a question id.")]
            elif len(text) > MAX_ANSWER_LENGTH:
                problems[key] = [
                    translate_plural(
                        caller_locale(),
                        "At most %(num)d character.",
                        "At most %(num)d characters.",
                        MAX_ANSWER_LENGTH,
                    )
                ]
        if problems:
            raise ValidationError(problems)


class _DropEmpty(Schema):
    """Leaves out optional fields that do not apply (e.g. no waitlist place when going)."""

    OMIT_WHEN_NONE: tuple[str, ...] = ()

    @post_dump
    def _drop_empty(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        for name in self.OMIT_WHEN_NONE:
            if data.get(name) is None:
                data.pop(name, None)
        return data


class RsvpSchema(_DropEmpty):
    """The caller's answer and where it leaves them."""

    OMIT_WHEN_NONE = ("waitlist_position",)

    response = fields.String(required=True, metadata={"enum": ["yes", "no", "maybe"]})
    state = fields.String(required=True, metadata={"enum": list(STATES)})
    guests = fields.Integer(metadata={"description": "people you bring"})
    waitlist_position = fields.Integer(
        metadata={"description": "1 = next to get a seat; only while waitlisted"}
    )
    gathering_id = fields.Integer()
    going_count = fields.Integer(metadata={"description": "seats taken, guests included"})
    seats_left = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})


class AttendeeSchema(_DropEmpty):
    """One person who answered; `email` and `answers` only in the organizer's view."""

    OMIT_WHEN_NONE = ("waitlist_position", "email", "answers")

    user_id = fields.Integer(required=True)
    name = fields.String(required=True)
    response = fields.String(required=True, metadata={"enum": ["yes", "no", "maybe"]})
    state = fields.String(required=True, metadata={"enum": list(STATES)})
    guests = fields.Integer(metadata={"description": "people they bring"})
    waitlist_position = fields.Integer()
    email = fields.String()
    answers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "{question_id: text}"},
    )
