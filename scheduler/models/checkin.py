"""Check-ins: one proposed or agreed one-to-one meeting between two people who have met."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.models.base import Base, utcnow
from scheduler.models.user import User


class CheckinStatus:
    """Where a check-in stands."""

    PROPOSED = "proposed"  # times offered, waiting for the invitee
    ACCEPTED = "accepted"  # a time chosen: it is a gathering of the two
    DECLINED = "declined"  # the invitee said no
    STOPPED = "stopped"  # either person ended it (a habit stops proposing more)
    ALL = (PROPOSED, ACCEPTED, DECLINED, STOPPED)


class Checkin(Base):
    """`asker` proposed `proposals` (UTC ISO starts) to `invitee`; accepting one makes the
    gathering. With `every_weeks`, the next check-in follows `previous_id`'s after it ends."""

    __tablename__ = "checkins"
    __table_args__ = (
        Index("ix_checkins_asker_invitee", "asker_id", "invitee_id"),
        Index("ix_checkins_invitee", "invitee_id"),
        Index("ix_checkins_status", "status"),
        UniqueConstraint("previous_id", name="uq_checkins_previous_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asker_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    invitee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=CheckinStatus.PROPOSED)
    every_weeks: Mapped[int | None] = mapped_column(Integer)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    proposals: Mapped[list[str]] = mapped_column(JSON)
    chosen_start: Mapped[datetime | None] = mapped_column()
    gathering_id: Mapped[int | None] = mapped_column(
        ForeignKey("gatherings.id", ondelete="SET NULL")
    )
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column()

    asker: Mapped[User] = relationship(foreign_keys=[asker_id], lazy="joined")
    invitee: Mapped[User] = relationship(foreign_keys=[invitee_id], lazy="joined")
