"""What calendar mail each domain event owes, and to whom: mail's reaction to events.

The planner (planner.py) hands events over in id order, which for one gathering is the order
of its row lock; `react` writes outbox rows in the planner's transaction. What each mail says
is decided when it is sent (content.py), so a mail always shows the gathering as it is then,
and one superseded before it went out is dropped.

Outbox keys name the purpose, gathering, recipient and SEQUENCE (and, for one person's
change of mind, the event), so each calendar change is owed at most once per person:
  invite:{g}:{u}:seq{n}:e{event}    REQUEST on joining (yes/maybe/waitlisted), and to the
                                    invitees when a poll is scheduled
  decline:{g}:{u}:seq{n}:e{event}   CANCEL to one person who left, if a calendar mail may
                                    have reached them
  promoted:{g}:{u}:{ticket}         "a seat opened: you're going", with the REQUEST
  update:{g}:{u}:seq{n}             REQUEST with the higher SEQUENCE after a time or place change
  cancel:{g}:{u}:seq{n}             CANCEL to everyone when the gathering is cancelled
  series-invite:{s}:{u}:seq{n}:e{event}  the whole series for "all future" (series_mail.py)
  series-update:{s}:{u}:seq{n}      the whole series again after a change to it or to one of
                                    its occurrences (…:e{event} after the person's own answer)

Who holds what: a person who answered "all future" for a series (a SeriesAnswer) holds the
whole series, one UID with its overrides; every change that touches their dates sends them
the whole series again, never a lone occurrence. Everyone else holds single occurrences,
each a plain event with a UID of its own, and gets per-occurrence invites, updates and
cancellations; once they take the whole series, those single events are cancelled.
  poll_failed:{g}                   the deadline passed and no time worked
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from scheduler.models import (
    DomainEvent,
    EventKind,
    Gathering,
    GatheringStatus,
    Invitation,
    OutboxMessage,
    OutboxStatus,
    Rsvp,
    Series,
    SeriesAnswer,
    User,
)
from scheduler.services.calendars import ical_events
from scheduler.services.gatherings.attendance import CALENDAR_STATES, AnswerOrigin
from scheduler.services.gatherings.series import occurrences_of
from scheduler.services.mail import follow_through
from scheduler.services.mail.outbox import due_now, owe_many, withdraw_mail

# Changes that move the event in people's calendars: they are told by mail. (Other invite
# fields still raise SEQUENCE, which feeds and the next mail carry.)
TIME_OR_PLACE = frozenset(
    {"starts_at", "duration_minutes", "timezone", "location", "attendance_mode", "online_url"}
)
# Mail that puts the gathering into someone's calendar.
CALENDAR_KINDS = ("invite", "update", "promoted")
# Mail that carries a whole series (series_mail.py).
SERIES_KINDS = ("series_invite", "series_update")
# Mail that may already be in someone's calendar app: a CANCEL must follow it.
_REACHED = (OutboxStatus.SENT, OutboxStatus.CLAIMED, OutboxStatus.FAILED)
_ATTENDANCE = (EventKind.ANSWERED, EventKind.PROMOTED)


@dataclass
class Reaction:
    """What a batch of events came to: the gatherings touched, and when each mail owed is due."""

    touched: set[int] = field(default_factory=set)
    due: list[datetime] = field(default_factory=list)


def react(
    session: Session,
    events: Sequence[DomainEvent],
    *,
    now: datetime,
    spacing: timedelta = timedelta(0),
) -> Reaction:
    """Owe the mail these events call for, in their order.

    Answers and promotions come in runs (hundreds when a popular gathering opens), handled
    a run at a time with a few statements; the rarer gathering events one by one. A person's
    own change of answer is mailed no sooner than `spacing` after the last calendar mail of
    that gathering reached them (only the latest state is then sent).
    """
    reaction = Reaction()
    run: list[DomainEvent] = []
    for event in events:
        if event.gathering_id is not None:
            reaction.touched.add(event.gathering_id)
        if event.kind in _ATTENDANCE:
            run.append(event)
            continue
        reaction.due += _owe_for_attendance(session, run, now=now, spacing=spacing)
        run = []
        handler = _GATHERING_HANDLERS.get(event.kind)
        if handler is not None:
            reaction.due += [now] * handler(session, event, now)
    reaction.due += _owe_for_attendance(session, run, now=now, spacing=spacing)
    return reaction


@dataclass
class _Fold:
    """The outbox changes a run of answers adds up to, before they are written."""

    new_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    # pending rows that predate the run, withdrawn as (gathering, person, kind)
    withdrawn: set[tuple[int, int, str]] = field(default_factory=set)

    def withdraw(self, gathering_id: int, user_id: int, kinds: Iterable[str]) -> None:
        kinds = set(kinds)
        for key, row in list(self.new_rows.items()):
            if (row["gathering_id"], row["recipient_id"]) == (gathering_id, user_id) and row[
                "kind"
            ] in kinds:
                del self.new_rows[key]
        self.withdrawn.update((gathering_id, user_id, kind) for kind in kinds)

    def owe(self, row: dict[str, Any]) -> None:
        self.new_rows.setdefault(row["key"], row)


def _owe_for_attendance(
    session: Session, run: list[DomainEvent], *, now: datetime, spacing: timedelta
) -> list[datetime]:
    """Each person's calendar follows their answers, with at most one mail pending per
    gathering: joining owes an invite unless the last calendar mail that reached them already
    put it in their calendar (a pending cancellation is withdrawn); leaving withdraws pending
    calendar mail and owes a decline if the last one that reached them was an invite; a
    promotion owes "a seat opened". Only while the gathering is still scheduled. Returns when
    the mails owed are due."""
    if not run:
        return []
    gathering_ids = {e.gathering_id for e in run}
    user_ids = {e.user_id for e in run}
    series_of = dict(
        session.execute(
            select(Gathering.id, Gathering.series_id).where(
                Gathering.id.in_(gathering_ids), Gathering.status == GatheringStatus.SCHEDULED
            )
        ).all()
    )
    scheduled = set(series_of)
    emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(user_ids))).all())
    last_reached = _last_reached(session, {(e.gathering_id, e.user_id) for e in run})
    holders = _series_holders(
        session,
        {(series_of[e.gathering_id], e.user_id) for e in run if series_of.get(e.gathering_id)},
    )
    last_series = _last_series_reached(session, holders)
    fold = _Fold()
    series_mail: dict[tuple[int, int], dict[str, Any]] = {}
    for event in run:
        g, u = event.gathering_id, event.user_id
        if g not in scheduled or u not in emails:
            continue
        assert g is not None and u is not None
        sequence = event.data["sequence"]
        series_id = series_of[g]
        if (series_id, u) in holders:
            if event.kind == EventKind.PROMOTED:  # "a seat opened", with the whole series
                ticket = event.data["ticket"]
                fold.owe(
                    due_now(
                        f"promoted:{g}:{u}:{ticket}",
                        "promoted",
                        g,
                        u,
                        emails[u],
                        now,
                        sequence=sequence,
                        series_id=series_id,
                    )
                )
                continue
            # the whole series, with this date now in or out, replaces what they hold (an
            # answer given for the whole series is mailed by its own event)
            was_in = event.data["previous_state"] in CALENDAR_STATES
            if was_in != (event.data["state"] in CALENDAR_STATES) and (
                event.data.get("origin") != AnswerOrigin.SERIES
            ):
                last_at = last_series.get((series_id, u))
                series_mail[series_id, u] = due_now(
                    f"series-update:{series_id}:{u}:e{event.id}",
                    "series_update",
                    g,
                    u,
                    emails[u],
                    now if last_at is None else max(now, last_at + spacing),
                    series_id=series_id,
                )
            continue
        if event.kind == EventKind.PROMOTED:
            ticket = event.data["ticket"]
            fold.withdraw(g, u, ["invite"])  # "a seat opened" carries the invite
            fold.owe(
                due_now(
                    f"promoted:{g}:{u}:{ticket}",
                    "promoted",
                    g,
                    u,
                    emails[u],
                    now,
                    sequence=sequence,
                )
            )
            continue
        was_in = event.data["previous_state"] in CALENDAR_STATES
        is_in = event.data["state"] in CALENDAR_STATES
        last_kind, last_at = last_reached.get((g, u), (None, None))
        holds_it = last_kind in CALENDAR_KINDS
        due = now if last_at is None else max(now, last_at + spacing)
        if is_in and not was_in:
            fold.withdraw(g, u, ["cancel"])
            if not holds_it and event.data.get("origin") != AnswerOrigin.SERIES:
                # (a series answer's invite is the one series invite)
                fold.owe(
                    due_now(
                        f"invite:{g}:{u}:seq{sequence}:e{event.id}",
                        "invite",
                        g,
                        u,
                        emails[u],
                        due,
                        sequence=sequence,
                    )
                )
        elif was_in and not is_in:
            fold.withdraw(g, u, CALENDAR_KINDS)
            if holds_it:
                fold.owe(
                    due_now(
                        f"decline:{g}:{u}:seq{sequence}:e{event.id}",
                        "cancel",
                        g,
                        u,
                        emails[u],
                        due,
                        sequence=sequence,
                        scope="person",
                    )
                )
    if fold.withdrawn:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                tuple_(
                    OutboxMessage.gathering_id, OutboxMessage.recipient_id, OutboxMessage.kind
                ).in_(fold.withdrawn),
            )
            .values(status=OutboxStatus.WITHDRAWN)
            .execution_options(synchronize_session=False)
        )
    rows = list(fold.new_rows.values())
    due = [row["due_at"] for row in rows] if owe_many(session, rows) else []
    for (series_id, _), row in series_mail.items():
        due += [row["due_at"]] * _owe_series_mail(session, series_id, [row])
    return due


def _last_series_reached(
    session: Session, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], datetime]:
    """For each (series, person): when whole-series mail last went (or may have gone) out."""
    if not pairs:
        return {}
    series_id = OutboxMessage.payload["series_id"].as_integer()
    rows = session.execute(
        select(
            series_id,
            OutboxMessage.recipient_id,
            func.max(func.coalesce(OutboxMessage.sent_at, OutboxMessage.due_at)),
        )
        .where(
            OutboxMessage.kind.in_(SERIES_KINDS),
            OutboxMessage.status.in_(_REACHED),
            OutboxMessage.recipient_id.in_({u for _, u in pairs}),
        )
        .group_by(series_id, OutboxMessage.recipient_id)
    )
    return {(s, u): at for s, u, at in rows if (s, u) in pairs}


def _series_holders(session: Session, pairs: set[tuple[int, int | None]]) -> set[tuple[int, int]]:
    """The (series, person) pairs where the person holds the whole series."""
    if not pairs:
        return set()
    return set(
        session.execute(
            select(SeriesAnswer.series_id, SeriesAnswer.user_id).where(
                tuple_(SeriesAnswer.series_id, SeriesAnswer.user_id).in_(pairs)
            )
        ).all()
    )


def _holders_of_series(session: Session, series_id: int) -> list[User]:
    """Everyone who holds the whole series, in id order."""
    return list(
        session.scalars(
            select(User)
            .join(SeriesAnswer, SeriesAnswer.user_id == User.id)
            .where(SeriesAnswer.series_id == series_id)
            .order_by(User.id)
        )
    )


def _owe_series_mail(session: Session, series_id: int, rows: list[dict[str, Any]]) -> int:
    """Owe whole-series mail; pending series mail to the same people is withdrawn, since
    each carries the whole series as it is when sent."""
    if not rows:
        return 0
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.kind.in_(SERIES_KINDS),
            OutboxMessage.recipient_id.in_([row["recipient_id"] for row in rows]),
            OutboxMessage.payload["series_id"].as_integer() == series_id,
            OutboxMessage.key.not_in([row["key"] for row in rows]),
        )
        .values(status=OutboxStatus.WITHDRAWN)
        .execution_options(synchronize_session=False)
    )
    return len(owe_many(session, rows))


def _owe_series_update(
    session: Session, gathering_id: int, series_id: int, users: Iterable[User], now: datetime
) -> int:
    """The whole series again, to each of `users` (holders), keyed by its SEQUENCE."""
    series = session.get(Series, series_id)
    if series is None:
        return 0
    sequence = ical_events.series_sequence(series, occurrences_of(session, series_id))
    rows = [
        due_now(
            f"series-update:{series_id}:{user.id}:seq{sequence}",
            "series_update",
            gathering_id,
            user.id,
            user.email,
            now,
            series_id=series_id,
            sequence=sequence,
        )
        for user in users
    ]
    return _owe_series_mail(session, series_id, rows)


def _split_by_holding(
    session: Session, gathering: Gathering, users: list[User]
) -> tuple[list[User], list[User]]:
    """(people who hold the gathering's series whole, people who hold it as a single event)."""
    if gathering.series_id is None:
        return [], users
    whole = {
        u for _, u in _series_holders(session, {(gathering.series_id, user.id) for user in users})
    }
    return [u for u in users if u.id in whole], [u for u in users if u.id not in whole]


def _last_reached(
    session: Session, pairs: set[tuple[int | None, int | None]]
) -> dict[tuple[int, int], tuple[str, datetime]]:
    """For each (gathering, person): the kind of the last calendar mail that went (or may
    have gone) out to them, and when."""
    rows = session.execute(
        select(
            OutboxMessage.gathering_id,
            OutboxMessage.recipient_id,
            OutboxMessage.kind,
            func.coalesce(OutboxMessage.sent_at, OutboxMessage.due_at),
        )
        .where(
            tuple_(OutboxMessage.gathering_id, OutboxMessage.recipient_id).in_(pairs),
            OutboxMessage.kind.in_((*CALENDAR_KINDS, "cancel")),
            OutboxMessage.status.in_(_REACHED),
        )
        .ext(distinct_on(OutboxMessage.gathering_id, OutboxMessage.recipient_id))
        .order_by(OutboxMessage.gathering_id, OutboxMessage.recipient_id, OutboxMessage.id.desc())
    )
    return {(g, u): (kind, at) for g, u, kind, at in rows}


def calendar_holders(session: Session, gathering_id: int, as_of_event: int) -> list[User]:
    """Who had the gathering in their calendar when event `as_of_event` happened: attending
    (going, waitlisted, maybe) or invited without having said no; in id order.

    Today's answers, taken back to that moment by the answers still waiting behind it.
    """
    states: dict[int, str | None] = dict(
        session.execute(
            select(Rsvp.user_id, Rsvp.state).where(Rsvp.gathering_id == gathering_id)
        ).all()
    )
    later = session.execute(
        select(DomainEvent.user_id, DomainEvent.kind, DomainEvent.data)
        .where(
            DomainEvent.gathering_id == gathering_id,
            DomainEvent.id > as_of_event,
            DomainEvent.kind.in_(_ATTENDANCE),
        )
        .order_by(DomainEvent.id.desc())
    ).all()
    for user_id, kind, data in later:  # the earliest later event wins: it is applied last
        states[user_id] = data["previous_state"] if kind == EventKind.ANSWERED else "waitlisted"
    invited = set(
        session.scalars(select(Invitation.user_id).where(Invitation.gathering_id == gathering_id))
    )
    holders = {
        user_id
        for user_id in states.keys() | invited
        if states.get(user_id) in CALENDAR_STATES
        or (user_id in invited and states.get(user_id) is None)
    }
    if not holders:
        return []
    return list(session.scalars(select(User).where(User.id.in_(holders)).order_by(User.id)))


def _ever_reached(session: Session, gathering_id: int) -> set[int]:
    """People to whom a calendar mail for the gathering went (or may have gone)."""
    return set(
        session.scalars(
            select(OutboxMessage.recipient_id).where(
                OutboxMessage.gathering_id == gathering_id,
                OutboxMessage.kind.in_(CALENDAR_KINDS),
                OutboxMessage.status.in_(_REACHED),
            )
        )
    )


def _owe_each(
    session: Session,
    users: Iterable[User],
    *,
    key: str,
    kind: str,
    gathering_id: int,
    now: datetime,
    **payload: Any,
) -> int:
    """One mail of `kind` to each of `users` (`key` with `{user}` for the person's id)."""
    rows = [
        due_now(key.format(user=user.id), kind, gathering_id, user.id, user.email, now, **payload)
        for user in users
    ]
    return len(owe_many(session, rows))


def _on_changed(session: Session, event: DomainEvent, now: datetime) -> int:
    """A time or place change owes everyone with it in their calendar a REQUEST with the new
    SEQUENCE (pending mail of older sequences is withdrawn: this one replaces it). Reminders
    materialised for the old time are withdrawn; the planner plans the new ones."""
    g = event.gathering_id
    assert g is not None
    fields = set(event.data["fields"])
    if fields & follow_through.TIMING_FIELDS:
        follow_through.withdraw_pending(session, gathering_id=g)
    gathering = session.get(Gathering, g)
    if gathering is None or gathering.status != GatheringStatus.SCHEDULED:
        return 0
    if not fields & TIME_OR_PLACE:
        return 0
    sequence = event.data["sequence"]
    withdraw_mail(session, gathering_id=g, kinds=["invite", "update"])
    whole, single = _split_by_holding(session, gathering, calendar_holders(session, g, event.id))
    owed = _owe_each(
        session,
        single,
        key=f"update:{g}:{{user}}:seq{sequence}",
        kind="update",
        gathering_id=g,
        now=now,
        sequence=sequence,
    )
    if gathering.series_id is not None:
        owed += _owe_series_update(session, g, gathering.series_id, whole, now)
    return owed


def _on_cancelled(session: Session, event: DomainEvent, now: datetime) -> int:
    """CANCEL to everyone who was sent the gathering; what was not sent yet is withdrawn."""
    g = event.gathering_id
    assert g is not None
    follow_through.withdraw_pending(session, gathering_id=g)
    withdraw_mail(session, gathering_id=g, kinds=CALENDAR_KINDS)
    reached = _ever_reached(session, g)
    sequence = event.data["sequence"]
    gathering = session.get(Gathering, g)
    assert gathering is not None
    whole, single = _split_by_holding(session, gathering, calendar_holders(session, g, event.id))
    owed = _owe_each(
        session,
        [user for user in single if user.id in reached],
        key=f"cancel:{g}:{{user}}:seq{sequence}",
        kind="cancel",
        gathering_id=g,
        now=now,
        sequence=sequence,
        scope="everyone",
    )
    if gathering.series_id is not None:
        # an EXDATE in the whole series they hold
        owed += _owe_series_update(session, g, gathering.series_id, whole, now)
    return owed


def _on_scheduled(session: Session, event: DomainEvent, now: datetime) -> int:
    """A poll was scheduled: its participants (and anyone who already answered) get invites."""
    g = event.gathering_id
    assert g is not None
    sequence = event.data["sequence"]
    holders = calendar_holders(session, g, event.id)
    return _owe_each(
        session,
        holders,
        key=f"invite:{g}:{{user}}:seq{sequence}:e{event.id}",
        kind="invite",
        gathering_id=g,
        now=now,
        sequence=sequence,
    )


def _on_poll_failed(session: Session, event: DomainEvent, now: datetime) -> int:
    """The deadline passed and no time qualified: the organizer is told."""
    organizer = session.get(User, event.user_id) if event.user_id is not None else None
    if organizer is None or event.gathering_id is None:
        return 0
    return _owe_each(
        session,
        [organizer],
        key=f"poll_failed:{event.gathering_id}",
        kind="poll_failed",
        gathering_id=event.gathering_id,
        now=now,
        **event.data,
    )


def _on_series_answered(session: Session, event: DomainEvent, now: datetime) -> int:
    """An "all future" answer: the person holds the whole series from now on. Yes or maybe
    owes the whole series (and cancels the single events of it they were sent before); no
    owes the series without those dates, if they were sent it before."""
    person = session.get(User, event.user_id) if event.user_id is not None else None
    if person is None or event.gathering_id is None:
        return 0
    series_id, sequence = event.data["series_id"], event.data["sequence"]
    joining = event.data.get("response") in ("yes", "maybe")
    if not joining and not _series_reached(session, series_id, person.id):
        return 0
    row = due_now(
        f"series-{'invite' if joining else 'update'}:{series_id}:{person.id}:seq{sequence}"
        f":e{event.id}",
        "series_invite" if joining else "series_update",
        event.gathering_id,
        person.id,
        person.email,
        now,
        series_id=series_id,
        sequence=sequence,
    )
    owed = _owe_series_mail(session, series_id, [row])
    # the single events they hold of this series give way to it
    single = [g.id for g in occurrences_of(session, series_id)]
    held = _last_reached(session, {(g, person.id) for g in single})
    for (g, _), (kind, _) in sorted(held.items()):
        if kind in CALENDAR_KINDS:
            owed += _owe_each(
                session,
                [person],
                key=f"cancel:{g}:{{user}}:single:e{event.id}",
                kind="cancel",
                gathering_id=g,
                now=now,
                scope="single",
            )
    return owed


def _series_reached(session: Session, series_id: int, user_id: int) -> bool:
    """True when whole-series mail went (or may have gone) out to the person."""
    return (
        session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.recipient_id == user_id,
                OutboxMessage.kind.in_(SERIES_KINDS),
                OutboxMessage.status.in_(_REACHED),
                OutboxMessage.payload["series_id"].as_integer() == series_id,
            )
        ).first()
        is not None
    )


def _on_series_changed(session: Session, event: DomainEvent, now: datetime) -> int:
    """A series was split or edited as a whole: everyone who held it gets each series it
    became (the old one ending with UNTIL, the new one from the split on)."""
    g = event.gathering_id
    assert g is not None
    owed = 0
    for series_id in event.data["series_ids"]:
        owed += _owe_series_update(
            session, g, series_id, _holders_of_series(session, series_id), now
        )
    return owed


_GATHERING_HANDLERS = {
    EventKind.GATHERING_CHANGED: _on_changed,
    EventKind.GATHERING_CANCELLED: _on_cancelled,
    EventKind.GATHERING_SCHEDULED: _on_scheduled,
    EventKind.POLL_FAILED: _on_poll_failed,
    EventKind.SERIES_ANSWERED: _on_series_answered,
    EventKind.SERIES_CHANGED: _on_series_changed,
}
