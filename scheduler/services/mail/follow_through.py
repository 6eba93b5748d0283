"""Reminders before a gathering and the follow-up after it: planned from attendance.

An answer writes no reminder rows. Shortly before they fall due, the planner (planner.py,
run by the clock and woken by every answer) materialises them from who attends then:
reminders at each offset in `gathering.reminders` (minutes before the start) to those going
or maybe, the follow-up `followup_minutes` after the end to those going, skipping people who
turned reminders off or muted the gathering. `plan_ahead` covers every gathering up to
`PLANNING_HORIZON` from now and remembers how far it got (a planner mark); an answer or a
change of time within that span is covered at once by `plan_gatherings`.

Keys name the start (or end) a row was computed for, so a moved gathering owes new rows and
nothing needs rewriting; owing is idempotent by key (a withdrawn row comes back if owed
again: it was never sent). Delivery asks `still_owed` before sending: a reminder for a start
that moved, a cancelled gathering, a changed answer or an unsubscribe is withdrawn instead.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, lazyload

from scheduler.models import (
    Gathering,
    GatheringMute,
    GatheringStatus,
    OutboxMessage,
    OutboxStatus,
    PlannerMark,
    Rsvp,
    User,
    utcnow,
)
from scheduler.services.mail.outbox import owed_rows, withdraw_mail

REMINDER = "reminder"
FOLLOWUP = "followup"
FOLLOW_THROUGH_KINDS = (REMINDER, FOLLOWUP)
REMINDED_STATES = ("going", "maybe")
FOLLOWED_UP_STATES = ("going",)
# Gathering fields whose change moves reminders or follow-ups.
TIMING_FIELDS = frozenset(
    {"starts_at", "ends_at", "duration_minutes", "reminders", "followup_minutes", "status"}
)
# How far ahead rows are materialised: well beyond the clock's sweep interval, so a reminder
# is an outbox row (and a delivery job is scheduled for it) before it falls due.
PLANNING_HORIZON = timedelta(minutes=5)
MARK = "follow_through"
# The schema's limits: reminders up to 60 days ahead, follow-ups up to 30 days after an end,
# gatherings up to MAX_DURATION long; they bound the index range the planner reads.
MAX_REMINDER = timedelta(days=60)
MAX_FOLLOWUP_AFTER_START = timedelta(days=30 + 31)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def reminder_key(gathering_id: int, user_id: int, offset: int, starts_at: datetime) -> str:
    """The outbox key of one reminder: gathering, person, offset and the start it is for."""
    return f"reminder:{gathering_id}:{user_id}:{offset}:{_stamp(starts_at)}"


def followup_key(gathering_id: int, user_id: int, ends_at: datetime) -> str:
    """The outbox key of one follow-up: gathering, person and the end it is for."""
    return f"followup:{gathering_id}:{user_id}:{_stamp(ends_at)}"


# Reminders due in (:after, :until] to whoever attends now, in one statement: the index on
# (status, starts_at) bounds the scan to gatherings starting before :until + the largest offset.
_DUE_REMINDERS = text(
    """
    SELECT g.id, g.starts_at, offsets.minutes, r.user_id, u.email
    FROM gatherings g
    CROSS JOIN LATERAL (
        SELECT DISTINCT value::integer AS minutes FROM json_array_elements_text(g.reminders)
    ) AS offsets
    JOIN rsvps r ON r.gathering_id = g.id AND r.state IN ('going', 'maybe')
    JOIN users u ON u.id = r.user_id AND u.reminders_enabled
    WHERE g.status = 'scheduled'
      AND g.starts_at > :after AND g.starts_at <= :latest_start
      AND g.starts_at - make_interval(mins => offsets.minutes) > :after
      AND g.starts_at - make_interval(mins => offsets.minutes) <= :until
      AND (:all_gatherings OR g.id IN :gathering_ids)
      AND NOT EXISTS (SELECT 1 FROM gathering_mutes m
                      WHERE m.gathering_id = g.id AND m.user_id = r.user_id)
    """
).bindparams(bindparam("gathering_ids", expanding=True))

_DUE_FOLLOWUPS = text(
    """
    SELECT g.id, g.ends_at, g.followup_minutes, r.user_id, u.email
    FROM gatherings g
    JOIN rsvps r ON r.gathering_id = g.id AND r.state = 'going'
    JOIN users u ON u.id = r.user_id AND u.reminders_enabled
    WHERE g.status IN ('scheduled', 'completed')
      AND g.starts_at > :earliest_start AND g.starts_at <= :until
      AND g.ends_at + make_interval(mins => g.followup_minutes) > :after
      AND g.ends_at + make_interval(mins => g.followup_minutes) <= :until
      AND (:all_gatherings OR g.id IN :gathering_ids)
      AND NOT EXISTS (SELECT 1 FROM gathering_mutes m
                      WHERE m.gathering_id = g.id AND m.user_id = r.user_id)
    """
).bindparams(bindparam("gathering_ids", expanding=True))


def plan_window(
    session: Session,
    *,
    after: datetime,
    until: datetime,
    gathering_ids: Collection[int] | None,
) -> list[datetime]:
    """Owe every reminder and follow-up due in (after, until] (of these gatherings, or all)
    to whoever attends now; returns when each row owed is due."""
    if until <= after or (gathering_ids is not None and not gathering_ids):
        return []
    scope = {
        "after": after,
        "until": until,
        "all_gatherings": gathering_ids is None,
        "gathering_ids": sorted(gathering_ids or [0]),
    }
    rows: list[dict[str, Any]] = []
    for gathering_id, starts_at, offset, user_id, email in session.execute(
        _DUE_REMINDERS, {**scope, "latest_start": until + MAX_REMINDER}
    ):
        rows.append(
            {
                "key": reminder_key(gathering_id, user_id, offset, starts_at),
                "kind": REMINDER,
                "gathering_id": gathering_id,
                "recipient_id": user_id,
                "recipient_email": email,
                "due_at": starts_at - timedelta(minutes=offset),
                "payload": {"starts_at": starts_at.isoformat(), "offset": offset},
            }
        )
    for gathering_id, ends_at, followup_minutes, user_id, email in session.execute(
        _DUE_FOLLOWUPS, {**scope, "earliest_start": after - MAX_FOLLOWUP_AFTER_START}
    ):
        rows.append(
            {
                "key": followup_key(gathering_id, user_id, ends_at),
                "kind": FOLLOWUP,
                "gathering_id": gathering_id,
                "recipient_id": user_id,
                "recipient_email": email,
                "due_at": ends_at + timedelta(minutes=followup_minutes),
                "payload": {"ends_at": ends_at.isoformat()},
            }
        )
    if rows:
        # owed again after a withdrawal (no, then yes): the row comes back, never sent
        stmt = insert(OutboxMessage).values(owed_rows(rows))
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "status": OutboxStatus.PENDING,
                    "due_at": stmt.excluded.due_at,
                    "attempts": 0,
                    "last_error": None,
                },
                where=OutboxMessage.status == OutboxStatus.WITHDRAWN,
            )
        )
    return [row["due_at"] for row in rows]


def _mark(session: Session) -> PlannerMark | None:
    return session.scalars(
        select(PlannerMark).where(PlannerMark.name == MARK).with_for_update()
    ).first()


def plan_ahead(session: Session, *, now: datetime) -> list[datetime]:
    """Materialise what falls due up to PLANNING_HORIZON from now, from where the last run got
    to (a run that was late catches up: what fell due meanwhile is owed, and sent late unless
    its gathering is over). Returns when each row owed is due."""
    mark = _mark(session)
    until = now + PLANNING_HORIZON
    after = now if mark is None else mark.until
    owed = plan_window(session, after=after, until=until, gathering_ids=None)
    if mark is None:
        session.add(PlannerMark(name=MARK, until=until))
    elif until > mark.until:
        mark.until = until
    session.flush()
    return owed


def plan_gatherings(
    session: Session, gathering_ids: Collection[int], *, now: datetime
) -> list[datetime]:
    """Whoever attends these gatherings now (their answers or times just changed) is owed
    what falls due between now and the planner mark (later rows come with later runs)."""
    mark = session.scalar(select(PlannerMark.until).where(PlannerMark.name == MARK))
    if mark is None:
        return []
    return plan_window(session, after=now, until=mark, gathering_ids=gathering_ids)


def withdraw_pending(
    session: Session, *, gathering_id: int | None = None, user_id: int | None = None
) -> int:
    """Withdraw materialised reminders and follow-ups (of a gathering, a person, or both)."""
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


def state_and_mute(session: Session, gathering_id: int, user_id: int) -> tuple[str | None, bool]:
    cached = session.info.get(_PREFETCH)
    if cached is not None and gathering_id in cached[0]:
        _, states, muted, _ = cached
        return states.get((gathering_id, user_id)), (gathering_id, user_id) in muted
    state = session.scalar(
        select(Rsvp.state).where(Rsvp.gathering_id == gathering_id, Rsvp.user_id == user_id)
    )
    muted = session.scalar(
        select(GatheringMute.id).where(
            GatheringMute.gathering_id == gathering_id, GatheringMute.user_id == user_id
        )
    )
    return state, muted is not None


def still_owed(session: Session, row: OutboxMessage, now: datetime | None = None) -> bool:
    """Checked again at send time: is this reminder/follow-up still current and wanted?

    A reminder delayed by an outage is still sent late (nothing owed is lost), but not once
    the gathering is over: then it could only confuse.
    """
    gathering = session.get(Gathering, row.gathering_id) if row.gathering_id else None
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    if gathering is None or user is None or not user.reminders_enabled:
        return False
    state, muted = state_and_mute(session, gathering.id, user.id)
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


