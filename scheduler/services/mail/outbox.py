"""Owing mail: rows in the outbox, written in the same transaction as whatever owes them.

Delivery (claiming due rows, rendering, sending in batches) lives in delivery.py; this module
only records what is owed or no longer owed. Whoever owes mail that is due now wakes
delivery after the commit (delivery.deliver_soon_after_commit); the clock's sweep is the
safety net.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
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
) -> int | None:
    """Record that `recipient` is owed this mail; returns the new row's id, or None when the
    same key was owed before (a no-op).

    The key names the purpose, the recipient and the period or revision, e.g.
    `digest:7:2026-W49`, so the same mail can never be owed (or sent) twice.
    """
    ids = owe_many(
        session,
        [
            {
                "key": key,
                "kind": kind,
                "gathering_id": gathering_id,
                "recipient_id": recipient.id,
                "recipient_email": recipient.email,
                "due_at": due_at or utcnow(),
                "payload": payload or {},
            }
        ],
    )
    return ids[0] if ids else None


def due_now(
    key: str,
    kind: str,
    gathering_id: int | None,
    user_id: int,
    email: str,
    now: datetime,
    **payload: Any,
) -> dict[str, Any]:
    """One row for `owe_many`, due `now`."""
    return {
        "key": key,
        "kind": kind,
        "gathering_id": gathering_id,
        "recipient_id": user_id,
        "recipient_email": email,
        "due_at": now,
        "payload": payload,
    }


def owed_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the outbox stores a newly owed mail: pending, never tried."""
    now = utcnow()
    return [
        {**row, "status": OutboxStatus.PENDING, "attempts": 0, "created_at": now} for row in rows
    ]


def owe_many(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Owe several mails in one statement; keys owed before are left as they are. Returns the
    ids of the rows that are new.

    Each row gives key, kind, gathering_id, recipient_id, recipient_email, due_at, payload.
    INSERT ... ON CONFLICT (key) DO NOTHING: concurrent transactions owing the same mail need
    no savepoint and no retry.
    """
    if not rows:
        return []
    stmt = (
        insert(OutboxMessage)
        .values(owed_rows(rows))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(OutboxMessage.id)
    )
    return list(session.scalars(stmt))


def withdraw_mail(
    session: Session,
    *,
    kinds: Iterable[str],
    gathering_id: int | None = None,
    recipient_id: int | None = None,
) -> int:
    """Withdraw pending mail of these kinds for a gathering, a recipient, or both."""
    if gathering_id is None and recipient_id is None:
        raise ValueError("withdraw mail of a gathering, of a recipient, or both")
    stmt = (
        update(OutboxMessage)
        .where(
            OutboxMessage.kind.in_(list(kinds)),
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.WITHDRAWN)
        .execution_options(synchronize_session=False)
    )
    if gathering_id is not None:
        stmt = stmt.where(OutboxMessage.gathering_id == gathering_id)
    if recipient_id is not None:
        stmt = stmt.where(OutboxMessage.recipient_id == recipient_id)
    return session.execute(stmt).rowcount or 0


def readdress_pending(session: Session, recipient_id: int, email: str) -> int:
    """The recipient moved to a new address: mail still owed goes there."""
    stmt = (
        update(OutboxMessage)
        .where(
            OutboxMessage.recipient_id == recipient_id,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(recipient_email=email)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount or 0
