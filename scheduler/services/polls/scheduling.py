"""Availability polls: creating one, window rules, scheduling by hand or at the deadline.

Scheduling records a `gathering_scheduled` event (invites follow from it); a deadline with
no time that works records `poll_failed` (the organizer is told).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.domain import recurrence
from scheduler.domain.errors import Conflict, InvalidInput, NotFound
from scheduler.domain.slots import rank_slots
from scheduler.extensions import enqueue_after_commit
from scheduler.models import EventKind, Gathering, GatheringStatus, Invitation, Poll, User
from scheduler.queues import DEFAULT
from scheduler.services import events
from scheduler.services.gatherings import lifecycle, series
from scheduler.services.polls.slots import candidate_index, load_availability, poll_window

MAX_WINDOW = timedelta(days=90)


def validate_poll_window(
    *,
    window_start: datetime,
    window_end: datetime,
    step_minutes: int,
    duration_minutes: int,
    deadline: datetime | None,
    now: datetime,
) -> None:
    """Raise InvalidInput (naming the field) unless the window can hold the gathering."""
    if window_end <= window_start:
        raise InvalidInput("window_end must be after window_start.", field="poll.window_end")
    if window_end - window_start > MAX_WINDOW:
        raise InvalidInput("A poll window spans at most 90 days.", field="poll.window_end")
    if window_end - window_start < timedelta(minutes=duration_minutes):
        raise InvalidInput(
            "The window is shorter than the gathering (%(count)s minutes).",
            count=duration_minutes,
            field="duration_minutes",
        )
    if window_end <= now:
        raise InvalidInput("The poll window is entirely in the past.", field="poll.window_end")
    if step_minutes not in (5, 10, 15, 30, 60):
        raise InvalidInput("Must be one of 5, 10, 15, 30 or 60.", field="poll.step_minutes")
    if deadline is not None and deadline <= now:
        raise InvalidInput("The deadline is in the past.", field="poll.deadline")
    if deadline is not None and deadline > window_end:
        raise InvalidInput("The deadline must not be after the window ends.", field="poll.deadline")


def attach_poll(gathering: Gathering, poll_args: dict[str, Any], *, now: datetime) -> Poll:
    """Validate the window and give the gathering its poll."""
    validate_poll_window(
        window_start=poll_args["window_start"],
        window_end=poll_args["window_end"],
        step_minutes=poll_args["step_minutes"],
        duration_minutes=gathering.duration_minutes,
        deadline=poll_args.get("deadline"),
        now=now,
    )
    poll = Poll(
        window_start=poll_args["window_start"],
        window_end=poll_args["window_end"],
        step_minutes=poll_args["step_minutes"],
        deadline=poll_args.get("deadline"),
        min_attendees=poll_args.get("min_attendees", 1),
    )
    gathering.poll = poll
    return poll


DEADLINE_JOB = "workers.slots.close_poll_at_deadline"


def deadline_run_at(deadline: datetime) -> datetime:
    """When to run the deadline job: RQ truncates schedule times to whole seconds, so round up."""
    at = deadline.replace(microsecond=0)
    return at + timedelta(seconds=1) if at < deadline else at


def schedule_deadline_job(session: Session, gathering: Gathering) -> None:
    """After the commit, have the worker close the poll at its deadline (the sweep backs it up)."""
    poll = gathering.poll
    if poll is None or poll.deadline is None:
        return
    enqueue_after_commit(
        session,
        DEADLINE_JOB,
        gathering.id,
        queue=DEFAULT,
        job_id=f"poll-deadline-{gathering.id}",
        at=deadline_run_at(poll.deadline),
    )


def create(
    session: Session, organizer: User, args: dict[str, Any], *, now: datetime, uid_domain: str
) -> Gathering:
    """What POST /gatherings asks for: a poll, a series from `starts_at`, or one gathering."""
    if args.get("poll") is not None:
        return create_poll(session, organizer, args, now=now, uid_domain=uid_domain)
    if args.get("recurrence"):
        _made, occurrences = series.create_series(
            session, organizer, args, now=now, uid=lifecycle.new_uid(uid_domain)
        )
        lifecycle.record_created(session, occurrences[0])
        return occurrences[0]
    gathering = lifecycle.create_gathering(session, organizer, args, now=now, uid_domain=uid_domain)
    lifecycle.record_created(session, gathering)
    return gathering


def create_poll(
    session: Session, organizer: User, args: dict[str, Any], *, now: datetime, uid_domain: str
) -> Gathering:
    """A gathering whose time is found by a poll over `args["poll"]`'s window."""
    gathering = lifecycle.new_gathering(session, organizer, args, uid_domain=uid_domain)
    gathering.status = GatheringStatus.POLLING
    attach_poll(gathering, args["poll"], now=now)
    if args.get("recurrence"):
        # "find our weekly slot": the winner becomes a weekly series when scheduled
        gathering.recurrence = weekly_poll_rule(args["recurrence"], args["timezone"])
    session.add(gathering)
    session.flush()
    schedule_deadline_job(session, gathering)
    lifecycle.record_created(session, gathering)
    return gathering


def weekly_poll_rule(text: str, timezone: str) -> str:
    """The rule a polled series will follow: FREQ=WEEKLY (the weekday comes from the winner)."""
    rule = recurrence.parse_rule(text, timezone)
    if rule.freq != recurrence.Frequency.WEEKLY or rule.by_day or rule.by_month_day:
        raise InvalidInput(
            "A poll can end in a weekly series only: give FREQ=WEEKLY (optionally with "
            "INTERVAL, COUNT or UNTIL); the weekday is the one of the winning slot.",
            field="recurrence",
        )
    return rule.text


def lock_gathering(session: Session, gathering_id: int) -> Gathering:
    """The gathering under its row lock (lifecycle.lock_gathering), with its poll read afresh."""
    gathering = lifecycle.lock_gathering(session, gathering_id)
    if gathering.poll is not None:
        session.refresh(gathering.poll)
    return gathering


def _poll_closed(status: str) -> Conflict:
    """Why a gathering past polling takes no poll answers nor a time."""
    if status == GatheringStatus.CANCELLED:
        return Conflict("The poll is closed: the gathering is cancelled.")
    if status == GatheringStatus.COMPLETED:
        return Conflict("The poll is closed: the gathering is completed.")
    return Conflict("The poll is closed: the gathering is scheduled.")


def require_open_poll(gathering: Gathering, *, now: datetime) -> Poll:
    """The poll if it still takes answers; Conflict once scheduled, cancelled or past deadline."""
    if gathering.poll is None:
        raise Conflict("This gathering has a fixed time; it has no poll to answer.")
    if gathering.status != GatheringStatus.POLLING:
        raise _poll_closed(gathering.status)
    if gathering.poll.deadline is not None and gathering.poll.deadline <= now:
        raise Conflict("The poll's deadline has passed.")
    return gathering.poll


def record_participants(
    session: Session, gathering_id: int, user_ids: Iterable[int], *, answered_at: datetime | None
) -> None:
    """Make these users invitees (idempotent); `answered_at` marks them as having answered."""
    wanted = set(user_ids)
    if not wanted:
        return
    existing = {
        invitation.user_id: invitation
        for invitation in session.scalars(
            select(Invitation).where(
                Invitation.gathering_id == gathering_id, Invitation.user_id.in_(wanted)
            )
        )
    }
    for user_id in sorted(wanted):
        invitation = existing.get(user_id)
        if invitation is None:
            invitation = Invitation(gathering_id=gathering_id, user_id=user_id)
            session.add(invitation)
        if answered_at is not None:
            invitation.answered_at = answered_at
    session.flush()


def answered_user_ids(session: Session, gathering_id: int) -> list[int]:
    """Everyone who has answered the poll (including "nothing works")."""
    return list(
        session.scalars(
            select(Invitation.user_id)
            .where(Invitation.gathering_id == gathering_id, Invitation.answered_at.is_not(None))
            .order_by(Invitation.user_id)
        )
    )


def schedule_poll(
    session: Session, gathering_id: int, organizer: User | None, start: datetime, *, now: datetime
) -> Gathering:
    """Fix the gathering at a candidate `start`; participants become invitees, invites are owed.

    `organizer` is None when the worker schedules at the deadline.
    """
    gathering = lock_gathering(session, gathering_id)
    if organizer is not None:
        lifecycle.require_organizer(gathering, organizer)
    if gathering.poll is None:
        raise Conflict("This gathering has a fixed time; it has no poll to schedule.")
    if gathering.status != GatheringStatus.POLLING:
        raise _poll_closed(gathering.status)
    candidate_index(gathering.poll, gathering.duration_minutes, start)
    if start <= now:
        raise InvalidInput("That start is in the past.", field="start")
    gathering.status = GatheringStatus.SCHEDULED
    gathering.starts_at = start
    gathering.ends_at = start + timedelta(minutes=gathering.duration_minutes)
    gathering.sequence += 1
    gathering.revision += 1
    record_participants(
        session, gathering.id, answered_user_ids(session, gathering.id), answered_at=None
    )
    if gathering.recurrence:
        series.series_from_poll(session, gathering, now=now)
    session.flush()
    events.record(
        session,
        EventKind.GATHERING_SCHEDULED,
        gathering_id=gathering.id,
        data={"sequence": gathering.sequence},
    )
    return gathering


def close_at_deadline(session: Session, gathering_id: int, *, now: datetime) -> str | None:
    """At the deadline: schedule the best future slot, or tell the organizer none qualifies.

    Idempotent: returns the outcome ("scheduled" or "no_slot"), "not_due" before the deadline
    (a clock running behind), or None when there is nothing to do (already handled, scheduled
    by hand, cancelled, no deadline).
    """
    try:
        gathering = lock_gathering(session, gathering_id)
    except NotFound:
        return None  # deleted since the job was enqueued
    poll = gathering.poll
    if (
        poll is None
        or gathering.status != GatheringStatus.POLLING
        or poll.deadline_outcome is not None
        or poll.deadline is None
    ):
        return None
    if poll.deadline > now:
        return "not_due"
    window = poll_window(gathering, poll, first_start=now + timedelta(microseconds=1))
    best = rank_slots(window, load_availability(session, gathering_id), limit=1)
    if best:
        schedule_poll(session, gathering_id, None, best[0].start, now=now)
        poll.deadline_outcome = "scheduled"
    else:
        poll.deadline_outcome = "no_slot"
        events.record(
            session,
            EventKind.POLL_FAILED,
            gathering_id=gathering_id,
            user_id=gathering.organizer_id,
            data={
                "title": gathering.title,
                "min_attendees": poll.min_attendees,
                "participants": len(answered_user_ids(session, gathering_id)),
            },
        )
    session.flush()
    return poll.deadline_outcome


def overdue_deadlines(session: Session, *, now: datetime) -> list[int]:
    """Polls past their deadline that nobody has closed yet."""
    return list(
        session.scalars(
            select(Poll.gathering_id)
            .join(Gathering, Gathering.id == Poll.gathering_id)
            .where(
                Poll.deadline <= now,
                Poll.deadline_outcome.is_(None),
                Gathering.status == GatheringStatus.POLLING,
            )
        )
    )
