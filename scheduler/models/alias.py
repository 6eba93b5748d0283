"""Interest aliases ("astro" → the "astronomy" tag) and the suggestions organizers make."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.models.base import Base, utcnow
from scheduler.models.interest import Interest
from scheduler.models.user import User


class InterestAlias(Base):
    """Another spelling of an interest; resolving a tag maps `alias` to `interest`.

    Only site administrators add them (directly, or by accepting a suggestion)."""

    __tablename__ = "interest_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    alias: Mapped[str] = mapped_column(String(60), unique=True)
    interest_id: Mapped[int] = mapped_column(
        ForeignKey("interests.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    interest: Mapped[Interest] = relationship(lazy="joined")


class SuggestionStatus:
    """Where an alias suggestion stands."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"

    ALL = (PENDING, ACCEPTED, REJECTED)


class AliasSuggestion(Base):
    """An organizer's proposal that `alias` should mean `interest`, until an administrator
    accepts it (it then becomes an InterestAlias) or rejects it."""

    __tablename__ = "interest_alias_suggestions"
    __table_args__ = (
        # one open proposal per (alias, interest): a second one adds nothing to review
        Index(
            "ix_interest_alias_suggestions_pending",
            "alias",
            "interest_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alias: Mapped[str] = mapped_column(String(60))
    interest_id: Mapped[int] = mapped_column(ForeignKey("interests.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default=SuggestionStatus.PENDING)
    suggested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    interest: Mapped[Interest] = relationship(lazy="joined")
    suggested_by: Mapped[User | None] = relationship(foreign_keys=[suggested_by_id], lazy="joined")
