"""Reminders before a gathering and the follow-up after it, owed as outbox rows.

A reminder is owed to each going or maybe attendee at every offset in `gathering.reminders`
(minutes before the start) that is still ahead when they join; a follow-up is owed to those
going, `followup_minutes` after the end. Keys name the start (or end) time they were computed
for, so a reschedule owes new rows and withdraws the old pending ones: a stale reminder is
never sent. Withdrawn rows come back to life if the same reminder is owed again (e.g. no,
then yes), which is safe because a withdrawn row was never sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.models import (
    Gathering,
    GatheringMute,
    GatheringStatus,
    OutboxMessage,
    OutboxStatus,
    Rsvp,
    User,
    utcnow,
)
from scheduler.services.outbox import withdraw_mail

REMINDER = "reminder"
FOLLOWUP = "followup"
FOLLOW_THROUGH_KINDS = (REMINDER, FOLLOWUP)
REMINDED_STATES = ("going", "maybe")
FOLLOWED_UP_STATES = ("going",)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def reminder_key(gathering: Gathering, user_id: int, offset: int) -> str:
    """The outbox key of one reminder: gathering, person, offset and the start it is for."""
    assert gathering.starts_at is not None
    return f"reminder:{gathering.id}:{user_id}:{offset}:{_stamp(gathering.starts_at)}"


def followup_key(gathering: Gathering, user_id: int) -> str:
    """The outbox key of one follow-up: gathering, person and the end it is for."""
    assert gathering.ends_at is not None
    return f"followup:{gathering.id}:{user_id}:{_stamp(gathering.ends_at)}"


@dataclass(frozen=True)
class OwedFollowThrough:
    """One reminder or follow-up that should be pending."""

    key: str
    kind: str
    user_id: int
    email: str
    due_at: datetime
    payload: dict[str, Any]


def owed_for(
    gathering: Gathering, user_id: int, email: str, state: str, *, now: datetime
) -> list[OwedFollowThrough]:
    """What a person in `state` is owed for the gathering from `now` on (nothing already due)."""
    if (
        gathering.status != GatheringStatus.SCHEDULED
        or gathering.starts_at is None
        or gathering.ends_at is None
    ):
        return []
    owed: list[OwedFollowThrough] = []
    if state in REMINDED_STATES:
        for offset in sorted(set(gathering.reminders or []), reverse=True):
            due = gathering.starts_at - timedelta(minutes=offset)
            if due > now:
                owed.append(
                    OwedFollowThrough(
                        key=reminder_key(gathering, user_id, offset),
                        kind=REMINDER,
                        user_id=user_id,
                        email=email,
                        due_at=due,
                        payload={"starts_at": gathering.starts_at.isoformat(), "offset": offset},
                    )
                )
    if state in FOLLOWED_UP_STATES:
        due = gathering.ends_at + timedelta(minutes=gathering.followup_minutes)
        if due > now:
            owed.append(
                OwedFollowThrough(
                    key=followup_key(gathering, user_id),
                    kind=FOLLOWUP,
                    user_id=user_id,
                    email=email,
                    due_at=due,
                    payload={"ends_at": gathering.ends_at.isoformat()},
                )
            )
    return owed


def _withdraw(session: Session, gathering_id: int, user_id: int | None = None) -> int:
    return withdraw_mail(
        session, kinds=FOLLOW_THROUGH_KINDS, gathering_id=gathering_id, recipient_id=user_id
    )


def _muted_user_ids(session: Session, gathering_id: int) -> set[int]:
    return set(
        session.scalars(
            select(GatheringMute.user_id).where(GatheringMute.gathering_id == gathering_id)
        )
    )


def _owe_all(session: Session, gathering_id: int, owed: Iterable[OwedFollowThrough]) -> int:
    """Make exactly these rows pending: revive withdrawn ones, insert missing ones."""
    owed = list(owed)
    if not owed:
        return 0
    keys = [item.key for item in owed]
    existing: dict[str, OutboxMessage] = {}
    for start in range(0, len(keys), 500):
        for row in session.scalars(
            select(OutboxMessage).where(OutboxMessage.key.in_(keys[start : start + 500]))
        ):
            existing[row.key] = row
    fresh: list[OutboxMessage] = []
    for item in owed:
        row = existing.get(item.key)
        if row is None:
            fresh.append(
                OutboxMessage(
                    key=item.key,
                    kind=item.kind,
                    gathering_id=gathering_id,
                    recipient_id=item.user_id,
                    recipient_email=item.email,
                    due_at=item.due_at,
                    status=OutboxStatus.PENDING,
                    attempts=0,
                    payload=item.payload,
                )
            )
        elif row.status == OutboxStatus.WITHDRAWN:
            row.status = OutboxStatus.PENDING
            row.due_at = item.due_at
            row.attempts = 0
            row.last_error = None
            row.payload = item.payload
    if fresh:
        try:
            with session.begin_nested():
                session.add_all(fresh)
                session.flush()
        except IntegrityError:
            # another transaction owed some of these at the same moment: owe the rest one by one
            for row in fresh:
                try:
                    with session.begin_nested():
                        session.add(_copy(row))
                        session.flush()
                except IntegrityError:
                    pass
    session.flush()
    return len(owed)


def _copy(row: OutboxMessage) -> OutboxMessage:
    return OutboxMessage(
        key=row.key,
        kind=row.kind,
        gathering_id=row.gathering_id,
        recipient_id=row.recipient_id,
        recipient_email=row.recipient_email,
        due_at=row.due_at,
        status=OutboxStatus.PENDING,
        attempts=0,
        payload=row.payload,
    )


def sync_attendee(
    session: Session, gathering: Gathering, user_id: int, state: str, *, now: datetime
) -> None:
    """After an RSVP change: withdraw what no longer fits, owe what the new state earns."""
    _withdraw(session, gathering.id, user_id)
    user = session.get(User, user_id)
    if (
        user is None
        or not user.reminders_enabled
        or user_id in _muted_user_ids(session, gathering.id)
    ):
        return
    _owe_all(session, gathering.id, owed_for(gathering, user.id, user.email, state, now=now))


def reschedule_gathering(session: Session, gathering: Gathering, *, now: datetime) -> None:
    """After a time, offset or status change: the pending follow-through matches it again."""
    _withdraw(session, gathering.id)
    if gathering.status != GatheringStatus.SCHEDULED:
        return
    muted = _muted_user_ids(session, gathering.id)
    rows = session.execute(
        select(Rsvp.user_id, Rsvp.state, User.email)
        .join(User, User.id == Rsvp.user_id)
        .where(
            Rsvp.gathering_id == gathering.id,
            Rsvp.state.in_(REMINDED_STATES + FOLLOWED_UP_STATES),
            User.reminders_enabled.is_(True),
        )
    ).all()
    owed: list[OwedFollowThrough] = []
    for user_id, state, email in rows:
        if user_id not in muted:
            owed.extend(owed_for(gathering, user_id, email, state, now=now))
    _owe_all(session, gathering.id, owed)


def withdraw_gathering(session: Session, gathering: Gathering) -> int:
    """A cancelled gathering owes no reminders or follow-ups."""
    return _withdraw(session, gathering.id)


def withdraw_for_user(session: Session, user_id: int, gathering_id: int | None = None) -> int:
    """Someone unsubscribed: withdraw their pending reminders and follow-ups."""
    return withdraw_mail(
        session, kinds=FOLLOW_THROUGH_KINDS, gathering_id=gathering_id, recipient_id=user_id
    )


_PREFETCH = "follow_through_prefetch"


def prefetch_follow_through(session: Session, rows: Iterable[OutboxMessage]) -> None:
    """Load what `still_owed` checks for a whole batch in three queries instead of per row."""
    rows = [row for row in rows if row.kind in FOLLOW_THROUGH_KINDS and row.gathering_id]
    if not rows:
        return
    gathering_ids = {row.gathering_id for row in rows}
    user_ids = {row.recipient_id for row in rows if row.recipient_id is not None}
    # held in session.info: the identity map only keeps weak references
    loaded = list(session.scalars(select(Gathering).where(Gathering.id.in_(gathering_ids))))
    loaded += list(session.scalars(select(User).where(User.id.in_(user_ids))))
    states: dict[tuple[int, int], str] = {}
    for gathering_id, user_id, state in session.execute(
        select(Rsvp.gathering_id, Rsvp.user_id, Rsvp.state).where(
            Rsvp.gathering_id.in_(gathering_ids), Rsvp.user_id.in_(user_ids)
        )
    ):
        states[(gathering_id, user_id)] = state
    muted = {
        (gathering_id, user_id)
        for gathering_id, user_id in session.execute(
            select(GatheringMute.gathering_id, GatheringMute.user_id).where(
                GatheringMute.gathering_id.in_(gathering_ids)
            )
        )
    }
    session.info[_PREFETCH] = (gathering_ids, states, muted, loaded)


def _state_and_mute(session: Session, gathering_id: int, user_id: int) -> tuple[str | None, bool]:
    cached = session.info.get(_PREFETCH)
    if cached is not None and gathering_id in cached[0]:
        _, states, muted, _ = cached
        return states.get((gathering_id, user_id)), (gathering_id, user_id) in muted
    state = session.scalar(
        select(Rsvp.state).where(Rsvp.gathering_id == gathering_id, Rsvp.user_id == user_id)
    )
    return state, user_id in _muted_user_ids(session, gathering_id)


def still_owed(session: Session, row: OutboxMessage) -> bool:
    """Checked again at send time: is this reminder/follow-up still current and wanted?"""
    gathering = session.get(Gathering, row.gathering_id) if row.gathering_id else None
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    if gathering is None or user is None or not user.reminders_enabled:
        return False
    state, muted = _state_and_mute(session, gathering.id, user.id)
    if muted or state is None:
        return False
    if row.kind == REMINDER:
        return (
            gathering.status == GatheringStatus.SCHEDULED
            and gathering.starts_at is not None
            and row.payload.get("starts_at") == gathering.starts_at.isoformat()
            and state in REMINDED_STATES
        )
    if row.kind == FOLLOWUP:
        return (
            gathering.status in (GatheringStatus.SCHEDULED, GatheringStatus.COMPLETED)
            and gathering.ends_at is not None
            and row.payload.get("ends_at") == gathering.ends_at.isoformat()
            and state in FOLLOWED_UP_STATES
        )
    return False


# --- hooks for services/notify.py (the clock is read here: hooks receive no `now`) ---------

# Gathering fields whose change moves reminders or follow-ups.
TIMING_FIELDS = frozenset(
    {"starts_at", "ends_at", "duration_minutes", "reminders", "followup_minutes", "status"}
)


def follow_rsvp(session: Session, gathering: Gathering, rsvp: Rsvp) -> None:
    """An answer changed (or a seat was given): owe or withdraw this person's follow-through."""
    sync_attendee(session, gathering, rsvp.user_id, rsvp.state, now=utcnow())


def follow_gathering(
    session: Session, gathering: Gathering, changed: Iterable[str] | None = None
) -> None:
    """A gathering was scheduled, moved, cancelled or had its offsets changed: re-derive rows."""
    if changed is not None and not TIMING_FIELDS & set(changed):
        return
    reschedule_gathering(session, gathering, now=utcnow())
