"""Domain events: what happened to a gathering, recorded in the transaction that did it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models.base import Base, utcnow


class EventKind:
    """The kinds of domain event, and who records them."""

    # attendance (the database function kindred_answer): someone's answer changed their
    # state; a waitlisted person got a seat
    ANSWERED = "answered"
    PROMOTED = "promoted"
    # gatherings and polls (Python services)
    GATHERING_CHANGED = "gathering_changed"
    GATHERING_CANCELLED = "gathering_cancelled"
    GATHERING_SCHEDULED = "gathering_scheduled"
    POLL_FAILED = "poll_failed"
    SERIES_ANSWERED = "series_answered"
    # a series' rule or template changed ("this and following"): data names every series
    # whose text changed
    SERIES_CHANGED = "series_changed"
    # reach (mail/announcements.py reacts): a gathering or poll was made in a group (once per
    # series); an organizer sent a message to its people (data: message_id)
    GATHERING_CREATED = "gathering_created"
    MESSAGE_SENT = "message_sent"


class DomainEvent(Base):
    """One thing that happened, waiting for the reactions that need it durably.

    Mail is that reactor today: its planner handles events in id order (per gathering, the
    order of the gathering's lock) and deletes them once the mail they owe is in the outbox.
    """

    __tablename__ = "domain_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    gathering_id: Mapped[int | None] = mapped_column(
        ForeignKey("gatherings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

