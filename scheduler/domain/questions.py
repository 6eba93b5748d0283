"""Questions an organizer asks the people who answer a gathering ("Any dietary needs?").

A gathering keeps its questions as a list of `{"id", "text", "required"}`; answers are kept
with each RSVP, keyed by the question's id. Ids stay the same across edits (an answer keeps
its question); answers to a removed question are removed with it.
Whether a required question was answered before a "yes" is the attendance function's rule
(scheduler/models/attendance_function.py), so that every way of answering meets it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scheduler.domain.errors import InvalidInput

MAX_QUESTIONS = 20
MAX_QUESTION_LENGTH = 500
MAX_ANSWER_LENGTH = 2000


@dataclass(frozen=True)
class Question:
    """One question; `required` ones must be answered to say yes."""

    id: int
    text: str
    required: bool = False

    def stored(self) -> dict[str, Any]:
        """The JSON kept on the gathering."""
        return {"id": self.id, "text": self.text, "required": self.required}


def questions_of(stored: Sequence[Mapping[str, Any]] | None) -> list[Question]:
    """The gathering's questions, in the organizer's order."""
    return [
        Question(id=int(q["id"]), text=str(q["text"]), required=bool(q.get("required")))
        for q in stored or ()
    ]


def revise_questions(
    current: Sequence[Question], requested: Sequence[Mapping[str, Any]]
) -> list[Question]:
    """The questions after an organizer's edit, in the order asked for.

    An entry with the id of a current question changes that question; one without an id is
    a new question (the next id above the current ones); current questions left out are
    removed. An id that is not a current question is refused.
    """
    known = {q.id for q in current}
    next_id = max(known, default=0) + 1
    seen: set[int] = set()
    revised: list[Question] = []
    for index, entry in enumerate(requested):
        text = str(entry["text"]).strip()
        if not text:
            raise InvalidInput("A question needs some text.", field=f"questions.{index}.text")
        qid = entry.get("id")
        if qid is None:
            qid, next_id = next_id, next_id + 1
        elif qid not in known:
            raise InvalidInput(
                "This gathering has no question %(id)s; leave id out to add a question.",
                id=qid,
                field=f"questions.{index}.id",
            )
        elif qid in seen:
            raise InvalidInput(
                "Question %(id)s is listed twice.", id=qid, field=f"questions.{index}.id"
            )
        seen.add(qid)
        revised.append(Question(id=qid, text=text, required=bool(entry.get("required"))))
    return revised


def answer_rows(questions: Sequence[Question], answers: Mapping[str, str]) -> list[str]:
    """One person's answers in the order of the questions ("" where unanswered)."""
    return [answers.get(str(q.id), "") for q in questions]
