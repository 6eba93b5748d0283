"""Quick data for outbox tests: people, a scheduled gathering and answers, straight to rows."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from scheduler.models import Gathering, GatheringStatus, Group, Rsvp, User
from scheduler.services.mail import follow_through


def make_users(
    session: Session, count: int, *, prefix: str = "p", timezone: str = "UTC"
) -> list[User]:
    """`count` people (no password hashing: these never log in)."""
    users = [
        User(
            email=f"{prefix}{i}@example.org",
            name=f"{prefix.upper()} Person {i}",
            password_hash="!",
            timezone=timezone,
            feed_token_nonce=secrets.token_hex(8),
            feed_token_hash=secrets.token_hex(32),
        )
        for i in range(count)
    ]
    session.add_all(users)
    session.flush()
    return users


def make_gathering(
    session: Session,
    organizer: User,
    *,
    starts_at: datetime,
    duration_minutes: int = 60,
    reminders_minutes: Sequence[int] = (1440, 60),
    followup_minutes: int = 120,
    group: Group | None = None,
    timezone: str = "Europe/Berlin",
    title: str = "Board games night",
) -> Gathering:
    """A scheduled gathering at a fixed time."""
    gathering = Gathering(
        uid=f"{secrets.token_hex(8)}@kindred.test",
        title=title,
        organizer_id=organizer.id,
        group_id=group.id if group else None,
        timezone=timezone,
        duration_minutes=duration_minutes,
        status=GatheringStatus.SCHEDULED,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=duration_minutes),
        reminders=sorted(reminders_minutes, reverse=True),
        followup_minutes=followup_minutes,
    )
    session.add(gathering)
    session.flush()
    return gathering


def answer_all(
    session: Session,
    gathering: Gathering,
    users: Sequence[User],
    state: str = "going",
    *,
    now: datetime,
) -> None:
    """Everyone answers at once (no per-person invites, no events), then every reminder and
    follow-up of theirs from `now` on is materialised, as the planner will have done by the
    time each falls due."""
    response = {"going": "yes", "maybe": "maybe", "not_going": "no"}[state]
    session.add_all(
        Rsvp(gathering_id=gathering.id, user_id=u.id, response=response, state=state) for u in users
    )
    if state == "going":
        gathering.going_count += len(users)
    session.flush()
    assert gathering.ends_at is not None
    follow_through.plan_window(
        session,
        after=now,
        until=gathering.ends_at + timedelta(minutes=gathering.followup_minutes),
        gathering_ids=[gathering.id],
    )
