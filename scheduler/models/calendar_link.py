"""Two-way calendars: people's own calendars read for busy times, and what inbound mail did."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models.base import Base, utcnow


class CalendarStatus:
    """Where a person's calendar stands: not fetched yet, read, or failing (see `error`)."""

    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


class UserCalendar(Base):
    """An ICS URL of a person's own calendar. Only busy intervals are kept (`busy`: a list
    of [start, end] ISO UTC instants within the fetch horizon), never titles or details."""

    __tablename__ = "user_calendars"
    __table_args__ = (UniqueConstraint("user_id", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(20), default=CalendarStatus.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(500))
    fetched_at: Mapped[datetime | None] = mapped_column()
    busy: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMailCount(Base):
    """How many inbound mails ended each way (`answered`, `stale_sequence`, `bad_address`,
    `not_itip`, `auto_reply`, ...): dropped mail is counted, not kept."""

    __tablename__ = "inbound_mail_counts"

    outcome: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
