"""Mail delivery jobs and the outbox sweep. Jobs take ids and are safe to run twice.

Delivery state lives only in the database (row status, claim expiry), so a duplicate job
finds nothing left to claim, and a job lost with Redis is re-enqueued by the next sweep.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from scheduler.models import utcnow
from scheduler.services.mail import delivery
from workers.queues import MAIL
from workers.runtime import services, unit_of_work

log = logging.getLogger("kindred.mail")


def deliver_due(batch_size: int | None = None) -> dict[str, int]:
    """Send everything due now in batches over one connection (idempotent: claims first)."""
    delivery.clear_delivery_kick(services())
    report = delivery.deliver_due(services(), batch_size=batch_size)
    return {"sent": report.sent, "retried": report.retried, "failed": report.failed}


def deliver_gathering(gathering_id: int) -> dict[str, int]:
    """Send what is due now for one gathering (idempotent: claims first)."""
    report = delivery.deliver_due(services(), gathering_id=gathering_id)
    return {"sent": report.sent, "retried": report.retried, "failed": report.failed}


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
        # one job id per due second: sweeps that find the same next row schedule it once
        stamp = found.next_due_at.strftime("%Y%m%dT%H%M%S")
        process.enqueue(
            delivery.DELIVER_DUE_JOB,
            queue=MAIL,
            job_id=f"outbox-due-{stamp}",
            at=found.next_due_at + timedelta(milliseconds=200),
        )
    if enqueued:
        log.info("outbox sweep: %d due, %d delivery jobs enqueued", found.due_now, enqueued)
    return enqueued
