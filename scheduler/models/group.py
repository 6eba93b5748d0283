"""Interest circles and their members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.models.base import Base, utcnow
from scheduler.models.interest import Interest, group_interests
from scheduler.models.user import User


class Group(Base):
    """A circle of people around shared interests."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    organizer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # nudge the organizer after this many weeks without an upcoming gathering
    nudge_after_weeks: Mapped[int] = mapped_column(Integer, default=4)
    # bumped on every change that alters the group's public feed
    feed_revision: Mapped[int] = mapped_column(Integer, default=0)
    # "open": anyone joins at once; "approval": an organizer approves each request
    join_policy: Mapped[str] = mapped_column(String(20), default="open", server_default="open")
    # when the organizers were last mailed about pending requests (at most once a day)
    pending_mailed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organizer: Mapped[User] = relationship(lazy="joined")
    interests: Mapped[list[Interest]] = relationship(
        secondary=group_interests, order_by=Interest.name, lazy="selectin"
    )


class GroupMember(Base):
    """Membership of a user in a group."""

    __tablename__ = "group_members"
    __table_args__ = (
        UniqueConstraint("group_id", "user_id"),
        Index("ix_group_members_pending", "group_id", postgresql_where="state = 'pending'"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # "organizer" or "member" (a group always keeps at least one organizer)
    role: Mapped[str] = mapped_column(String(20), default="member")
    # "member", or "pending" until an organizer approves (groups with join_policy approval)
    state: Mapped[str] = mapped_column(String(20), default="member", server_default="member")
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
