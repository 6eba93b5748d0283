"""Recurring gatherings: create a series, materialise its occurrences, edit, answer for all.

Each occurrence is a Gathering with `series_id` and `recurrence_id` (its original start), so
RSVPs, capacity, waitlist, reminders and follow-ups work per occurrence unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.domain import recurrence
from scheduler.domain.errors import Conflict, InvalidInput, NotAllowed
from scheduler.domain.questions import revise_questions
from scheduler.models import EventKind, Gathering, GatheringStatus, Series, SeriesAnswer, User
from scheduler.models.gathering import DEFAULT_FOLLOWUP_MINUTES, DEFAULT_REMINDERS
from scheduler.services import events
from scheduler.services.gatherings import attendance, lifecycle
from scheduler.services.gatherings.attendance import AnswerOrigin, RsvpOutcome
from scheduler.services.interests.vocabulary import resolve_interests

log = logging.getLogger(__name__)

TEMPLATE_FIELDS = (
    "duration_minutes",
    "capacity",
    "reminders",
    "followup_minutes",
    "interests",
    "visibility",
    "attendance_mode",
    "online_url",
)


def occurrence_uid(series_uid: str, instant: datetime) -> str:
    """The unique column value of an occurrence; its iCalendar UID is the series' UID."""
    return f"{series_uid}/{instant.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _local_wall_clock(instant: datetime, timezone: str) -> str:
    return instant.astimezone(ZoneInfo(timezone)).replace(tzinfo=None).isoformat()


def create_series(
    session: Session,
    organizer: User,
    args: dict[str, Any],
    *,
    now: datetime,
    uid: str,
) -> tuple[Series, list[Gathering]]:
    """A series from a create request with `recurrence` and `starts_at`; returns its occurrences.

    The first occurrence is the first instant the rule yields from `starts_at` (a start
    that does not match the rule, e.g. a Monday for BYDAY=TH, moves to the first match).
    """
    if args.get("starts_at") is None:
        raise InvalidInput(
            "A recurring gathering needs starts_at (polls for a weekly slot end in a series "
            "when scheduled).",
            field="starts_at",
        )
    timezone = args["timezone"]
    rule = recurrence.parse_rule(args["recurrence"], timezone)
    first_local = _local_wall_clock(args["starts_at"], timezone)
    horizon = now + timedelta(days=recurrence.HORIZON_DAYS)
    instants = recurrence.expand(
        rule,
        datetime.fromisoformat(first_local),
        timezone,
        until=None if rule.is_bounded else horizon,
    )
    if not instants:
        raise InvalidInput("The rule has no occurrences from starts_at on.", field="recurrence")
    if instants[0] <= now:
        raise InvalidInput("A new series cannot start in the past.", field="starts_at")
    reminders, followup = lifecycle.reminder_settings(args)
    series = Series(
        uid=uid,
        organizer_id=organizer.id,
        group_id=args.get("group_id"),
        rule=rule.text,
        timezone=timezone,
        first_start_local=_local_wall_clock(instants[0], timezone),
        title=args["title"],
        description=args.get("description", ""),
        location=args.get("location", ""),
        template={
            "duration_minutes": args["duration_minutes"],
            "capacity": args.get("capacity"),
            "reminders": reminders,
            "followup_minutes": followup,
            "interests": list(args.get("interests") or []),
            "visibility": lifecycle.chosen_visibility(args, args.get("group_id")),
            "attendance_mode": args.get("attendance_mode") or "in_person",
            "online_url": (args.get("online_url") or "").strip(),
            "max_guests": args.get("max_guests") or 0,
            "questions": [q.stored() for q in revise_questions([], args.get("questions") or [])],
        },
    )
    session.add(series)
    session.flush()
    occurrences = materialize(session, series, now=now)
    return series, occurrences


def series_rule(series: Series) -> recurrence.RecurrenceRule:
    """The parsed rule of a series."""
    return recurrence.parse_rule(series.rule, series.timezone)


def materialize(session: Session, series: Series, *, now: datetime) -> list[Gathering]:
    """Create the occurrences that do not exist yet, up to the horizon; return the new ones.

    Idempotent: (series_id, recurrence_id) is unique, and existing occurrences are skipped.
    New occurrences inherit "all future" answers.
    """
    rule = series_rule(series)
    horizon = None if rule.is_bounded else now + timedelta(days=recurrence.HORIZON_DAYS)
    instants = recurrence.expand(
        rule,
        datetime.fromisoformat(series.first_start_local),
        series.timezone,
        until=horizon,
    )
    existing = set(
        session.scalars(select(Gathering.recurrence_id).where(Gathering.series_id == series.id))
    )
    template = series.template
    interests = resolve_interests(session, template.get("interests", []))
    created: list[Gathering] = []
    for instant in instants:
        if instant in existing:
            continue
        gathering = Gathering(
            uid=occurrence_uid(series.uid, instant),
            series_id=series.id,
            recurrence_id=instant,
            title=series.title,
            description=series.description,
            location=series.location,
            group_id=series.group_id,
            visibility=template.get("visibility", "public"),
            attendance_mode=template.get("attendance_mode", "in_person"),
            online_url=template.get("online_url", ""),
            organizer_id=series.organizer_id,
            timezone=series.timezone,
            duration_minutes=template["duration_minutes"],
            capacity=template.get("capacity"),
            max_guests=template.get("max_guests", 0),
            questions=list(template.get("questions", [])),
            reminders=list(template.get("reminders", DEFAULT_REMINDERS)),
            followup_minutes=template.get("followup_minutes", DEFAULT_FOLLOWUP_MINUTES),
            status=GatheringStatus.SCHEDULED,
            starts_at=instant,
            ends_at=instant + timedelta(minutes=template["duration_minutes"]),
            interests=interests,
        )
        session.add(gathering)
        created.append(gathering)
    series.materialized_until = instants[-1] if instants else series.materialized_until
    session.flush()
    if created:
        _apply_series_answers(session, series, created, now=now)
    return created


def _apply_series_answers(
    session: Session, series: Series, occurrences: list[Gathering], *, now: datetime
) -> None:
    answers = session.scalars(select(SeriesAnswer).where(SeriesAnswer.series_id == series.id))
    for answer in answers:
        for gathering in occurrences:
            assert gathering.starts_at is not None
            if gathering.starts_at >= answer.from_start and gathering.starts_at > now:
                try:
                    attendance.set_rsvp(
                        session, gathering.id, answer.user_id, answer.response, now=now
                    )
                except NotAllowed:  # left the group since: their answer no longer carries
                    continue


def occurrences_of(session: Session, series_id: int) -> list[Gathering]:
    """Every materialised occurrence of a series, by original start."""
    return list(
        session.scalars(
            select(Gathering)
            .where(Gathering.series_id == series_id)
            .order_by(Gathering.recurrence_id)
        )
    )


def answer_all_future(
    session: Session,
    occurrence: Gathering,
    user: User,
    response: str,
    *,
    now: datetime,
    guests: int | None = None,
    answers: dict[str, str] | None = None,
) -> list[RsvpOutcome]:
    """Answer this occurrence and every later one, including those not yet materialised
    (`guests` and `answers` go to those that exist; later ones inherit the response).

    This occurrence is answered first, so a closed one (Conflict) changes nothing.
    """
    assert occurrence.series_id is not None and occurrence.starts_at is not None
    extra: dict[str, Any] = {"guests": guests, "answers": answers}
    results = [
        attendance.set_rsvp(
            session, occurrence.id, user.id, response, now=now, origin=AnswerOrigin.SERIES, **extra
        )
    ]
    answer = session.scalars(
        select(SeriesAnswer).where(
            SeriesAnswer.series_id == occurrence.series_id, SeriesAnswer.user_id == user.id
        )
    ).first()
    if answer is None:
        answer = SeriesAnswer(series_id=occurrence.series_id, user_id=user.id)
        session.add(answer)
    answer.response = response
    answer.from_start = occurrence.starts_at
    for gathering in occurrences_of(session, occurrence.series_id):
        assert gathering.starts_at is not None
        if gathering.id == occurrence.id or gathering.starts_at < occurrence.starts_at:
            continue
        if gathering.starts_at <= now:
            continue  # the occurrence answered may be under way; later ones must lie ahead
        if gathering.status != GatheringStatus.SCHEDULED:
            continue
        try:
            results.append(
                attendance.set_rsvp(
                    session,
                    gathering.id,
                    user.id,
                    response,
                    now=now,
                    origin=AnswerOrigin.SERIES,
                    **extra,
                )
            )
        except Conflict:
            continue  # closed since it was read
    session.flush()
    made = session.get(Series, occurrence.series_id)
    assert made is not None
    # one mail with the whole series (RRULE and this person's dates) instead of one per
    # occurrence, whatever the answer: a "no" takes dates out of the series they hold
    events.record(
        session,
        EventKind.SERIES_ANSWERED,
        gathering_id=occurrence.id,
        user_id=user.id,
        data={"series_id": made.id, "sequence": made.sequence, "response": response},
    )
    return results


def split_series(
    session: Session,
    occurrence: Gathering,
    *,
    new_start: datetime | None,
    changes: dict[str, Any],
    now: datetime,
    uid: str,
) -> Series:
    """ "This and following": end the series before `occurrence`, start a new one from it.

    Past occurrences stay untouched. The occurrences from this one on move to the new series
    (keeping their RSVPs), take the new time and details, and owe an update mail each.
    """
    assert occurrence.series_id is not None and occurrence.recurrence_id is not None
    if occurrence.starts_at is not None and occurrence.starts_at <= now:
        raise InvalidInput("Only future occurrences can start a new series.", field="scope")
    old = session.get(Series, occurrence.series_id, with_for_update=True)
    assert old is not None
    rule = series_rule(old)
    split = recurrence.split_rule(
        rule,
        datetime.fromisoformat(old.first_start_local),
        old.timezone,
        occurrence.recurrence_id,
    )
    timezone = changes.get("timezone", old.timezone)
    first_local = split.after_first_start_local
    if new_start is not None:
        first_local = new_start.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    template = dict(old.template)
    for key in TEMPLATE_FIELDS:
        if key in changes:
            template[key] = changes[key]
    fields = {
        "rule": split.after.text,
        "timezone": timezone,
        "first_start_local": first_local.isoformat(),
        "title": changes.get("title", old.title),
        "description": changes.get("description", old.description),
        "location": changes.get("location", old.location),
        "template": template,
    }
    if split.before is None:
        # from the first occurrence on is the whole series: edit it in place, same UID
        new = old
        for key, value in fields.items():
            setattr(new, key, value)
    else:
        new = Series(
            uid=uid,
            organizer_id=old.organizer_id,
            group_id=old.group_id,
            split_from_id=old.id,
            **fields,
        )
        session.add(new)
        old.rule = split.before.text
    # The old series' text loses the occurrences that move: its SEQUENCE (the highest of the
    # series' and its occurrences') must still rise past every one it was sent with.
    old.sequence = max([old.sequence, *(g.sequence for g in occurrences_of(session, old.id))]) + 1
    session.flush()

    moved = [
        g
        for g in occurrences_of(session, new.id if new is old else old.id)
        if g.recurrence_id is not None and g.recurrence_id >= occurrence.recurrence_id
    ]
    new_rule = series_rule(new)
    horizon = None if new_rule.is_bounded else now + timedelta(days=recurrence.HORIZON_DAYS)
    instants = recurrence.expand(new_rule, first_local, timezone, until=horizon)
    duration = template["duration_minutes"]
    # an occurrence moved on its own keeps its time unless this edit is about the time
    time_edit = new_start is not None or changes.keys() & {"timezone", "duration_minutes"}
    tags = resolve_interests(session, changes["interests"]) if "interests" in changes else None
    for gathering, instant in zip(moved, instants, strict=False):
        if "capacity" in changes and changes["capacity"] != gathering.capacity:
            # under the occurrence's lock: raising promotes, lowering below "going" is refused
            locked = lifecycle.lock_gathering(session, gathering.id)
            attendance.change_capacity(session, locked, changes["capacity"], now=now)
        overridden = gathering.starts_at != gathering.recurrence_id
        start, length = (
            (gathering.starts_at, gathering.duration_minutes)
            if overridden and not time_edit
            else (instant, duration)
        )
        changed = lifecycle.apply_details(gathering, changes, tags)
        if gathering.starts_at != start or gathering.duration_minutes != length:
            changed.add("starts_at")
        gathering.series_id = new.id
        gathering.uid = occurrence_uid(new.uid, instant)
        gathering.recurrence_id = instant
        gathering.starts_at = start
        gathering.ends_at = start + timedelta(minutes=length)
        gathering.duration_minutes = length
        gathering.timezone = timezone
        gathering.sequence += 1
        gathering.revision += 1
        lifecycle.record_changed(session, gathering, changed or {"title"})
    # occurrences beyond the new rule's reach (e.g. a shorter COUNT) are cancelled
    for gathering in moved[len(instants) :]:
        gathering.status = GatheringStatus.CANCELLED
        gathering.sequence += 1
        lifecycle.record_cancelled(session, gathering)
    answers = (
        []
        if new is old
        else session.scalars(select(SeriesAnswer).where(SeriesAnswer.series_id == old.id)).all()
    )
    for answer in answers:
        session.add(
            SeriesAnswer(
                series_id=new.id,
                user_id=answer.user_id,
                response=answer.response,
                from_start=max(answer.from_start, instants[0] if instants else answer.from_start),
            )
        )
    session.flush()
    materialize(session, new, now=now)
    events.record(
        session,
        EventKind.SERIES_CHANGED,
        gathering_id=occurrence.id,
        data={"series_ids": sorted({old.id, new.id})},
    )
    return new


def end_series(session: Session, gathering_id: int, user: User, *, now: datetime) -> Gathering:
    """Cancel with scope=following: the series ends before this occurrence. This one and
    every later one are cancelled (each owes its cancellation), and the rule gets an UNTIL,
    so its holders' calendars and the horizon stop there too."""
    occurrence = _occurrence(session, gathering_id, "scope")
    lifecycle.require_organizer(occurrence, user)
    assert occurrence.recurrence_id is not None and occurrence.starts_at is not None
    if occurrence.status != GatheringStatus.SCHEDULED or occurrence.starts_at <= now:
        raise InvalidInput("Only a future, scheduled occurrence can end its series.", field="scope")
    made = session.get(Series, occurrence.series_id, with_for_update=True)
    assert made is not None
    rule = series_rule(made)
    split = recurrence.split_rule(
        rule,
        datetime.fromisoformat(made.first_start_local),
        made.timezone,
        occurrence.recurrence_id,
    )
    # from the first occurrence on, the rule keeps that one, cancelled (a rule has one at least)
    made.rule = (split.before or replace(rule, count=None, until=occurrence.recurrence_id)).text
    for gathering in occurrences_of(session, made.id):
        assert gathering.recurrence_id is not None
        if (
            gathering.recurrence_id >= occurrence.recurrence_id
            and gathering.status == GatheringStatus.SCHEDULED
        ):
            lifecycle.cancel_gathering(session, gathering.id, user, now=now)
    made.sequence += 1
    session.flush()
    events.record(
        session,
        EventKind.SERIES_CHANGED,
        gathering_id=occurrence.id,
        data={"series_ids": [made.id]},
    )
    return occurrence


def extend_horizons(session: Session, *, now: datetime) -> int:
    """Materialise occurrences of unbounded series up to the rolling horizon; count new ones.

    A series whose stored rule, zone or template cannot be expanded is logged and skipped
    (its partial work rolled back to a savepoint), so it never holds the others back.
    """
    created = 0
    for series in session.scalars(select(Series)).all():
        series_id = series.id
        try:
            if series_rule(series).is_bounded:
                continue
            with session.begin_nested():
                created += len(materialize(session, series, now=now))
        except Exception:
            log.exception("series %s: horizon not extended, its stored rule fails", series_id)
    return created


def _occurrence(session: Session, gathering_id: int, field: str) -> Gathering:
    gathering = lifecycle.get_gathering(session, gathering_id)
    if gathering.series_id is None:
        raise InvalidInput("This gathering is not part of a series.", field=field)
    return gathering


def answer_all_future_by_id(
    session: Session,
    gathering_id: int,
    user: User,
    response: str,
    *,
    now: datetime,
    guests: int | None = None,
    answers: dict[str, str] | None = None,
) -> Any:
    """RSVP `all_future`: answer this occurrence and the later ones; returns this one's outcome."""
    occurrence = _occurrence(session, gathering_id, "all_future")
    return answer_all_future(
        session, occurrence, user, response, now=now, guests=guests, answers=answers
    )[0]


def update_following(
    session: Session,
    gathering_id: int,
    user: User,
    args: dict[str, Any],
    *,
    now: datetime,
    uid: str,
) -> Gathering:
    """PATCH with scope=following: split the series at this occurrence and apply the changes."""
    occurrence = _occurrence(session, gathering_id, "scope")
    lifecycle.require_organizer(occurrence, user)
    if occurrence.status != GatheringStatus.SCHEDULED:
        raise InvalidInput("Only a scheduled occurrence can start new series.", field="scope")
    new_start = args.pop("starts_at", None)
    if new_start is not None and new_start <= now:
        raise InvalidInput("A gathering cannot be moved into the past.", field="starts_at")
    split_series(session, occurrence, new_start=new_start, changes=args, now=now, uid=uid)
    session.flush()
    session.refresh(occurrence)
    return occurrence


def series_from_poll(session: Session, gathering: Gathering, *, now: datetime) -> Series:
    """A "find our weekly slot" poll was scheduled: it becomes the first of a weekly series.

    The winner's weekday (in the gathering's zone) completes the stored FREQ=WEEKLY rule; the
    polled gathering keeps its id and its UID becomes the series' UID.
    """
    assert gathering.recurrence and gathering.starts_at is not None
    local = gathering.starts_at.astimezone(ZoneInfo(gathering.timezone))
    weekday = recurrence.WEEKDAY_CODES[local.weekday()]
    rule = recurrence.parse_rule(f"{gathering.recurrence};BYDAY={weekday}", gathering.timezone)
    made = Series(
        uid=gathering.uid,
        organizer_id=gathering.organizer_id,
        group_id=gathering.group_id,
        rule=rule.text,
        timezone=gathering.timezone,
        first_start_local=local.replace(tzinfo=None).isoformat(),
        title=gathering.title,
        description=gathering.description,
        location=gathering.location,
        template={
            "duration_minutes": gathering.duration_minutes,
            "capacity": gathering.capacity,
            "reminders": list(gathering.reminders),
            "followup_minutes": gathering.followup_minutes,
            "interests": [i.name for i in gathering.interests],
            "visibility": gathering.visibility,
            "attendance_mode": gathering.attendance_mode,
            "online_url": gathering.online_url,
        },
    )
    session.add(made)
    session.flush()
    gathering.series_id = made.id
    gathering.recurrence_id = gathering.starts_at
    gathering.uid = occurrence_uid(made.uid, gathering.starts_at)
    session.flush()
    materialize(session, made, now=now)
    return made
