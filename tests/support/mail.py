"""Running the mail planner and delivery in-process, as a worker does after a kick."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterable
from datetime import datetime
from email.message import EmailMessage

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain.messages import build_message
from scheduler.extensions import Services
from scheduler.models import OutboxMessage, OutboxStatus, utcnow
from scheduler.services.mail import planner
from scheduler.services.mail.renderers import render_outbox_message


def run_planner(
    where: Flask | Session | Services, now: datetime | None = None
) -> planner.PlannerReport:
    """Owe what the recorded domain events call for (invites, updates, cancellations...) and
    plan reminders ahead, as the worker does when the planner is kicked. `where`: the app,
    a session of its database, or its Services."""
    if isinstance(where, Flask):
        services = where.extensions["kindred"]
    elif isinstance(where, Session):
        services = where.info["services"]
    else:
        services = where
    return planner.run(services, now_fn=(lambda: now) if now is not None else utcnow)


def send_pending(
    db: Session,
    config: Config,
    *,
    now: datetime | None = None,
    kinds: Iterable[str] | None = None,
) -> list[tuple[OutboxMessage, EmailMessage]]:
    """Run the planner, then render every pending row (of `kinds`) as delivery would, marking
    it sent or, when nothing is owed any more, withdrawn: (row, the mail as received) of each
    one sent, in the order they were owed."""
    run_planner(db)
    db.expire_all()
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .order_by(OutboxMessage.id)
    )
    if kinds is not None:
        stmt = stmt.where(OutboxMessage.kind.in_(list(kinds)))
    sent = []
    for row in list(db.scalars(stmt)):
        mail = render_outbox_message(db, row, config, now)
        row.status = OutboxStatus.WITHDRAWN if mail is None else OutboxStatus.SENT
        if mail is not None:
            raw = bytes(build_message(mail))
            sent.append((row, email.message_from_bytes(raw, policy=email.policy.default)))
    db.commit()
    return sent


def calendar_text(message: EmailMessage) -> bytes | None:
    """The text/calendar part of a mail, or None when it carries none."""
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    if not parts:
        return None
    (part,) = parts
    return part.get_payload(decode=True)  # type: ignore[no-any-return]
