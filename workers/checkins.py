"""Check-in habits: propose the next check-in once the last one has ended."""

from __future__ import annotations

import logging

from scheduler.models import utcnow
from scheduler.queues import DEFAULT, MAIL
from scheduler.services.mail.delivery import DELIVER_DUE_JOB
from scheduler.services.tribe.checkins import propose_next
from workers.runtime import services, unit_of_work

log = logging.getLogger(__name__)

PROPOSE_JOB_ID = "checkins-propose-next"


def propose_next_checkins() -> int:
    """Job: propose the next check-in of every habit whose last one ended. Idempotent (one
    successor per check-in)."""
    with unit_of_work() as session:
        count = propose_next(session, now=utcnow())
    if count:
        log.info("proposed %d habit check-ins", count)
        services().enqueue(DELIVER_DUE_JOB, queue=MAIL)
    return count


def sweep() -> None:
    """Clock task: enqueue `propose_next_checkins` (one job id, so sweeps never pile up)."""
    services().enqueue(
        "workers.checkins.propose_next_checkins", queue=DEFAULT, job_id=PROPOSE_JOB_ID
    )
