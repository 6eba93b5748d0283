"""Gatherings: create at a fixed time, read, list, change, cancel, complete.

Changes record domain events (gathering changed, cancelled); mail reacts to them.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, lazyload, object_session, selectinload

from scheduler.domain.access import Relation, default_visibility, visibility_problem
from scheduler.domain.errors import Conflict, Gone, InvalidInput, NotAllowed, NotFound
from scheduler.models import EventKind, Gathering, GatheringStatus, Group, Interest, User
from scheduler.models.gathering import DEFAULT_FOLLOWUP_MINUTES, DEFAULT_REMINDERS
from scheduler.models.interest import gathering_interests
from scheduler.services import events
from scheduler.services.gatherings import access, attendance
from scheduler.services.groups.access import group_relation
from scheduler.services.interests.vocabulary import find_interest, resolve_interests

log = logging.getLogger(__name__)


def reminder_settings(args: dict[str, Any]) -> tuple[list[int], int]:
    """(reminder offsets, largest first, de-duplicated; follow-up minutes), with defaults."""
    reminders = args.get("reminders")
    followup = args.get("followup_minutes")
    offsets = sorted(set(DEFAULT_REMINDERS if reminders is None else reminders), reverse=True)
    return offsets, DEFAULT_FOLLOWUP_MINUTES if followup is None else followup


def new_uid(domain: str) -> str:
    """A fresh iCalendar UID, assigned once and kept for the gathering's life."""
    return f"{uuid.uuid4()}@{domain}"


def require_group_member(session: Session, organizer: User, group_id: int | None) -> None:
    """A gathering in a group is created by one of its members (InvalidInput, NotAllowed)."""
    if group_id is None:
        return
    group = session.get(Group, group_id)
    if group is None:
        raise InvalidInput("No group with id %(id)s.", id=group_id, field="group_id")
    if group_relation(session, group_id, organizer) not in (Relation.MEMBER, Relation.ORGANIZER):
        raise NotAllowed("Only members of the group can create gatherings in it.")


def chosen_visibility(args: dict[str, Any], group_id: int | None) -> str:
    """The visibility `args` asks for (default: members in a group, public outside one)."""
    visibility = args.get("visibility") or default_visibility(group_id is not None).value
    problem = visibility_problem(visibility, in_group=group_id is not None)
    if problem is not None:
        raise problem
    return str(visibility)


def new_gathering(
    session: Session, organizer: User, args: dict[str, Any], *, uid_domain: str
) -> Gathering:
    """A gathering with the details `args` gives, not yet added or timed (nor a poll)."""
    require_group_member(session, organizer, args.get("group_id"))
    reminders, followup = reminder_settings(args)
    gathering = Gathering(
        uid=new_uid(uid_domain),
        title=args["title"].strip() or args["title"],
        description=args.get("description", ""),
        location=args.get("location", ""),
        attendance_mode=args.get("attendance_mode") or "in_person",
        online_url=(args.get("online_url") or "").strip(),
        group_id=args.get("group_id"),
        visibility=chosen_visibility(args, args.get("group_id")),
        organizer_id=organizer.id,
        timezone=args["timezone"],
        duration_minutes=args["duration_minutes"],
        capacity=args.get("capacity"),
        reminders=reminders,
        followup_minutes=followup,
        interests=resolve_interests(session, args.get("interests") or []),
    )
    attendance.apply_rsvp_settings(session, gathering, args)
    return gathering


def create_gathering(
    session: Session, organizer: User, args: dict[str, Any], *, now: datetime, uid_domain: str
) -> Gathering:
    """A gathering at the fixed time `args["starts_at"]`, scheduled at once."""
    gathering = new_gathering(session, organizer, args, uid_domain=uid_domain)
    starts_at = args["starts_at"]
    if starts_at <= now:
        raise InvalidInput("A new gathering cannot start in the past.", field="starts_at")
    gathering.status = GatheringStatus.SCHEDULED
    gathering.starts_at = starts_at
    gathering.ends_at = starts_at + timedelta(minutes=gathering.duration_minutes)
    session.add(gathering)
    session.flush()
    return gathering


def lock_gathering(session: Session, gathering_id: int) -> Gathering:
    """Load the gathering with its row locked for the rest of the transaction, or NotFound.

    Changes to a gathering take the lock its attendance function takes, so answers and
    edits of one gathering happen (and record their events) one after another.
    """
    gathering = session.scalars(
        select(Gathering)
        .where(Gathering.id == gathering_id)
        .options(lazyload("*"))
        .execution_options(populate_existing=True)
        .with_for_update(of=Gathering)
    ).first()
    if gathering is None:
        raise NotFound("No gathering with id %(id)s.", id=gathering_id)
    return gathering


def get_gathering(session: Session, gathering_id: int) -> Gathering:
    """The gathering, or NotFound; Gone for a row the driver cannot load (a time past the
    year 9999 written around every check)."""
    try:
        with session.no_autoflush:  # so that a DataError can only come from reading the row
            gathering = session.get(Gathering, gathering_id)
    except DataError:
        # raised while converting the row in this process: the transaction is still usable
        log.exception("gathering %s cannot be loaded; answered as gone", gathering_id)
        raise Gone(
            "Gathering %(id)s cannot be shown: a stored value is out of range.", id=gathering_id
        ) from None
    if gathering is None:
        raise NotFound("No gathering with id %(id)s.", id=gathering_id)
    return gathering


def require_organizer(gathering: Gathering, user: User) -> None:
    """NotAllowed unless `user` organizes the gathering or its group (NotFound when they may
    not even see it): services/gatherings/access.py decides."""
    session = object_session(gathering)
    assert session is not None, "a loaded gathering"
    access.require_manager(session, gathering, user)


def gatherings_query(
    session: Session,
    *,
    group_id: int | None = None,
    interest: str | None = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
    status: str | None = None,
    now: datetime | None = None,
) -> Select[tuple[Gathering]]:
    """Gatherings by start time (polls, with no start yet, last), filtered.

    With `now`, the status filter treats a scheduled gathering whose end passed as completed,
    as `effective_status` shows it, before the periodic sweep has persisted that.
    """
    # NULLS LAST and the (status, starts_at, id) index let PostgreSQL read the first page
    # off the index; related rows load in one extra query each rather than joined into
    # (and sorted with) every matching gathering.
    stmt = (
        select(Gathering)
        .order_by(Gathering.starts_at.asc().nulls_last(), Gathering.id)
        .options(selectinload(Gathering.organizer), selectinload(Gathering.group))
    )
    if group_id is not None:
        stmt = stmt.where(Gathering.group_id == group_id)
    if status is not None:
        stmt = stmt.where(_status_clause(status, now))
    if starts_after is not None:
        stmt = stmt.where(Gathering.starts_at >= starts_after)
    if starts_before is not None:
        stmt = stmt.where(Gathering.starts_at < starts_before)
    if interest:
        tag = find_interest(session, interest)
        if tag is None:
            return stmt.where(False)
        stmt = stmt.join(
            gathering_interests, gathering_interests.c.gathering_id == Gathering.id
        ).where(gathering_interests.c.interest_id == tag.id)
    return stmt


def _status_clause(status: str, now: datetime | None) -> Any:
    if now is None:
        return Gathering.status == status
    ended = and_(Gathering.status == GatheringStatus.SCHEDULED, Gathering.ends_at <= now)
    if status == GatheringStatus.COMPLETED:
        return or_(Gathering.status == status, ended)
    if status == GatheringStatus.SCHEDULED:
        return and_(Gathering.status == status, Gathering.ends_at > now)
    return Gathering.status == status


def seats_left(gathering: Gathering) -> int | None:
    """Free seats, or None when capacity is unlimited."""
    if gathering.capacity is None:
        return None
    return max(0, gathering.capacity - gathering.going_count)


# Fields whose change alters the invite people have in their calendars: SEQUENCE rises, so
# calendar clients accept the update (RFC 5545 §3.8.7.4), and attendees are told.
INVITE_FIELDS = frozenset(
    {
        "title",
        "description",
        "location",
        "attendance_mode",
        "online_url",
        "starts_at",
        "duration_minutes",
        "timezone",
    }
)


def effective_status(gathering: Gathering, now: datetime) -> str:
    """The status as people should see it: a scheduled gathering whose end passed is completed."""
    if (
        gathering.status == GatheringStatus.SCHEDULED
        and gathering.ends_at is not None
        and gathering.ends_at <= now
    ):
        return GatheringStatus.COMPLETED
    return gathering.status


def apply_details(
    gathering: Gathering, args: dict[str, Any], tags: list[Interest] | None
) -> set[str]:
    """Set what `args` says about the gathering's words, follow-through, interests (the
    already resolved `tags`) and visibility, where it differs; returns the names of the
    fields changed.

    Fields `args` does not name keep their value: a series edit applies only what it changes
    to each occurrence, so one occurrence's own place or title survives.
    """
    changed: set[str] = set()
    for name in (
        "title",
        "description",
        "location",
        "attendance_mode",
        "online_url",
        "followup_minutes",
    ):
        if name in args and args[name] != getattr(gathering, name):
            setattr(gathering, name, args[name])
            changed.add(name)
    if "reminders" in args:
        reminders = sorted(set(args["reminders"]), reverse=True)
        if reminders != list(gathering.reminders):
            gathering.reminders = reminders
            changed.add("reminders")
    if tags is not None and {t.id for t in tags} != {t.id for t in gathering.interests}:
        gathering.interests = tags
        changed.add("interests")
    if args.get("visibility") is not None and args["visibility"] != gathering.visibility:
        gathering.visibility = chosen_visibility(args, gathering.group_id)
        changed.add("visibility")
    return changed


def update_gathering(
    session: Session, gathering_id: int, user: User, args: dict[str, Any], *, now: datetime
) -> Gathering:
    """Apply the organizer's changes; returns the gathering (unchanged fields are ignored).

    Any change bumps `revision`; a change to what the invite shows bumps `sequence` too.
    Capacity changes happen under the gathering's lock: raising it promotes from the waitlist.
    """
    gathering = lock_gathering(session, gathering_id)
    require_organizer(gathering, user)
    status = effective_status(gathering, now)
    if status == GatheringStatus.CANCELLED:
        raise Conflict("This gathering is cancelled; it can no longer be changed.")
    if status == GatheringStatus.COMPLETED:
        raise Conflict("This gathering is completed; it can no longer be changed.")

    if "title" in args:
        args = {**args, "title": args["title"].strip()}
        if not args["title"]:
            raise InvalidInput("Title cannot be empty.", field="title")
    tags = resolve_interests(session, args["interests"]) if "interests" in args else None
    changed = apply_details(gathering, args, tags)
    if "timezone" in args and args["timezone"] != gathering.timezone:
        gathering.timezone = args["timezone"]
        changed.add("timezone")
    if "starts_at" in args:
        starts_at = args["starts_at"]
        if gathering.status == GatheringStatus.POLLING:
            raise InvalidInput(
                "This gathering is still polling; pick its time with POST .../schedule.",
                field="starts_at",
            )
        if starts_at != gathering.starts_at:
            if starts_at <= now:
                raise InvalidInput("A gathering cannot be moved into the past.", field="starts_at")
            gathering.starts_at = starts_at
            changed.add("starts_at")
    if "duration_minutes" in args and args["duration_minutes"] != gathering.duration_minutes:
        gathering.duration_minutes = args["duration_minutes"]
        changed.add("duration_minutes")
    if gathering.starts_at is not None and changed & {"starts_at", "duration_minutes"}:
        gathering.ends_at = gathering.starts_at + timedelta(minutes=gathering.duration_minutes)
    if "capacity" in args and args["capacity"] != gathering.capacity:
        attendance.change_capacity(session, gathering, args["capacity"], now=now)
        changed.add("capacity")
    changed |= attendance.apply_rsvp_settings(session, gathering, args)

    if not changed:
        return gathering
    gathering.revision += 1
    if gathering.status == GatheringStatus.SCHEDULED and changed & INVITE_FIELDS:
        gathering.sequence += 1
    session.flush()
    if gathering.status == GatheringStatus.SCHEDULED:
        record_changed(session, gathering, changed)
    return gathering


def record_changed(session: Session, gathering: Gathering, changed: set[str]) -> None:
    """A scheduled gathering changed these fields (at its current SEQUENCE)."""
    events.record(
        session,
        EventKind.GATHERING_CHANGED,
        gathering_id=gathering.id,
        data={"fields": sorted(changed), "sequence": gathering.sequence},
    )


def record_created(session: Session, gathering: Gathering) -> None:
    """A gathering or poll was made; in a group its members are told (mail/announcements.py).
    A series records its first occurrence only."""
    if gathering.group_id is not None:
        events.record(
            session,
            EventKind.GATHERING_CREATED,
            gathering_id=gathering.id,
            user_id=gathering.organizer_id,
        )


def record_cancelled(session: Session, gathering: Gathering) -> None:
    """A gathering was called off (at its current SEQUENCE)."""
    events.record(
        session,
        EventKind.GATHERING_CANCELLED,
        gathering_id=gathering.id,
        data={"sequence": gathering.sequence},
    )


def cancel_gathering(
    session: Session, gathering_id: int, user: User, *, now: datetime
) -> Gathering:
    """Cancel (organizer only); cancelling twice is a no-op, an ended gathering is a Conflict."""
    gathering = lock_gathering(session, gathering_id)
    require_organizer(gathering, user)
    if gathering.status == GatheringStatus.CANCELLED:
        return gathering
    if effective_status(gathering, now) == GatheringStatus.COMPLETED:
        raise Conflict("This gathering has already taken place; it cannot be cancelled.")
    gathering.status = GatheringStatus.CANCELLED
    gathering.sequence += 1
    gathering.revision += 1
    session.flush()
    record_cancelled(session, gathering)
    return gathering


def complete_ended_gatherings(session: Session, *, now: datetime) -> int:
    """Mark every scheduled gathering whose end has passed as completed; returns how many."""
    ended = (Gathering.status == GatheringStatus.SCHEDULED, Gathering.ends_at <= now)
    # a bulk UPDATE passes the flush hook by: clear their interest rows' start in step
    session.execute(
        update(gathering_interests)
        .where(gathering_interests.c.gathering_id.in_(select(Gathering.id).where(*ended)))
        .values(scheduled_start=None)
    )
    result = session.execute(
        update(Gathering)
        .where(*ended)
        .values(status=GatheringStatus.COMPLETED, revision=Gathering.revision + 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
