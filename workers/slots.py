"""Slot jobs: recompute a poll's ranking, close a poll at its deadline, and their sweeps."""

from __future__ import annotations

import logging

from scheduler.models import Poll, utcnow
from scheduler.queues import DEFAULT
from scheduler.services.polls import scheduling, slots
from workers.runtime import services, unit_of_work

log = logging.getLogger(__name__)


def recompute_slots(gathering_id: int) -> int | None:
    """Rank the poll at its latest revision and store it; returns that revision. Idempotent.

    The read and the write are two short transactions so the ranking holds no lock.
    """
    process = services()
    # Before reading: any answer committed after this point enqueues a job of its own.
    slots.clear_recompute_flag(process, gathering_id)
    with unit_of_work() as session:
        snapshot = slots.take_snapshot(session, gathering_id)
    if snapshot is None:
        return None
    result = slots.rank_snapshot(snapshot)
    with unit_of_work() as session:
        poll = slots.store_result(session, gathering_id, snapshot.revision, result, now=utcnow())
        behind = poll is not None and poll.availability_revision > snapshot.revision
    if behind:
        # Normally the newer answer has enqueued its own job already; this is a safety net.
        slots.request_recompute(process, gathering_id)
    return snapshot.revision


def close_poll_at_deadline(gathering_id: int) -> str | None:
    """Schedule the best slot (or tell the organizer none qualifies). Idempotent."""
    retry_at = None
    with unit_of_work() as session:
        outcome = scheduling.close_at_deadline(session, gathering_id, now=utcnow())
        poll = session.get(Poll, gathering_id)
        if outcome == "not_due" and poll is not None and poll.deadline is not None:
            retry_at = scheduling.deadline_run_at(poll.deadline)
    if retry_at is not None:
        # Ran early (clocks differ between machines): again at the deadline, as a new job.
        services().enqueue(scheduling.DEADLINE_JOB, gathering_id, queue=DEFAULT, at=retry_at)
    if outcome:
        log.info("poll of gathering %s at its deadline: %s", gathering_id, outcome)
    return outcome


def sweep_polls() -> None:
    """Clock task: re-ask for rankings that lag behind and close polls past their deadline.

    Redis losing a queued job (or the flag of one) delays a ranking by at most a sweep.
    """
    process = services()
    with unit_of_work() as session:
        stale = slots.stale_polls(session)
        overdue = scheduling.overdue_deadlines(session, now=utcnow())
    for gathering_id in stale:
        slots.request_recompute(process, gathering_id)
    for gathering_id in overdue:
        process.enqueue(scheduling.DEADLINE_JOB, gathering_id, queue=DEFAULT)
