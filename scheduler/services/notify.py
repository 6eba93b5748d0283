"""What mail a change owes, and to whom. Called by the services that make the change.

Every function here only writes outbox rows (services/outbox.py) in the caller's
transaction; nothing is sent until the commit, by the worker.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from scheduler.models import Gathering, Rsvp, User
from scheduler.services.outbox import owe_mail


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
    )


def on_rsvp_changed(
    session: Session, gathering: Gathering, rsvp: Rsvp, previous_state: str | None
) -> None:
    """An attendee answered or changed their answer (invites and cancels: calendars issue)."""


def on_gathering_changed(session: Session, gathering: Gathering, changed: set[str]) -> None:
    """Time, place or details of a scheduled gathering changed (updates: calendars issue)."""


def on_gathering_cancelled(session: Session, gathering: Gathering) -> None:
    """The organizer cancelled (cancellations: calendars issue)."""


def on_gathering_scheduled(session: Session, gathering: Gathering) -> None:
    """A poll was scheduled: its participants are owed invites (calendars issue)."""
