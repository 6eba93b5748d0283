"""People: members who share my interests, and people I have met.

Only people who opted in (`User.discoverable`) ever appear here, by name or in a count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.models import Group, GroupMember, User
from scheduler.models.interest import user_interests
from scheduler.services.tribe.recommendations import met_people_query, my_interests, weights_for

MAX_PEOPLE = 200


@dataclass(frozen=True)
class Person:
    """Someone shown to another user, with what connects them."""

    id: int
    name: str
    shared_interests: list[str] = field(default_factory=list)
    times_met: int = 0


def _times_met(session: Session, user_id: int, now: datetime) -> dict[int, int]:
    return dict(session.execute(met_people_query(user_id, now)).all())


def group_people(session: Session, group: Group, me: User, *, now: datetime) -> list[Person]:
    """Discoverable members of `group` sharing at least one of my interests, closest first."""
    interests = my_interests(session, me.id)
    if not interests:
        return []
    rows = session.execute(
        select(User.id, User.name, user_interests.c.interest_id)
        .join(GroupMember, GroupMember.user_id == User.id)
        .join(user_interests, user_interests.c.user_id == User.id)
        .where(
            GroupMember.group_id == group.id,
            User.id != me.id,
            User.discoverable.is_(True),
            user_interests.c.interest_id.in_(list(interests)),
        )
    )
    names: dict[int, str] = {}
    shared: dict[int, list[str]] = defaultdict(list)
    for uid, name, iid in rows:
        names[uid] = name
        shared[uid].append(interests[iid])
    weights = weights_for(session, interests)
    met = _times_met(session, me.id, now)
    people = [
        Person(
            id=uid,
            name=names[uid],
            shared_interests=sorted(shared[uid], key=lambda n: (-weights.weight(n), n)),
            times_met=met.get(uid, 0),
        )
        for uid in names
    ]
    people.sort(
        key=lambda p: (
            -sum(weights.weight(n) for n in p.shared_interests),
            -p.times_met,
            p.name,
            p.id,
        )
    )
    return people[:MAX_PEOPLE]


def people_met(session: Session, me: User, *, now: datetime) -> list[Person]:
    """Discoverable people I went to past gatherings with, most often met first."""
    met = _times_met(session, me.id, now)
    if not met:
        return []
    interests = my_interests(session, me.id)
    ids = list(met)
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
    shared: dict[int, list[str]] = defaultdict(list)
    if interests:
        for uid, iid in session.execute(
            select(user_interests.c.user_id, user_interests.c.interest_id).where(
                user_interests.c.user_id.in_(ids),
                user_interests.c.interest_id.in_(list(interests)),
            )
        ):
            shared[uid].append(interests[iid])
    people = [
        Person(id=uid, name=names[uid], shared_interests=sorted(shared[uid]), times_met=n)
        for uid, n in met.items()
    ]
    people.sort(key=lambda p: (-p.times_met, p.name, p.id))
    return people[:MAX_PEOPLE]
