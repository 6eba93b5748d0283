"""Attendance: who holds a seat, who waits, who said maybe or no.

The rule itself is the database function `kindred_answer` (scheduler/models/attendance_function.py):
the seat, the FIFO waitlist and promotion, all under the gathering's row lock, in one round
trip, recording what happened as domain events. `set_rsvp` is its one Python entry, used by
the API, the pages, one-click links and series answers; the API's WSGI fast path
(scheduler/web/rsvp_fastpath.py) runs the same statement with the bearer token's owner in
place of the user id. This module also reads attendance back (attendee lists, places).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, literal, select
from sqlalchemy.orm import Session, lazyload

from scheduler.domain.access import shown_name
from scheduler.domain.errors import Conflict, InvalidInput, KindredError, NotAllowed, NotFound
from scheduler.models import Gathering, Rsvp, User
from scheduler.services import events
from scheduler.services.gatherings import access
from scheduler.services.gatherings.access import ANONYMOUS_NAME

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
    waitlist_position: int | None
    email: str | None  # the organizer's view only


# What the function's error codes mean to people (it changed nothing when it answers one).
_CLOSED = {
    "cancelled": "This gathering was cancelled; RSVPs are closed.",
    "ended": "This gathering has ended; RSVPs are closed.",
    "not_scheduled": "This gathering has no time yet; RSVPs open once it is scheduled.",
}


def answer_statement(user_id: ColumnElement[Any]) -> Select[Any]:
    """`SELECT kindred_answer(...)` for the user `user_id` names (a bound id, or a subquery
    such as the owner of a bearer token); bound parameters: gathering_id, response, now,
    origin, take_lock."""
    return select(
        func.kindred_answer(
            bindparam("gathering_id"),
            user_id,
            bindparam("response"),
            bindparam("now"),
            bindparam("origin"),
            bindparam("take_lock"),
        )
    )


_ANSWER_BY_ID = answer_statement(bindparam("user_id"))


def error_for(code: str, gathering_id: int) -> KindredError:
    """The exception that tells people why the function refused an answer."""
    if code in _CLOSED:
        return Conflict(_CLOSED[code])
    if code == "not_found":
        return NotFound(f"No gathering with id {gathering_id}.")
    if code == "invalid_response":
        return InvalidInput("Answer yes, no or maybe.", field="response")
    if code == "not_member":
        return NotAllowed("Only members of the group can answer; join it first.")
    return KindredError(f"The answer was refused ({code}).")


def outcome_from(answer: dict[str, Any]) -> RsvpOutcome:
    """The outcome in the function's JSON."""
    return RsvpOutcome(
        response=answer["response"],
        state=answer["state"],
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
) -> RsvpOutcome:
    """Record the answer: take a seat, join the waitlist, or free a seat (and promote)."""
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
        },
    ).scalar_one()
    if "error" in answer:
        raise error_for(answer["error"], gathering_id)
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
    """Set a new capacity (with the gathering locked): never below the number going; seats
    freed go to the waitlist in order. Returns how many were promoted."""
    if capacity is not None and capacity < gathering.going_count:
        raise InvalidInput(
            f"{gathering.going_count} people are going; capacity cannot be lower than that.",
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
                    anonymous=ANONYMOUS_NAME,
                ),
                response=rsvp.response,
                state=rsvp.state,
                waitlist_position=position if rsvp.state == RsvpState.WAITLISTED else None,
                email=user.email if is_organizer else None,
            )
        )
    return result
