"""Mail jobs: the planner, delivery, and their sweeps. Jobs are safe to run twice.

Planner and delivery state live only in the database (domain events not yet handled, the
planner mark, row status and claim expiry), so a duplicate job finds nothing left to do, and
a job lost with Redis is enqueued again by the next sweep.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from scheduler.models import utcnow
from scheduler.queues import MAIL
from scheduler.services.mail import delivery, planner
from workers.runtime import services, unit_of_work

log = logging.getLogger("kindred.mail")


def deliver_due(batch_size: int | None = None) -> dict[str, int]:
    """Send everything due now in batches over one connection (idempotent: claims first)."""
    delivery.clear_delivery_kick(services())
    report = delivery.deliver_due(services(), batch_size=batch_size)
    return {"sent": report.sent, "retried": report.retried, "failed": report.failed}


def plan() -> dict[str, int]:
    """Owe what recorded events call for and plan reminders ahead (idempotent)."""
    planner.clear_kick(services())
    report = planner.run(services())
    return {"events": report.events, "owed": report.owed}


def sweep_planner() -> None:
    """Clock task: run the planner (it moves the reminder horizon on, and catches events
    whose kick was lost)."""
    planner.kick(services())


def sweep_outbox() -> int:
    """Clock task: enqueue delivery for what the database says is owed; returns jobs enqueued.

    Rows due now (or whose claim expired with a dead worker) get enough parallel jobs, minus
    those already waiting; the next row due before the following sweep gets a job scheduled
    at its due time, so reminders go out on time rather than up to a sweep late.
    """
    process = services()
    interval = timedelta(seconds=process.config.sweep_interval_seconds)
    now = utcnow()
    with unit_of_work() as session:
        found = delivery.backlog(session, now=now, horizon=interval)
    enqueued = 0
    wanted = delivery.jobs_needed(found.due_now, process.config.outbox_batch_size)
    if wanted:
        waiting = process.queue(MAIL).count
        for _ in range(max(0, wanted - waiting)):
            process.enqueue(delivery.DELIVER_DUE_JOB, queue=MAIL)
            enqueued += 1
    if found.next_due_at is not None:
        delivery.schedule_delivery(process, found.next_due_at)
    if enqueued:
        log.info("outbox sweep: %d due, %d delivery jobs enqueued", found.due_now, enqueued)
    return enqueued
