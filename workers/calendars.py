"""Jobs that read people's own calendars for busy times (services/calendars/busy.py)."""

from __future__ import annotations

import logging

from scheduler.models import utcnow
from scheduler.queues import DEFAULT
from scheduler.services.calendars import busy
from workers.runtime import services, unit_of_work

log = logging.getLogger(__name__)


def refresh(calendar_id: int) -> str:
    """Job: fetch one calendar and keep its busy intervals (a failure is kept on its row)."""
    with unit_of_work() as session:
        return busy.refresh(session, calendar_id, services().config, now=utcnow())


def sweep() -> int:
    """Clock: enqueue a refresh of every calendar due one (its owner has an open poll)."""
    with unit_of_work() as session:
        due = busy.stale_calendar_ids(session, services().config, now=utcnow())
    for calendar_id in due:
        services().enqueue(
            busy.REFRESH_JOB, calendar_id, queue=DEFAULT, job_id=f"calendar-refresh-{calendar_id}"
        )
    if due:
        log.info("enqueued %d calendar refreshes", len(due))
    return len(due)
