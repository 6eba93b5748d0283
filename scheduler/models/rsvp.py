"""Answers to "are you coming?" and the seat or waitlist place they hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.models.base import Base, utcnow
from scheduler.models.user import User


class Rsvp(Base):
    """One person's answer for one gathering (unique per gathering and user)."""

    __tablename__ = "rsvps"
    __table_args__ = (
        UniqueConstraint("gathering_id", "user_id"),
        Index("ix_rsvps_gathering_state_ticket", "gathering_id", "state", "waitlist_ticket"),
        Index("ix_rsvps_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gathering_id: Mapped[int] = mapped_column(ForeignKey("gatherings.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    response: Mapped[str] = mapped_column(String(10))  # yes | no | maybe
    state: Mapped[str] = mapped_column(String(12))  # going | waitlisted | maybe | not_going
    # FIFO order on the waitlist: a ticket drawn from the gathering's counter under its lock
    waitlist_ticket: Mapped[int | None] = mapped_column(Integer)
    # people they bring, seated or waiting with them (0 after a "no")
    guests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # {question id (as text): answer} to the gathering's questions; for its organizers only
    answers: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
