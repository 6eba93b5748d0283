"""Attendance: who holds a seat, who waits, who said maybe or no.

The rule itself is the database function `kindred_answer` (scheduler/models/attendance_function.py):
the seat, the FIFO waitlist and promotion, all under the gathering's row lock, in one round
trip, recording what happened as domain events; guests take seats with the person who brings
them, and required questions must be answered to say yes. `set_rsvp` is its one Python entry, used by
the API, the pages, one-click links and series answers; the API's WSGI fast path
(scheduler/web/rsvp_fastpath.py) runs the same statement with the bearer token's owner in
place of the user id. This module also keeps a gathering's guest limit and questions, and
reads attendance back (attendee lists, places, the organizers' table of answers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    bindparam,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, lazyload

from scheduler.domain.access import shown_name
from scheduler.domain.errors import Conflict, InvalidInput, KindredError, NotAllowed, NotFound
from scheduler.domain.questions import Question, answer_rows, questions_of, revise_questions
from scheduler.models import Gathering, Rsvp, User
from scheduler.services import events
from scheduler.services.gatherings import access
from scheduler.services.groups.access import anonymous_name

# Test-only switch: False drops the row lock so a negative-control test can show the race.
LOCKING = True

RESPONSES = ("yes", "no", "maybe")
# Answers that put the gathering in the person's calendar (and keep it in their feed).
CALENDAR_STATES = ("going", "waitlisted", "maybe")


class RsvpState:
    """Where an answer leaves the attendee."""

    GOING = "going"
    WAITLISTED = "waitlisted"
    MAYBE = "maybe"
    NOT_GOING = "not_going"


class AnswerOrigin:
    """How an answer was given (it decides the mail: one series invite, or one per date)."""

    SINGLE = "single"
    SERIES = "series"


@dataclass(frozen=True)
class RsvpOutcome:
    """The caller's answer after an RSVP, and their waitlist place if they have one."""

    response: str
    state: str
    guests: int
    waitlist_position: int | None
    changed: bool
    gathering_id: int
    going_count: int
    seats_left: int | None


@dataclass(frozen=True)
class Attendee:
    """One row of a gathering's attendee list."""

    user_id: int
    name: str
    response: str
    state: str
    guests: int
    waitlist_position: int | None
    email: str | None  # the organizer's view only
    answers: dict[str, str] | None  # the organizer's view only


def answer_statement(user_id: ColumnElement[Any]) -> Select[Any]:
    """`SELECT kindred_answer(...)` for the user `user_id` names (a bound id, or a subquery
    such as the owner of a bearer token); bound parameters: gathering_id, response, now,
    origin, take_lock, guests (None: as before) and answers (JSON text, or None)."""
    return select(
        func.kindred_answer(
            bindparam("gathering_id"),
            user_id,
            bindparam("response"),
            bindparam("now"),
            bindparam("origin"),
            bindparam("take_lock"),
            bindparam("guests", type_=Integer),
            bindparam("answers", type_=Text),
        )
    )


def answers_param(answers: Mapping[str, str] | None) -> str | None:
    """The `answers` parameter of the statement."""
    return None if answers is None else json.dumps(dict(answers))


_ANSWER_BY_ID = answer_statement(bindparam("user_id"))


def error_for(answer: Mapping[str, Any], gathering_id: int) -> KindredError:
    """The exception that tells people why the function refused an answer (the function
    changed nothing when it answers an error code)."""
    code = answer["error"]
    if code == "cancelled":
        return Conflict("This gathering was cancelled; RSVPs are closed.")
    if code == "ended":
        return Conflict("This gathering has ended; RSVPs are closed.")
    if code == "not_scheduled":
        return Conflict("This gathering has no time yet; RSVPs open once it is scheduled.")
    if code == "not_found":
        return NotFound("No gathering with id %(id)s.", id=gathering_id)
    if code == "invalid_response":
        return InvalidInput("Answer yes, no or maybe.", field="response")
    if code == "not_member":
        return NotAllowed("Only members of the group can answer; join it first.")
    if code == "invalid_guests":
        return InvalidInput("Guests cannot be fewer than 0.", field="guests")
    if code == "too_many_guests":
        most = answer["max_guests"]
        # one message per count form: the count is known only where the language is not
        if most == 0:
            return InvalidInput("This gathering allows no guests per person.", field="guests")
        if most == 1:
            return InvalidInput("This gathering allows at most 1 guest per person.", field="guests")
        return InvalidInput(
            "This gathering allows at most %(count)s guests per person.", count=most, field="guests"
        )
    if code == "no_seats_for_guests":
        free, kept = answer["seats_free"], answer["guests"]
        if kept == 1:
            return Conflict(
                "Not enough free seats for more guests (free: %(free)s, and people may be "
                "waiting); you keep your seat with 1 guest.",
                free=free,
                field="guests",
            )
        return Conflict(
            "Not enough free seats for more guests (free: %(free)s, and people may be "
            "waiting); you keep your seat with %(count)s guests.",
            free=free,
            count=kept,
            field="guests",
        )
    if code == "unknown_question":
        question = answer["question"]
        return InvalidInput(
            "This gathering has no question %(id)s.", id=question, field=f"answers.{question}"
        )
    if code == "answer_required":
        question = answer["question"]
        return InvalidInput(
            "This question must be answered to say yes.", field=f"answers.{question}"
        )
    return KindredError("The answer was refused (%(code)s).", code=code)


def outcome_from(answer: dict[str, Any]) -> RsvpOutcome:
    """The outcome in the function's JSON."""
    return RsvpOutcome(
        response=answer["response"],
        state=answer["state"],
        guests=answer["guests"],
        waitlist_position=answer["waitlist_position"],
        changed=answer["changed"],
        gathering_id=answer["gathering_id"],
        going_count=answer["going_count"],
        seats_left=answer["seats_left"],
    )


def set_rsvp(
    session: Session,
    gathering_id: int,
    user_id: int,
    response: str,
    *,
    now: datetime,
    origin: str = AnswerOrigin.SINGLE,
    guests: int | None = None,
    answers: Mapping[str, str] | None = None,
) -> RsvpOutcome:
    """Record the answer: take seats for the person and their `guests` (None: as many as
    before), join the waitlist, or free seats (and promote); keep their `answers`."""
    if response not in RESPONSES:
        raise InvalidInput("Answer yes, no or maybe.", field="response")
    answer = session.execute(
        _ANSWER_BY_ID,
        {
            "gathering_id": gathering_id,
            "user_id": user_id,
            "response": response,
            "now": now,
            "origin": origin,
            "take_lock": LOCKING,
            "guests": guests,
            "answers": answers_param(answers),
        },
    ).scalar_one()
    if "error" in answer:
        raise error_for(answer, gathering_id)
    if answers is not None:
        _forget_loaded(session, gathering_id)
    if answer["changed"]:
        _forget_loaded(session, gathering_id)
        events.announce_after_commit(session)
    return outcome_from(answer)


def _forget_loaded(session: Session, gathering_id: int) -> None:
    """The function changed rows behind the ORM's back: loaded copies must be read again."""
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, Gathering) and obj.id == gathering_id) or (
            isinstance(obj, Rsvp) and obj.gathering_id == gathering_id
        ):
            session.expire(obj)


def change_capacity(
    session: Session, gathering: Gathering, capacity: int | None, *, now: datetime
) -> int:
    """Set a new capacity (with the gathering locked): never below the seats taken; seats
    freed go to the waitlist in order. Returns how many seats the waitlist took."""
    if capacity is not None and capacity < gathering.going_count:
        if gathering.going_count == 1:
            raise InvalidInput(
                "1 seat is taken (people going and their guests); capacity cannot be lower "
                "than that.",
                field="capacity",
            )
        raise InvalidInput(
            "%(count)s seats are taken (people going and their guests); capacity cannot be "
            "lower than that.",
            count=gathering.going_count,
            field="capacity",
        )
    gathering.capacity = capacity
    session.flush()
    seated = int(
        session.scalar(select(func.kindred_fill_seats(literal(gathering.id), literal(now)))) or 0
    )
    if seated:
        session.refresh(gathering, ["going_count", "revision", "updated_at"])
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Rsvp) and obj.gathering_id == gathering.id:
                session.expire(obj)
        events.announce_after_commit(session)
    return seated


def waitlist_position(session: Session, rsvp: Rsvp) -> int | None:
    """1 for the next person to get a seat; None when not on the waitlist."""
    if rsvp.state != RsvpState.WAITLISTED or rsvp.waitlist_ticket is None:
        return None
    place = func.kindred_waitlist_place(literal(rsvp.gathering_id), literal(rsvp.waitlist_ticket))
    return int(session.scalar(select(place)))


def get_rsvp(session: Session, gathering_id: int, user_id: int) -> Rsvp | None:
    """The user's RSVP for the gathering, if any."""
    return session.scalars(
        select(Rsvp).where(Rsvp.gathering_id == gathering_id, Rsvp.user_id == user_id)
    ).first()


_STATE_ORDER = {
    RsvpState.GOING: 0,
    RsvpState.WAITLISTED: 1,
    RsvpState.MAYBE: 2,
    RsvpState.NOT_GOING: 3,
}


def _attendee_order(rsvp: Rsvp) -> tuple[int, int, datetime, int]:
    ticket = rsvp.waitlist_ticket or 0 if rsvp.state == RsvpState.WAITLISTED else 0
    return (_STATE_ORDER.get(rsvp.state, 9), ticket, rsvp.updated_at, rsvp.id)


def attendees(session: Session, gathering: Gathering, viewer: User) -> list[Attendee]:
    """Who answered, for `viewer`: organizers see everyone (with emails); others see names.

    Who may see the list at all, and who sees emails, is services/gatherings/access.py's
    rule (a group's members and organizers; outside a group, anyone signed in). Others see
    going, waitlisted and maybe (not who declined), and people who chose not to share their
    name appear anonymously.
    """
    rights = access.require_visible(session, gathering, viewer)
    if not rights.see_attendees:
        raise NotAllowed("Only members of the group can see who is coming.")
    is_organizer = rights.manage
    rows = session.execute(
        select(Rsvp, User)
        .join(User, User.id == Rsvp.user_id)
        .where(Rsvp.gathering_id == gathering.id)
        .options(lazyload("*"))
    ).all()
    rows.sort(key=lambda row: _attendee_order(row[0]))
    result: list[Attendee] = []
    position = 0
    for rsvp, user in rows:
        if rsvp.state == RsvpState.WAITLISTED:
            position += 1
        if not is_organizer and rsvp.state == RsvpState.NOT_GOING:
            continue
        result.append(
            Attendee(
                user_id=user.id,
                name=shown_name(
                    user.name,
                    shares_name=user.share_name,
                    is_viewer=user.id == viewer.id,
                    viewer_manages=is_organizer,
                    anonymous=anonymous_name(viewer.locale),
                ),
                response=rsvp.response,
                state=rsvp.state,
                guests=rsvp.guests,
                waitlist_position=position if rsvp.state == RsvpState.WAITLISTED else None,
                email=user.email if is_organizer else None,
                answers=dict(rsvp.answers) if is_organizer else None,
            )
        )
    return result


def apply_rsvp_settings(
    session: Session, gathering: Gathering, args: Mapping[str, Any]
) -> set[str]:
    """Set the guest limit and questions `args` gives (of those it names); returns the names
    changed. Answers to questions that are removed go with them. Guests already coming stay
    when the limit is lowered, and a new required question is asked of people who answer
    from then on (those already going keep their seats)."""
    changed: set[str] = set()
    if args.get("max_guests") is not None and args["max_guests"] != gathering.max_guests:
        gathering.max_guests = args["max_guests"]
        changed.add("max_guests")
    if args.get("questions") is not None:
        current = questions_of(gathering.questions)
        revised = revise_questions(current, args["questions"])
        if revised != current:
            gathering.questions = [q.stored() for q in revised]
            changed.add("questions")
            removed = [str(q.id) for q in current if q.id not in {r.id for r in revised}]
            if removed and gathering.id is not None:
                session.execute(
                    update(Rsvp)
                    .where(Rsvp.gathering_id == gathering.id)
                    .values(
                        answers=Rsvp.answers.op("-")(bindparam("removed", removed, ARRAY(Text)))
                    )
                    .execution_options(synchronize_session=False)
                )
    return changed


ATTENDEE_COLUMNS = ("name", "email", "state", "response", "guests", "waitlist_position")


@dataclass(frozen=True)
class AttendeeTable:
    """The organizers' table of attendees: one row per person who answered."""

    questions: Sequence[Question]
    header: list[str]
    rows: list[list[str]]


def attendee_table(session: Session, gathering: Gathering, viewer: User) -> AttendeeTable:
    """Every attendee with their state, guests and answers, for the gathering's organizers
    (services/gatherings/access.py's `manage`)."""
    access.require_manager(session, gathering, viewer)
    questions = questions_of(gathering.questions)
    rows = [
        [
            person.name,
            person.email or "",
            person.state,
            person.response,
            str(person.guests),
            "" if person.waitlist_position is None else str(person.waitlist_position),
            *answer_rows(questions, person.answers or {}),
        ]
        for person in attendees(session, gathering, viewer)
    ]
    return AttendeeTable(
        questions=questions, header=[*ATTENDEE_COLUMNS, *(q.text for q in questions)], rows=rows
    )
