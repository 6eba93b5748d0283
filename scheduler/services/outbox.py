"""Owing mail: rows in the outbox, written in the same transaction as the change that owes them.

Delivery (claiming due rows, rendering, sending in batches) lives in services/mail.py and the
workers; this module only records what is owed or no longer owed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.models import OutboxMessage, OutboxStatus, User, utcnow


def owe_mail(
    session: Session,
    *,
    key: str,
    kind: str,
    recipient: User,
    gathering_id: int | None = None,
    due_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> OutboxMessage | None:
    """Record that `recipient` is owed this mail; a second call with the same key is a no-op.

    The key names the purpose, the gathering, the recipient and the revision, e.g.
    `invite:42:7:seq3`, so the same mail can never be owed (or sent) twice.
    """
    existing = session.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).first()
    if existing is not None:
        return None
    row = OutboxMessage(
        key=key,
        kind=kind,
        gathering_id=gathering_id,
        recipient_id=recipient.id,
        recipient_email=recipient.email,
        due_at=due_at or utcnow(),
        status=OutboxStatus.PENDING,
        payload=payload or {},
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # owed concurrently by another transaction: still owed exactly once
    if row.due_at <= utcnow():
        from scheduler.services.delivery import deliver_soon_after_commit

        deliver_soon_after_commit(session)  # don't wait for the next sweep
    return row


def withdraw_mail(
    session: Session,
    *,
    gathering_id: int,
    kinds: Iterable[str],
    recipient_id: int | None = None,
) -> int:
    """Withdraw pending mail of these kinds for a gathering (optionally one recipient)."""
    stmt = (
        update(OutboxMessage)
        .where(
            OutboxMessage.gathering_id == gathering_id,
            OutboxMessage.kind.in_(list(kinds)),
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.WITHDRAWN)
    )
    if recipient_id is not None:
        stmt = stmt.where(OutboxMessage.recipient_id == recipient_id)
    return session.execute(stmt).rowcount or 0
