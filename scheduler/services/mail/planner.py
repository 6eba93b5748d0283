"""The mail planner: reacts to domain events and plans reminders, then wakes delivery.

One run takes the recorded events in id order, a batch per transaction: owes what each calls
for (calendar_mail.react), plans the reminders and follow-ups of the gatherings they touched
that fall due before the planner mark, and deletes them; then it moves the mark on
(follow_through.plan_ahead). Runs take a PostgreSQL advisory lock per transaction, so two
workers never handle one gathering's events out of order; a crash rolls a batch back whole
and the next run does it again (keys make owing idempotent).

Every commit that recorded events asks for a run (`request_run`, a Redis write nobody waits
for); the clock, blocked on those requests between its periodic tasks, queues one run at a
time (`kick`), and also runs it every sweep, which covers a request lost with Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from scheduler.extensions import Services
from scheduler.models import DomainEvent, utcnow
from scheduler.queues import MAIL
from scheduler.services.mail import announcements, calendar_mail, delivery, follow_through

log = logging.getLogger("kindred.planner")

PLAN_JOB = "workers.mail.plan"
BATCH_SIZE = 500
# pg_advisory_xact_lock key: "kind" in ASCII
ADVISORY_LOCK = 0x6B696E64
KICK_KEY = "kindred:mail:plan-kick"
RUN_REQUESTS = "kindred:mail:plan-requests"


@dataclass
class PlannerReport:
    """What one run did."""

    events: int = 0
    owed: int = 0
    next_due_at: datetime | None = None


def run(services: Services, *, now_fn: Callable[[], datetime] = utcnow) -> PlannerReport:
    """Handle every recorded event, then plan ahead; idempotent (safe to run twice)."""
    report = PlannerReport()
    due: list[datetime] = []
    while True:
        with services.db.session_factory.begin() as session:
            session.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK)))
            now = now_fn()
            batch = list(
                session.scalars(select(DomainEvent).order_by(DomainEvent.id).limit(BATCH_SIZE))
            )
            if batch:
                reaction = calendar_mail.react(
                    session,
                    batch,
                    now=now,
                    spacing=timedelta(seconds=services.config.calendar_mail_spacing_seconds),
                )
                due += reaction.due
                due += announcements.react(session, batch, now=now)
                due += follow_through.plan_gatherings(session, reaction.touched, now=now)
                session.execute(
                    delete(DomainEvent)
                    .where(DomainEvent.id.in_([event.id for event in batch]))
                    .execution_options(synchronize_session=False)
                )
            else:
                due += follow_through.plan_ahead(session, now=now)
                due += announcements.plan_poll_chasers(session, now=now)
        report.events += len(batch)
        if not batch:
            break
    report.owed = len(due)
    now = now_fn()
    if any(at <= now for at in due):
        delivery.kick_delivery(services)
    upcoming = [at for at in due if at > now]
    report.next_due_at = min(upcoming, default=None)
    if report.next_due_at is not None and report.next_due_at - now <= timedelta(
        seconds=services.config.sweep_interval_seconds
    ):
        # due before the clock's next sweep would see it
        delivery.schedule_delivery(services, report.next_due_at)
    if report.events or report.owed:
        log.info("planner: %d events handled, %d mails owed", report.events, report.owed)
    return report


@dataclass(frozen=True)
class Backlog:
    """Domain events waiting for the planner: how many, and when the oldest happened."""

    events: int
    oldest: datetime | None


def backlog(session: Session) -> Backlog:
    """What the planner has yet to handle (a growing backlog means no worker is running)."""
    count, oldest = session.execute(
        select(func.count(DomainEvent.id), func.min(DomainEvent.created_at))
    ).one()
    return Backlog(events=int(count), oldest=oldest)


def clear_kick(services: Services) -> None:
    """Called as a run starts: events committed from now on queue a new run."""
    services.clear_flag(KICK_KEY)


def kick(services: Services) -> None:
    """Queue a run, unless one is queued already (a burst of events queues one run)."""
    services.enqueue_once(PLAN_JOB, queue=MAIL, flag=KICK_KEY)


def request_run(_services: Services) -> list[tuple[Any, ...]]:
    """Events were committed: ask the clock to run the planner now. An event listener: the
    Redis commands that leave the request (at most one waits, however many answers)."""
    return [("LPUSH", RUN_REQUESTS, 1), ("LTRIM", RUN_REQUESTS, 0, 0)]


def run_when_requested(services: Services, *, timeout: float) -> bool:
    """Wait up to `timeout` seconds for a run request and queue a run if one came (the clock's
    loop, which blocks here between its periodic tasks). True when one came."""
    if services.redis.blpop([RUN_REQUESTS], timeout=timeout) is None:
        return False
    kick(services)
    return True
    return services.enqueue_once_command(PLAN_JOB, queue=MAIL, flag=KICK_KEY)
