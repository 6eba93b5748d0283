"""What a gathering says to its people beyond the invite: comments and organizers' messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.models.base import Base, utcnow
from scheduler.models.user import User


class AnnouncementChoice:
    """How a member hears of new gatherings and polls in their groups (User.announcements)."""

    EACH = "each"  # a mail for each one
    WEEKLY = "weekly"  # gathered in one mail a week
    NONE = "none"
    ALL = (EACH, WEEKLY, NONE)


class GatheringComment(Base):
    """One comment in a gathering's discussion."""

    __tablename__ = "gathering_comments"
    __table_args__ = (Index("ix_gathering_comments_gathering", "gathering_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gathering_id: Mapped[int] = mapped_column(ForeignKey("gatherings.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    author: Mapped[User] = relationship(lazy="joined")


# who a message is for: going; going, waitlisted and maybe; everyone who answered
MESSAGE_AUDIENCES = {
    "going": ("going",),
    "attending": ("going", "waitlisted", "maybe"),
    "all": ("going", "waitlisted", "maybe", "not_going"),
}


class GatheringMessage(Base):
    """A message an organizer sent to a gathering's people (mailed, and shown on its page)."""

    __tablename__ = "gathering_messages"
    __table_args__ = (Index("ix_gathering_messages_gathering", "gathering_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gathering_id: Mapped[int] = mapped_column(ForeignKey("gatherings.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sender: Mapped[User] = relationship(lazy="joined")
