"""People made straight in the database, for tests that need many of them quickly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from scheduler.models import Gathering, GatheringStatus, Rsvp, User


def bare_users(session: Session, count: int, prefix: str) -> list[User]:
    """`count` users (no password, no interests), flushed so they have ids."""
    people = [
        User(
            email=f"{prefix}{i}@example.org",
            name=f"{prefix.title()} {i}",
            password_hash="-",
            feed_token_nonce="",
            feed_token_hash=f"{i:064x}",
        )
        for i in range(count)
    ]
    session.add_all(people)
    session.flush()
    return people


def past_gathering_together(
    session: Session, organizer_id: int, people: list[int], *, days_ago: int = 30
) -> Gathering:
    """A completed gathering `days_ago` at which all `people` (user ids) were going."""
    start = datetime.now(UTC) - timedelta(days=days_ago)
    gathering = Gathering(
        uid=f"{uuid.uuid4()}@test",
        title="Past meetup",
        organizer_id=organizer_id,
        timezone="UTC",
        duration_minutes=60,
        status=GatheringStatus.COMPLETED,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        going_count=len(people),
    )
    session.add(gathering)
    session.flush()
    for uid in people:
        session.add(Rsvp(gathering_id=gathering.id, user_id=uid, response="yes", state="going"))
    session.commit()
    return gathering


def met(session: Session, *people: dict, days_ago: int = 40) -> None:
    """A past gathering, `days_ago`, at which all `people` (API user dicts) were going."""
    ids = [person["id"] for person in people]
    past_gathering_together(session, ids[0], ids, days_ago=days_ago)
