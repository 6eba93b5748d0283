"""The mail outbox: every mail the service owes, written in the transaction that owes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models.base import Base, utcnow


class OutboxStatus:
    """Where an owed mail stands."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"


class OutboxMessage(Base):
    """One mail owed to one person; `key` makes owing the same mail twice impossible."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "due_at"),
        # a gathering's mail, and one person's for it by kind and status: what each RSVP
        # withdraws, counts and checks
        Index("ix_outbox_gathering_recipient", "gathering_id", "recipient_id", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    gathering_id: Mapped[int | None] = mapped_column(
        ForeignKey("gatherings.id", ondelete="CASCADE")
    )
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    recipient_email: Mapped[str] = mapped_column(String(254))
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
