"""`flask --app wsgi outbox list|retry`: the operator's view of the mail outbox (and of the
planner's backlog of domain events)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from scheduler.extensions import current_services
from scheduler.models import OutboxMessage, OutboxStatus, utcnow
from scheduler.services.mail import delivery, planner

STATUSES = ("due", "scheduled", "claimed", "sent", "failed", "withdrawn")


outbox_group = AppGroup("outbox", help="Show the mail outbox and retry failed mail.")


@outbox_group.command("list")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    default="failed",
    show_default=True,
    help="which rows to list after the counts",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def list_command(status: str, limit: int) -> None:
    """Counts of due, scheduled, claimed, sent, failed and withdrawn mail, then rows."""
    session = current_services().db.session()
    now = utcnow()
    counts = delivery.outbox_counts(session, now=now)
    click.echo("  ".join(f"{name}: {counts[name]}" for name in STATUSES))
    backlog = planner.backlog(session)
    click.echo(f"domain events the planner has not handled yet: {backlog.events}", nl=False)
    click.echo(f" (oldest {backlog.oldest:%Y-%m-%dT%H:%M:%SZ})" if backlog.oldest else "")
    stmt = select(OutboxMessage).order_by(OutboxMessage.due_at, OutboxMessage.id).limit(limit)
    if status == "due":
        stmt = stmt.where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= now)
    elif status == "scheduled":
        stmt = stmt.where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at > now)
    else:
        stmt = stmt.where(OutboxMessage.status == status)
    for row in session.scalars(stmt):
        due = row.due_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        error = f"  {row.last_error}" if row.last_error else ""
        click.echo(
            f"{row.id}\t{row.status}\t{due}\t{row.kind}\t{row.recipient_email}"
            f"\tattempts={row.attempts}\t{row.key}{error}"
        )
    session.rollback()


@outbox_group.command("retry")
@click.argument("row_ids", nargs=-1, type=int)
def retry_command(row_ids: tuple[int, ...]) -> None:
    """Put failed mail (all of it, or the given row ids) back in line, due now."""
    session = current_services().db.session()
    count = delivery.retry_failed(session, now=utcnow(), row_ids=list(row_ids) or None)
    session.commit()
    click.echo(f"{count} failed mail queued again")
