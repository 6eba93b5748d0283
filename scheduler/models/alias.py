"""Interest aliases organizers add: "astro" → the "astronomy" tag."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.models.base import Base, utcnow
from scheduler.models.interest import Interest


class InterestAlias(Base):
    """Another spelling of an interest; resolving a tag maps `alias` to `interest`."""

    __tablename__ = "interest_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    alias: Mapped[str] = mapped_column(String(60), unique=True)
    interest_id: Mapped[int] = mapped_column(
        ForeignKey("interests.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    interest: Mapped[Interest] = relationship(lazy="joined")
