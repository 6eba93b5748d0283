"""Series jobs: keep unbounded series materialised over the rolling horizon."""

from __future__ import annotations

import logging

from scheduler.models import utcnow
from scheduler.queues import DEFAULT
from scheduler.services.gatherings.series import extend_horizons
from workers.runtime import services, unit_of_work

log = logging.getLogger(__name__)

EXTEND_JOB_ID = "series-extend-horizons"


def extend() -> int:
    """Job: create the occurrences that entered the horizon (inheriting "all future" answers).

    Idempotent: occurrences are unique per (series, original start), so a rerun adds none.
    """
    with unit_of_work() as session:
        created = extend_horizons(session, now=utcnow())
    if created:
        log.info("materialised %d new occurrences", created)
    return created


def sweep() -> None:
    """Clock task: enqueue `extend` (one job id, so sweeps never pile up copies)."""
    services().enqueue("workers.series.extend", queue=DEFAULT, job_id=EXTEND_JOB_ID)
