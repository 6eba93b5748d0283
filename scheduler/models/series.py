"""Recurring gatherings: the rule and template that occurrences are materialised from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models.base import Base, utcnow


class Series(Base):
    """A recurring gathering. Its occurrences are Gathering rows with `series_id` set.

    `first_start_local` is the wall-clock start of the first occurrence in `timezone`
    (ISO text without offset), which is what the RRULE is expanded from.
    """

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    organizer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), index=True)
    rule: Mapped[str] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64))
    first_start_local: Mapped[str] = mapped_column(String(32))
    # occurrences exist up to this instant (unbounded rules roll forward)
    materialized_until: Mapped[datetime | None] = mapped_column()
    # the series this one was split from ("this and following")
    split_from_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"))
    template: Mapped[dict] = mapped_column(JSON, default=dict)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SeriesAnswer(Base):
    """An answer for "this and all future occurrences", inherited by new occurrences."""

    __tablename__ = "series_answers"
    __table_args__ = (UniqueConstraint("series_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    response: Mapped[str] = mapped_column(String(10))
    # applies to occurrences starting at or after this instant
    from_start: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
