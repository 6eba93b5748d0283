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

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, lazyload

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
from scheduler.services.mail.outbox import owe_many, withdraw_mail

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
    """Make exactly these rows pending: revive withdrawn ones, insert missing ones.

    Two statements whatever the number of rows (the revive is one executemany), both in
    Core: this runs on every RSVP.
    """
    owed = list(owed)
    if not owed:
        return 0
    table = OutboxMessage.__table__
    session.connection().execute(
        update(table)
        .where(table.c.key == bindparam("b_key"), table.c.status == OutboxStatus.WITHDRAWN)
        .values(
            status=OutboxStatus.PENDING,
            due_at=bindparam("b_due_at"),
            attempts=0,
            last_error=None,
            payload=bindparam("b_payload"),
        ),
        [{"b_key": o.key, "b_due_at": o.due_at, "b_payload": o.payload} for o in owed],
    )
    owe_many(
        session,
        [
            {
                "key": o.key,
                "kind": o.kind,
                "gathering_id": gathering_id,
                "recipient_id": o.user_id,
                "recipient_email": o.email,
                "due_at": o.due_at,
                "payload": o.payload,
            }
            for o in owed
        ],
    )
    return len(owed)


def _is_muted(session: Session, gathering_id: int, user_id: int) -> bool:
    return (
        session.scalar(
            select(GatheringMute.user_id).where(
                GatheringMute.gathering_id == gathering_id, GatheringMute.user_id == user_id
            )
        )
        is not None
    )


def sync_attendee(
    session: Session,
    gathering: Gathering,
    user_id: int,
    state: str,
    *,
    now: datetime,
    previous_state: str | None = REMINDED_STATES[0],
) -> None:
    """After an RSVP change: withdraw what no longer fits, owe what the new state earns.

    Rows are pending only while the person is in a reminded state (every change out of one
    withdraws them), so coming from another state there is nothing to withdraw.
    """
    if previous_state in REMINDED_STATES + FOLLOWED_UP_STATES:
        _withdraw(session, gathering.id, user_id)
    user = session.get(User, user_id, options=[lazyload(User.interests)])
    if user is None or not user.reminders_enabled:
        return
    owed = owed_for(gathering, user.id, user.email, state, now=now)
    if owed and not _is_muted(session, gathering.id, user_id):
        _owe_all(session, gathering.id, owed)


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
    users = select(User).where(User.id.in_(user_ids))
    if all(row.kind == REMINDER for row in rows):
        users = users.options(lazyload(User.interests))  # only follow-ups mention them
    loaded += list(session.scalars(users))
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


def still_owed(session: Session, row: OutboxMessage, now: datetime | None = None) -> bool:
    """Checked again at send time: is this reminder/follow-up still current and wanted?

    A reminder delayed by an outage is still sent late (nothing owed is lost), but not once
    the gathering is over: then it could only confuse.
    """
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
            and gathering.ends_at is not None
            and gathering.ends_at > (now or utcnow())
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


def follow_rsvp(
    session: Session, gathering: Gathering, rsvp: Rsvp, previous_state: str | None
) -> None:
    """An answer changed (or a seat was given): owe or withdraw this person's follow-through."""
    sync_attendee(
        session, gathering, rsvp.user_id, rsvp.state, now=utcnow(), previous_state=previous_state
    )


def follow_gathering(
    session: Session, gathering: Gathering, changed: Iterable[str] | None = None
) -> None:
    """A gathering was scheduled, moved, cancelled or had its offsets changed: re-derive rows."""
    if changed is not None and not TIMING_FIELDS & set(changed):
        return
    reschedule_gathering(session, gathering, now=utcnow())
