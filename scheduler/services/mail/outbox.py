"""Owing mail: rows in the outbox, written in the same transaction as the change that owes them.

Delivery (claiming due rows, rendering, sending in batches) lives in services/delivery.py and the
workers; this module only records what is owed or no longer owed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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

    The key names the purpose, the gathering, the recipient and the revision, e.g.
    `invite:42:7:seq3`, so the same mail can never be owed (or sent) twice. One statement,
    INSERT ... ON CONFLICT DO NOTHING, so concurrent transactions owing the same mail need
    no savepoint and no retry.
    """
    due = due_at or utcnow()
    values = {
        "key": key,
        "kind": kind,
        "gathering_id": gathering_id,
        "recipient_id": recipient.id,
        "recipient_email": recipient.email,
        "due_at": due,
        "payload": payload or {},
    }
    stmt = _insert_if_new(session, [values]).returning(OutboxMessage.id)
    row_id = session.execute(stmt).scalar()
    if row_id is not None and due <= utcnow():
        from scheduler.services.mail.delivery import deliver_soon_after_commit

        deliver_soon_after_commit(session)  # don't wait for the next sweep
    return row_id


def owe_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Owe several mails in one statement; keys owed before are left as they are.

    Each row gives key, kind, gathering_id, recipient_id, recipient_email, due_at, payload.
    """
    if rows:
        session.execute(_insert_if_new(session, rows))


def _insert_if_new(session: Session, rows: list[dict[str, Any]]) -> Any:
    """INSERT ... ON CONFLICT (key) DO NOTHING of pending rows: concurrent transactions owing
    the same mail need no savepoint and no retry."""
    now = utcnow()
    values = [
        {**row, "status": OutboxStatus.PENDING, "attempts": 0, "created_at": now} for row in rows
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(OutboxMessage).values(values).on_conflict_do_nothing(index_elements=["key"])


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
    )
    if gathering_id is not None:
        stmt = stmt.where(OutboxMessage.gathering_id == gathering_id)
    if recipient_id is not None:
        stmt = stmt.where(OutboxMessage.recipient_id == recipient_id)
    return session.execute(stmt).rowcount or 0
