"""Nudge and digest jobs: scan the database for owed "propose the next one" and digest mail.

Both jobs only write outbox rows whose keys name their period, so running them twice (or
from two clocks) owes nothing twice; the mail pipeline delivers the rows.
"""

from __future__ import annotations

import logging

from scheduler.models import utcnow
from scheduler.queues import DEFAULT, MAIL
from scheduler.services.mail.delivery import DELIVER_DUE_JOB
from scheduler.services.mail.membership_mail import owe_pending_request_mail
from scheduler.services.tribe.nudges import owe_digests, owe_group_nudges
from workers.runtime import services, unit_of_work

log = logging.getLogger(__name__)

NUDGES_JOB_ID = "nudges-scan-groups"
DIGESTS_JOB_ID = "nudges-scan-digests"
JOIN_REQUESTS_JOB_ID = "nudges-scan-join-requests"


def scan_groups() -> int:
    """Job: owe a nudge to the organizer of every group quiet too long. Idempotent."""
    config = services().config
    with unit_of_work() as session:
        owed = owe_group_nudges(session, now=utcnow(), base_url=config.base_url)
    if owed:
        log.info("owed %d group nudges", owed)
        services().enqueue(DELIVER_DUE_JOB, queue=MAIL)  # now, not a sweep later
    return owed


def scan_digests() -> int:
    """Job: owe this week's digest to every opted-in user with new matches. Idempotent."""
    config = services().config
    with unit_of_work() as session:
        owed = owe_digests(
            session, now=utcnow(), base_url=config.base_url, secret_key=config.secret_key
        )
    if owed:
        log.info("owed %d weekly digests", owed)
        services().enqueue(DELIVER_DUE_JOB, queue=MAIL)
    return owed


def scan_join_requests() -> int:
    """Job: owe the organizers of groups with people waiting for approval their (at most
    daily) mail. Idempotent."""
    config = services().config
    with unit_of_work() as session:
        owed = owe_pending_request_mail(
            session, now=utcnow(), base_url=config.base_url, secret_key=config.secret_key
        )
    if owed:
        log.info("owed %d mails about join requests", owed)
        services().enqueue(DELIVER_DUE_JOB, queue=MAIL)
    return owed


def sweep() -> None:
    """Clock task: enqueue the scans (fixed job ids, so sweeps never pile up copies)."""
    process = services()
    process.enqueue("workers.nudges.scan_groups", queue=DEFAULT, job_id=NUDGES_JOB_ID)
    process.enqueue("workers.nudges.scan_digests", queue=DEFAULT, job_id=DIGESTS_JOB_ID)
    process.enqueue(
        "workers.nudges.scan_join_requests", queue=DEFAULT, job_id=JOIN_REQUESTS_JOB_ID
    )
