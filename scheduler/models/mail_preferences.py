"""What mail people asked not to get (the global switch is `User.reminders_enabled`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models.base import Base, utcnow


class GatheringMute(Base):
    """No more reminders or follow-ups for this gathering to this person."""

    __tablename__ = "gathering_mutes"
    __table_args__ = (UniqueConstraint("user_id", "gathering_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    gathering_id: Mapped[int] = mapped_column(
        ForeignKey("gatherings.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
