"""Gatherings: create, read, list, who may see them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from scheduler.domain.errors import InvalidInput, NotAllowed, NotFound
from scheduler.models import Gathering, GatheringStatus, User
from scheduler.models.gathering import DEFAULT_FOLLOWUP_MINUTES, DEFAULT_REMINDERS
from scheduler.models.interest import gathering_interests
from scheduler.services import groups as group_service
from scheduler.services.interests import find_interest, resolve_interests
from scheduler.services.polls import attach_poll


def new_uid(domain: str) -> str:
    """A fresh iCalendar UID, assigned once and kept for the gathering's life."""
    return f"{uuid.uuid4()}@{domain}"


def create_gathering(
    session: Session, organizer: User, args: dict[str, Any], *, now: datetime, uid_domain: str
) -> Gathering:
    """A fixed-time gathering (scheduled at once) or a poll (status polling)."""
    group_id = args.get("group_id")
    if group_id is not None:
        group = session.get(group_service.Group, group_id)
        if group is None:
            raise InvalidInput(f"No group with id {group_id}.", field="group_id")
        if group_service.membership(session, group_id, organizer.id) is None:
            raise NotAllowed("Only members of the group can create gatherings in it.")
    reminders = args.get("reminders")
    followup = args.get("followup_minutes")
    gathering = Gathering(
        uid=new_uid(uid_domain),
        title=args["title"].strip() or args["title"],
        description=args.get("description", ""),
        location=args.get("location", ""),
        group_id=group_id,
        organizer_id=organizer.id,
        timezone=args["timezone"],
        duration_minutes=args["duration_minutes"],
        capacity=args.get("capacity"),
        reminders=sorted(
            set(reminders if reminders is not None else DEFAULT_REMINDERS), reverse=True
        ),
        followup_minutes=DEFAULT_FOLLOWUP_MINUTES if followup is None else followup,
        interests=resolve_interests(session, args.get("interests") or []),
    )
    if args.get("starts_at") is not None:
        starts_at = args["starts_at"]
        if starts_at <= now:
            raise InvalidInput("A new gathering cannot start in the past.", field="starts_at")
        gathering.status = GatheringStatus.SCHEDULED
        gathering.starts_at = starts_at
        gathering.ends_at = starts_at + timedelta(minutes=gathering.duration_minutes)
    else:
        gathering.status = GatheringStatus.POLLING
        attach_poll(gathering, args["poll"], now=now)
    session.add(gathering)
    session.flush()
    return gathering


def get_gathering(session: Session, gathering_id: int) -> Gathering:
    """The gathering, or NotFound."""
    gathering = session.get(Gathering, gathering_id)
    if gathering is None:
        raise NotFound(f"No gathering with id {gathering_id}.")
    return gathering


def require_organizer(gathering: Gathering, user: User) -> None:
    """NotAllowed unless `user` organizes the gathering."""
    if gathering.organizer_id != user.id:
        raise NotAllowed("Only the organizer can do this.")


def gatherings_query(
    session: Session,
    *,
    group_id: int | None = None,
    interest: str | None = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
    status: str | None = None,
) -> Select[tuple[Gathering]]:
    """Gatherings by start time (polls, with no start yet, last), filtered."""
    stmt = select(Gathering).order_by(
        Gathering.starts_at.is_(None), Gathering.starts_at, Gathering.id
    )
    if group_id is not None:
        stmt = stmt.where(Gathering.group_id == group_id)
    if status is not None:
        stmt = stmt.where(Gathering.status == status)
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


def seats_left(gathering: Gathering) -> int | None:
    """Free seats, or None when capacity is unlimited."""
    if gathering.capacity is None:
        return None
    return max(0, gathering.capacity - gathering.going_count)
