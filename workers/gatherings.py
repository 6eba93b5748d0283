"""Gathering lifecycle jobs: persisting `completed` once a gathering has ended."""

from __future__ import annotations

import logging

from scheduler.models import utcnow
from scheduler.queues import DEFAULT
from scheduler.services.gatherings.lifecycle import complete_ended_gatherings
from workers.runtime import services, unit_of_work

log = logging.getLogger(__name__)

COMPLETE_JOB_ID = "gatherings-complete-ended"


def complete_ended() -> int:
    """Job: mark every ended gathering completed. Idempotent: a second run finds none left."""
    with unit_of_work() as session:
        count = complete_ended_gatherings(session, now=utcnow())
    if count:
        log.info("marked %d ended gatherings completed", count)
    return count


def sweep_ended() -> None:
    """Clock task: enqueue `complete_ended` (one job id, so sweeps never pile up copies)."""
    services().enqueue("workers.gatherings.complete_ended", queue=DEFAULT, job_id=COMPLETE_JOB_ID)
