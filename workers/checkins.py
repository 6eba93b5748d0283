"""Check-in habits: propose the next check-in once the last one has ended."""

from __future__ import annotations

import logging

from scheduler.models import utcnow
from scheduler.queues import DEFAULT, MAIL
from scheduler.services.mail.delivery import DELIVER_DUE_JOB
from scheduler.services.tribe.checkins import owe_catch_up_nudges, propose_next
from workers.runtime import services, unit_of_work

log = logging.getLogger(__name__)

PROPOSE_JOB_ID = "checkins-propose-next"
CATCH_UP_JOB_ID = "checkins-catch-up-nudges"


def propose_next_checkins() -> int:
    """Job: propose the next check-in of every habit whose last one ended. Idempotent (one
    successor per check-in)."""
    with unit_of_work() as session:
        count = propose_next(session, now=utcnow())
    if count:
        log.info("proposed %d habit check-ins", count)
        services().enqueue(DELIVER_DUE_JOB, queue=MAIL)
    return count


def catch_up_nudges() -> int:
    """Job: owe this month's "you haven't caught up with ..." mails. Idempotent (the outbox
    key names the person and the month)."""
    with unit_of_work() as session:
        owed = owe_catch_up_nudges(session, now=utcnow())
    if owed:
        log.info("owed %d catch-up nudges", owed)
        services().enqueue(DELIVER_DUE_JOB, queue=MAIL)
    return owed


def sweep_nudges() -> None:
    """Clock task: enqueue `catch_up_nudges`."""
    services().enqueue("workers.checkins.catch_up_nudges", queue=DEFAULT, job_id=CATCH_UP_JOB_ID)


def sweep() -> None:
    """Clock task: enqueue `propose_next_checkins` (one job id, so sweeps never pile up)."""
    services().enqueue(
        "workers.checkins.propose_next_checkins", queue=DEFAULT, job_id=PROPOSE_JOB_ID
    )
