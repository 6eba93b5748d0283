"""What mail a change owes, and to whom. Called by the services that make the change.

Every function here only writes outbox rows (services/outbox.py) in the caller's
transaction; nothing is sent until the commit, by the worker. What each mail says is
decided when it is sent (services/mail_content.py), so a mail always shows the gathering as
it is then, and one superseded before it went out is dropped.

Outbox keys name the purpose, gathering, recipient and SEQUENCE, so each calendar change is
owed at most once per person:
  invite:{g}:{u}:seq{n}:r{k}   REQUEST on answering yes/maybe (k counts this person's earlier
                               invites and cancellations: yes again after a no is a new invite)
  update:{g}:{u}:seq{n}        REQUEST with the higher SEQUENCE after a time or place change
  cancel:{g}:{u}:seq{n}        CANCEL to everyone when the gathering is cancelled
  decline:{g}:{u}:seq{n}:r{k}  CANCEL to one person who changed their answer to no
  promoted:{g}:{u}:{ticket}    "a seat opened: you're going", with the REQUEST
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.models import Gathering, GatheringStatus, Invitation, OutboxMessage, Rsvp, User
from scheduler.models.outbox import OutboxStatus
from scheduler.services.calendars import feeds  # noqa: F401 - its flush hook keeps feed caches fresh
from scheduler.services.mail import follow_through
from scheduler.services.mail.outbox import owe_mail, withdraw_mail

# Answers that put the gathering in the person's calendar.
ATTENDING_STATES = ("going", "waitlisted", "maybe")
# Changes that move the event in people's calendars: they are told by mail. (Other invite
# fields still raise SEQUENCE, which feeds and the next mail carry.)
TIME_OR_PLACE = frozenset({"starts_at", "duration_minutes", "timezone", "location"})
# Mail that puts the gathering into someone's calendar.
CALENDAR_KINDS = ("invite", "update", "promoted")


def calendar_recipients(session: Session, gathering: Gathering) -> list[User]:
    """Who has the gathering in their calendar: yes/maybe/waitlisted, and invitees who did not
    say no, in id order."""
    answered = select(Rsvp.user_id).where(
        Rsvp.gathering_id == gathering.id, Rsvp.state.in_(ATTENDING_STATES)
    )
    declined = select(Rsvp.user_id).where(
        Rsvp.gathering_id == gathering.id, Rsvp.state.not_in(ATTENDING_STATES)
    )
    invited = select(Invitation.user_id).where(
        Invitation.gathering_id == gathering.id, Invitation.user_id.not_in(declined)
    )
    return list(
        session.scalars(select(User).where(User.id.in_(answered.union(invited))).order_by(User.id))
    )


def _round(session: Session, gathering_id: int, user_id: int) -> int:
    """A counter that rises each time this person is put on or taken off the gathering.

    It counts their invite and cancel rows (withdrawn ones too), so an invite owed after
    yes, no, yes again gets a key of its own, while the same transition is owed only once.
    """
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.gathering_id == gathering_id,
                OutboxMessage.recipient_id == user_id,
                OutboxMessage.kind.in_(("invite", "cancel")),
            )
        )
        or 0
    )


def _ever_sent_calendar_mail(session: Session, gathering_id: int, user_id: int) -> bool:
    """True when a calendar mail for this gathering went (or may have gone) to this person."""
    found = session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.gathering_id == gathering_id,
            OutboxMessage.recipient_id == user_id,
            OutboxMessage.kind.in_(CALENDAR_KINDS),
            OutboxMessage.status.in_(
                (OutboxStatus.SENT, OutboxStatus.CLAIMED, OutboxStatus.FAILED)
            ),
        )
    ).first()
    return found is not None


def owe_invite(
    session: Session, gathering: Gathering, user: User, round_: int | None = None
) -> None:
    """REQUEST to one person (round_: see _round; given, it makes the call idempotent)."""
    if round_ is None:
        round_ = _round(session, gathering.id, user.id)
    owe_mail(
        session,
        key=f"invite:{gathering.id}:{user.id}:seq{gathering.sequence}:r{round_}",
        kind="invite",
        recipient=user,
        gathering_id=gathering.id,
        payload={"sequence": gathering.sequence},
    )


def on_promoted(session: Session, gathering: Gathering, rsvp: Rsvp) -> None:
    """A waitlisted attendee got a seat: tell them ("a seat opened: you're going")."""
    user = session.get(User, rsvp.user_id)
    assert user is not None
    owe_mail(
        session,
        key=f"promoted:{gathering.id}:{user.id}:{rsvp.waitlist_ticket}",
        kind="promoted",
        recipient=user,
        gathering_id=gathering.id,
        payload={"sequence": gathering.sequence},
    )
    follow_through.follow_rsvp(session, gathering, rsvp, previous_state="waitlisted")


def on_rsvp_changed(
    session: Session, gathering: Gathering, rsvp: Rsvp, previous_state: str | None
) -> None:
    """Yes/maybe owes an invite; a change to no owes that person a cancellation."""
    follow_through.follow_rsvp(session, gathering, rsvp, previous_state)
    if gathering.status != GatheringStatus.SCHEDULED:
        return
    user = session.get(User, rsvp.user_id)
    assert user is not None
    was_attending = previous_state in ATTENDING_STATES
    if rsvp.state in ATTENDING_STATES:
        if not was_attending:
            withdraw_mail(
                session, gathering_id=gathering.id, kinds=["cancel"], recipient_id=user.id
            )
            owe_invite(session, gathering, user)
        return
    if not was_attending:
        return
    withdraw_mail(session, gathering_id=gathering.id, kinds=CALENDAR_KINDS, recipient_id=user.id)
    if _ever_sent_calendar_mail(session, gathering.id, user.id):
        round_ = _round(session, gathering.id, user.id)
        owe_mail(
            session,
            key=f"decline:{gathering.id}:{user.id}:seq{gathering.sequence}:r{round_}",
            kind="cancel",
            recipient=user,
            gathering_id=gathering.id,
            payload={"sequence": gathering.sequence, "scope": "person"},
        )


def on_gathering_changed(session: Session, gathering: Gathering, changed: set[str]) -> None:
    """A time or place change owes everyone with it in their calendar a REQUEST with the new
    SEQUENCE (pending mail of older sequences is withdrawn: this one replaces it)."""
    follow_through.follow_gathering(session, gathering, changed)
    if gathering.status != GatheringStatus.SCHEDULED or not changed & TIME_OR_PLACE:
        return
    withdraw_mail(session, gathering_id=gathering.id, kinds=["invite", "update"])
    for user in calendar_recipients(session, gathering):
        owe_mail(
            session,
            key=f"update:{gathering.id}:{user.id}:seq{gathering.sequence}",
            kind="update",
            recipient=user,
            gathering_id=gathering.id,
            payload={"sequence": gathering.sequence},
        )


def on_gathering_cancelled(session: Session, gathering: Gathering) -> None:
    """CANCEL to everyone who was sent the gathering; what was not sent yet is withdrawn."""
    follow_through.withdraw_gathering(session, gathering)
    withdraw_mail(session, gathering_id=gathering.id, kinds=CALENDAR_KINDS)
    for user in calendar_recipients(session, gathering):
        if not _ever_sent_calendar_mail(session, gathering.id, user.id):
            continue
        owe_mail(
            session,
            key=f"cancel:{gathering.id}:{user.id}:seq{gathering.sequence}",
            kind="cancel",
            recipient=user,
            gathering_id=gathering.id,
            payload={"sequence": gathering.sequence, "scope": "everyone"},
        )


def on_gathering_scheduled(session: Session, gathering: Gathering) -> None:
    """A poll was scheduled: its participants (and anyone who already answered) get invites."""
    session.flush()  # the invitations recorded by the caller must be visible to the query
    follow_through.follow_gathering(session, gathering)
    for user in calendar_recipients(session, gathering):
        owe_invite(session, gathering, user, round_=0)  # nobody could answer before
