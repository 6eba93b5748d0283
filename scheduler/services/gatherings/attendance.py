"""RSVPs: seats, the FIFO waitlist and promotion from it, never oversold.

Every change to who holds a seat happens with the gathering's row locked (SELECT ... FOR
UPDATE on PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE), and the counts
(`going_count`, `waitlist_counter`) are read and written inside that lock. The unique
(gathering, user) constraint makes a second RSVP row for the same person impossible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, lazyload

from scheduler.domain.errors import Conflict, InvalidInput, NotAllowed, NotFound
from scheduler.models import Gathering, GatheringStatus, Rsvp, User
from scheduler.services.groups.circles import membership
from scheduler.services.mail import calendar_mail

# Test-only switch: False drops the row lock so a negative-control test can show the race.
LOCKING = True

RESPONSES = ("yes", "no", "maybe")


class RsvpState:
    """Where an answer leaves the attendee."""

    GOING = "going"
    WAITLISTED = "waitlisted"
    MAYBE = "maybe"
    NOT_GOING = "not_going"


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


def _locked(stmt: Any) -> Any:
    # lazyload("*"): the hot path needs no relationships; they load if a hook asks for them
    stmt = stmt.options(lazyload("*")).execution_options(populate_existing=True)
    return stmt.with_for_update(of=Gathering) if LOCKING else stmt


def lock_gathering(session: Session, gathering_id: int) -> Gathering:
    """Load the gathering with its row locked for the rest of the transaction, or NotFound."""
    gathering = session.scalars(
        _locked(select(Gathering).where(Gathering.id == gathering_id))
    ).first()
    if gathering is None:
        raise NotFound(f"No gathering with id {gathering_id}.")
    return gathering


def lock_gathering_with_rsvp(
    session: Session, gathering_id: int, user_id: int
) -> tuple[Gathering, Rsvp | None]:
    """The locked gathering and the user's RSVP to it (or NotFound).

    Two statements on purpose: the RSVP is read only once the lock is held. Read in the
    locking statement, it would come from that statement's snapshot, taken before a wait for
    the lock, and miss a promotion committed by the transaction that held it.
    """
    gathering = lock_gathering(session, gathering_id)
    rsvp = session.scalars(
        select(Rsvp)
        .where(Rsvp.gathering_id == gathering_id, Rsvp.user_id == user_id)
        .options(lazyload("*"))
        .execution_options(populate_existing=True)
    ).first()
    return gathering, rsvp


def has_ended(gathering: Gathering, now: datetime) -> bool:
    """True once a scheduled gathering's end has passed."""
    return gathering.ends_at is not None and gathering.ends_at <= now


def ensure_rsvps_open(gathering: Gathering, now: datetime) -> None:
    """Conflict (with a message for people) unless the gathering takes answers."""
    if gathering.status == GatheringStatus.CANCELLED:
        raise Conflict("This gathering was cancelled; RSVPs are closed.")
    if gathering.status == GatheringStatus.COMPLETED or has_ended(gathering, now):
        raise Conflict("This gathering has ended; RSVPs are closed.")
    if gathering.status == GatheringStatus.POLLING or gathering.starts_at is None:
        raise Conflict("This gathering has no time yet; RSVPs open once it is scheduled.")


def _has_free_seat(gathering: Gathering) -> bool:
    return gathering.capacity is None or gathering.going_count < gathering.capacity


def set_rsvp(
    session: Session, gathering_id: int, user: User, response: str, *, now: datetime
) -> RsvpOutcome:
    """Record `user`'s answer: take a seat, join the waitlist, or free a seat (and promote)."""
    if response not in RESPONSES:
        raise InvalidInput("Answer yes, no or maybe.", field="response")
    gathering, rsvp = lock_gathering_with_rsvp(session, gathering_id, user.id)
    ensure_rsvps_open(gathering, now)
    if rsvp is not None and rsvp.response == response:
        return _outcome(session, gathering, rsvp, changed=False)

    previous_state = rsvp.state if rsvp is not None else None
    if rsvp is None:
        rsvp = Rsvp(gathering_id=gathering.id, user_id=user.id, response=response, state="")
        session.add(rsvp)
    rsvp.response = response
    if response == "yes":
        if _has_free_seat(gathering):
            rsvp.state = RsvpState.GOING
            gathering.going_count += 1
        else:
            gathering.waitlist_counter += 1
            rsvp.state = RsvpState.WAITLISTED
            rsvp.waitlist_ticket = gathering.waitlist_counter
    else:
        rsvp.state = RsvpState.MAYBE if response == "maybe" else RsvpState.NOT_GOING
        rsvp.waitlist_ticket = None
        if previous_state == RsvpState.GOING:
            gathering.going_count -= 1
    gathering.revision += 1
    session.flush()
    calendar_mail.on_rsvp_changed(session, gathering, rsvp, previous_state)
    if previous_state == RsvpState.GOING:
        promote_from_waitlist(session, gathering)
    return _outcome(session, gathering, rsvp, changed=True)


def _outcome(session: Session, gathering: Gathering, rsvp: Rsvp, *, changed: bool) -> RsvpOutcome:
    seats = (
        None if gathering.capacity is None else max(0, gathering.capacity - gathering.going_count)
    )
    return RsvpOutcome(
        response=rsvp.response,
        state=rsvp.state,
        waitlist_position=waitlist_position(session, rsvp),
        changed=changed,
        gathering_id=gathering.id,
        going_count=gathering.going_count,
        seats_left=seats,
    )


def promote_from_waitlist(session: Session, gathering: Gathering) -> list[Rsvp]:
    """Give free seats to the longest-waiting people, in ticket order (call under the lock)."""
    if gathering.capacity is None:
        limit = None
    else:
        limit = gathering.capacity - gathering.going_count
        if limit <= 0:
            return []
    # their users come along, so the mail hooks find them in the identity map
    stmt = (
        select(Rsvp, User)
        .join(User, User.id == Rsvp.user_id)
        .where(Rsvp.gathering_id == gathering.id, Rsvp.state == RsvpState.WAITLISTED)
        .order_by(Rsvp.waitlist_ticket)
        .options(lazyload("*"))
        .execution_options(populate_existing=True)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = session.execute(stmt).all()  # held: the identity map keeps weak references
    promoted = [rsvp for rsvp, _user in rows]
    for rsvp in promoted:
        # the ticket stays on the row: it names this promotion (mail keys use it)
        rsvp.state = RsvpState.GOING
        gathering.going_count += 1
    if promoted:
        gathering.revision += 1
        session.flush()
        for rsvp in promoted:
            calendar_mail.on_promoted(session, gathering, rsvp)
    return promoted


def change_capacity(session: Session, gathering: Gathering, capacity: int | None) -> list[Rsvp]:
    """Set a new capacity (under the lock): never below the number going; promotes who fits."""
    if capacity is not None and capacity < gathering.going_count:
        raise InvalidInput(
            f"{gathering.going_count} people are going; capacity cannot be lower than that.",
            field="capacity",
        )
    gathering.capacity = capacity
    return promote_from_waitlist(session, gathering)


def waitlist_position(session: Session, rsvp: Rsvp) -> int | None:
    """1 for the next person to get a seat; None when not on the waitlist."""
    if rsvp.state != RsvpState.WAITLISTED or rsvp.waitlist_ticket is None:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Rsvp)
        .where(
            Rsvp.gathering_id == rsvp.gathering_id,
            Rsvp.state == RsvpState.WAITLISTED,
            Rsvp.waitlist_ticket < rsvp.waitlist_ticket,
        )
    )
    return int(ahead or 0) + 1


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
ANONYMOUS_NAME = "A Kindred member"


def _attendee_order(rsvp: Rsvp) -> tuple[int, int, datetime, int]:
    ticket = rsvp.waitlist_ticket or 0 if rsvp.state == RsvpState.WAITLISTED else 0
    return (_STATE_ORDER.get(rsvp.state, 9), ticket, rsvp.updated_at, rsvp.id)


def attendees(session: Session, gathering: Gathering, viewer: User) -> list[Attendee]:
    """Who answered, for `viewer`: the organizer sees everyone (with emails); others see names.

    Others means group members (for a group's gathering), anyone who answered, or, for a
    gathering without a group, any signed-in user. They see going, waitlisted and maybe (not
    who declined), and people who chose not to share their name appear anonymously.
    """
    is_organizer = gathering.organizer_id == viewer.id
    if not is_organizer and gathering.group_id is not None:
        member = membership(session, gathering.group_id, viewer.id) is not None
        if not member and get_rsvp(session, gathering.id, viewer.id) is None:
            raise NotAllowed("Only members of the group can see who is coming.")
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
        shown = is_organizer or user.share_name or user.id == viewer.id
        result.append(
            Attendee(
                user_id=user.id,
                name=user.name if shown else ANONYMOUS_NAME,
                response=rsvp.response,
                state=rsvp.state,
                waitlist_position=position if rsvp.state == RsvpState.WAITLISTED else None,
                email=user.email if is_organizer else None,
            )
        )
    return result
