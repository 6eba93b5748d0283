"""Gatherings: a fixed-time meetup, a poll over a window, or one occurrence of a series."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Update,
    case,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from scheduler.models.base import Base, utcnow
from scheduler.models.group import Group
from scheduler.models.interest import Interest, gathering_interests
from scheduler.models.user import User

DEFAULT_REMINDERS = [1440, 60]
DEFAULT_FOLLOWUP_MINUTES = 120


class GatheringStatus:
    """The lifecycle states of a gathering."""

    POLLING = "polling"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    ALL = (POLLING, SCHEDULED, CANCELLED, COMPLETED)


class Gathering(Base):
    """A meetup. `uid` is its iCalendar UID for life; `sequence` rises on every change."""

    __tablename__ = "gatherings"
    __table_args__ = (
        Index("ix_gatherings_status_starts_at", "status", "starts_at", "id"),
        # one materialised occurrence per original start of a series
        UniqueConstraint("series_id", "recurrence_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # bumped on any change a feed or attendee list shows (including RSVPs)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(500), default="")
    # in_person, online or hybrid; the link is for organizers and people going only
    attendance_mode: Mapped[str] = mapped_column(
        String(20), default="in_person", server_default="in_person"
    )
    online_url: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), index=True)
    # "public", "members" (a group's members only) or "unlisted" (by link, in no listing);
    # new gatherings default to members in a group, public outside one (the services decide)
    visibility: Mapped[str] = mapped_column(String(20), default="public", server_default="public")
    organizer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=GatheringStatus.SCHEDULED)
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    reminders: Mapped[list[int]] = mapped_column(JSON, default=lambda: list(DEFAULT_REMINDERS))
    followup_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULT_FOLLOWUP_MINUTES)
    # seats taken (people going and their guests) and the waitlist ticket counter, both
    # changed only under the gathering lock (by the attendance function)
    going_count: Mapped[int] = mapped_column(Integer, default=0)
    waitlist_counter: Mapped[int] = mapped_column(Integer, default=0)
    # how many guests one person may bring (each takes a seat); 0: none
    max_guests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # questions to people who answer: [{"id": int, "text": str, "required": bool}]
    # (domain/questions.py); ids stay the same across edits and a series' occurrences
    questions: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"), index=True)
    # for a poll that ends in a series ("find our weekly slot"): the weekly RRULE to follow
    recurrence: Mapped[str | None] = mapped_column(String(500))
    # for an occurrence of a series: its original start (the iCalendar RECURRENCE-ID)
    recurrence_id: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organizer: Mapped[User] = relationship(lazy="joined")
    group: Mapped[Group | None] = relationship(lazy="joined")
    interests: Mapped[list[Interest]] = relationship(
        secondary=gathering_interests, order_by=Interest.name, lazy="selectin"
    )
    poll: Mapped[Poll | None] = relationship(
        back_populates="gathering", uselist=False, lazy="selectin", cascade="all, delete-orphan"
    )


def sync_scheduled_starts(gathering_ids: Iterable[int]) -> Update:
    """Copy each gathering's start-while-scheduled onto its gathering_interests rows."""
    gi = gathering_interests
    scheduled_start = (
        select(
            case((Gathering.status == GatheringStatus.SCHEDULED, Gathering.starts_at), else_=None)
        )
        .where(Gathering.id == gi.c.gathering_id)
        .scalar_subquery()
    )
    return (
        update(gi)
        .where(gi.c.gathering_id.in_(list(gathering_ids)))
        .values(scheduled_start=scheduled_start)
    )


_SYNCED = ("status", "starts_at", "interests")


@event.listens_for(Session, "after_flush")
def _keep_scheduled_starts(session: Session, _context: object) -> None:
    """Keep gathering_interests.scheduled_start right after every flush.

    Any flush that creates a gathering, moves it, changes its status or its tags re-copies its
    start. A bulk UPDATE of gatherings passes this hook by and must keep the column itself, as
    services/gatherings/lifecycle.py complete_ended_gatherings does.
    """
    ids = {
        obj.id
        for obj in chain(session.new, session.dirty)
        if isinstance(obj, Gathering)
        and (
            obj in session.new or any(inspect(obj).attrs[a].history.has_changes() for a in _SYNCED)
        )
    }
    if ids:
        session.connection().execute(sync_scheduled_starts(sorted(ids)))


class Poll(Base):
    """The "find a time" part of a gathering: a window, a step and the computed ranking."""

    __tablename__ = "polls"

    gathering_id: Mapped[int] = mapped_column(
        ForeignKey("gatherings.id", ondelete="CASCADE"), primary_key=True
    )
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    step_minutes: Mapped[int] = mapped_column(Integer, default=15)
    deadline: Mapped[datetime | None] = mapped_column(index=True)
    min_attendees: Mapped[int] = mapped_column(Integer, default=1)
    # availability_revision rises on every answer; computed_revision is what `result` reflects
    availability_revision: Mapped[int] = mapped_column(Integer, default=0)
    computed_revision: Mapped[int] = mapped_column(Integer, default=-1)
    result: Mapped[dict | None] = mapped_column(JSON)
    computed_at: Mapped[datetime | None] = mapped_column()
    # set once the deadline has been dealt with ("scheduled" or "no_slot")
    deadline_outcome: Mapped[str | None] = mapped_column(String(20))

    gathering: Mapped[Gathering] = relationship(back_populates="poll")


class AvailabilityInterval(Base):
    """One span of time in which a participant can come to a polled gathering."""

    __tablename__ = "availability_intervals"
    __table_args__ = (Index("ix_availability_gathering_user", "gathering_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gathering_id: Mapped[int] = mapped_column(ForeignKey("gatherings.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    preferred: Mapped[bool] = mapped_column(Boolean, default=True)


class Invitation(Base):
    """Someone a gathering is for: poll participants, invitees; they are owed invites."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("gathering_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gathering_id: Mapped[int] = mapped_column(ForeignKey("gatherings.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # when they last answered the poll (an empty answer, "nothing works", is still an answer)
    answered_at: Mapped[datetime | None] = mapped_column()
