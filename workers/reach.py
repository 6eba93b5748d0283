"""Reach jobs: the weekly mail of new gatherings for members who chose it, and organizers'
daily summaries. Both only write outbox rows whose keys name their week or day, so running
them again (or from two clocks) owes nothing twice."""

from __future__ import annotations

import logging

from scheduler.models import utcnow
from scheduler.queues import DEFAULT, MAIL
from scheduler.services.mail.announcements import owe_organizer_updates, owe_weekly_announcements
from scheduler.services.mail.delivery import DELIVER_DUE_JOB
from workers.runtime import services, unit_of_work

log = logging.getLogger(__name__)

SCAN_JOB_ID = "reach-scan"


def scan() -> int:
    """Job: owe this week's announcement mails and today's organizer summaries. Idempotent."""
    with unit_of_work() as session:
        now = utcnow()
        owed = owe_weekly_announcements(session, now=now)
        owed += owe_organizer_updates(session, now=now)
    if owed:
        log.info("owed %d weekly announcement mails and organizer summaries", owed)
        services().enqueue(DELIVER_DUE_JOB, queue=MAIL)
    return owed


def sweep() -> None:
    """Clock task: enqueue the scan (a fixed job id, so sweeps never pile up copies)."""
    services().enqueue("workers.reach.scan", queue=DEFAULT, job_id=SCAN_JOB_ID)
