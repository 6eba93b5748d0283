"""Recommendations: groups I am not in and upcoming gatherings I have not answered.

The database prunes: only items sharing one of my interests (through the indexed association
tables) or with people I have met in them are candidates, and only the best few hundred by
interest weight come back. The pure domain (domain/recommend.py) then scores and explains them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, case, exists, func, or_, select, union_all
from sqlalchemy.orm import Session, aliased, lazyload

from scheduler.domain.recommend import Candidate, InterestWeights, Scored, interest_weights, rank
from scheduler.models import Gathering, GatheringStatus, Group, GroupMember, Rsvp, User
from scheduler.models.interest import (
    Interest,
    gathering_interests,
    group_interests,
    user_interests,
)

# how many items per list the database hands over for scoring; pages end there
CANDIDATE_LIMIT = 200


@dataclass(frozen=True)
class Recommendations:
    """One page of each list, best first."""

    groups: list[tuple[Group, Scored]]
    gatherings: list[tuple[Gathering, Scored]]
    groups_total: int
    gatherings_total: int


def my_interests(session: Session, user_id: int) -> dict[int, str]:
    """The user's interests: id → name."""
    rows = session.execute(
        select(Interest.id, Interest.name)
        .join(user_interests, user_interests.c.interest_id == Interest.id)
        .where(user_interests.c.user_id == user_id)
    )
    return {iid: name for iid, name in rows}


def weights_for(session: Session, interests: dict[int, str]) -> InterestWeights:
    """IDF weights of these interests over every user, group and gathering that uses tags."""
    if not interests:
        return interest_weights({}, 1)
    ids = list(interests)
    uses = union_all(
        *(
            select(table.c.interest_id).where(table.c.interest_id.in_(ids))
            for table in (user_interests, group_interests, gathering_interests)
        )
    ).subquery()
    counts = dict(
        session.execute(select(uses.c.interest_id, func.count()).group_by(uses.c.interest_id)).all()
    )
    # the number of "documents": everything that can carry tags (max id is an index lookup
    # and a fine estimate; exact counts would scan 160k rows per request)
    total = sum(
        session.scalar(select(func.coalesce(func.max(model.id), 0))) or 0
        for model in (User, Group, Gathering)
    )
    return interest_weights({interests[i]: counts.get(i, 0) for i in ids}, total)


def met_people_query(user_id: int, now: datetime) -> Select[tuple[int, int]]:
    """(person id, gatherings in common): discoverable people I was going with, in the past."""
    mine = aliased(Rsvp)
    theirs = aliased(Rsvp)
    return (
        select(theirs.user_id, func.count().label("times"))
        .select_from(mine)
        .join(Gathering, Gathering.id == mine.gathering_id)
        .join(theirs, theirs.gathering_id == mine.gathering_id)
        .join(User, User.id == theirs.user_id)
        .where(
            mine.user_id == user_id,
            mine.state == "going",
            theirs.state == "going",
            theirs.user_id != user_id,
            User.discoverable.is_(True),
            or_(
                Gathering.status == GatheringStatus.COMPLETED,
                and_(Gathering.status == GatheringStatus.SCHEDULED, Gathering.ends_at <= now),
            ),
        )
        .group_by(theirs.user_id)
        .correlate(None)  # a standalone list, even inside queries over gatherings
    )


def _weight_sum(column: object, weights: InterestWeights, interests: dict[int, str]) -> object:
    whens = [(column == iid, weights.weight(name)) for iid, name in interests.items()]
    return func.sum(case(*whens, else_=0.0))


def _open_gathering_filter(user_id: int, now: datetime) -> list[object]:
    mine = aliased(Rsvp)
    answered = exists().where(mine.gathering_id == Gathering.id, mine.user_id == user_id)
    return [
        Gathering.status == GatheringStatus.SCHEDULED,
        Gathering.starts_at > now,
        Gathering.organizer_id != user_id,
        ~answered,
    ]


def _gathering_candidates(
    session: Session,
    user_id: int,
    interests: dict[int, str],
    weights: InterestWeights,
    now: datetime,
) -> list[Candidate]:
    gi = gathering_interests
    ids: list[int] = []
    if interests:
        weight = _weight_sum(gi.c.interest_id, weights, interests)
        ids = list(
            session.scalars(
                select(gi.c.gathering_id)
                .join(Gathering, Gathering.id == gi.c.gathering_id)
                .where(gi.c.interest_id.in_(list(interests)), *_open_gathering_filter(user_id, now))
                .group_by(gi.c.gathering_id)
                .order_by(weight.desc(), func.min(Gathering.starts_at), gi.c.gathering_id)
                .limit(CANDIDATE_LIMIT)
            )
        )
    met = met_people_query(user_id, now).subquery()
    met_going = dict(
        session.execute(
            select(Rsvp.gathering_id, func.count())
            .join(Gathering, Gathering.id == Rsvp.gathering_id)
            .where(
                Rsvp.state == "going",
                Rsvp.user_id.in_(select(met.c.user_id)),
                *_open_gathering_filter(user_id, now),
            )
            .group_by(Rsvp.gathering_id)
        ).all()
    )
    ids = list(dict.fromkeys([*ids, *met_going]))
    if not ids:
        return []
    shared = _shared_names(session, gi, gi.c.gathering_id, ids, interests)
    waiting = dict(
        session.execute(
            select(Rsvp.gathering_id, func.count())
            .where(Rsvp.gathering_id.in_(ids), Rsvp.state == "waitlisted")
            .group_by(Rsvp.gathering_id)
        ).all()
    )
    rows = session.execute(
        select(
            Gathering.id,
            Gathering.capacity,
            Gathering.going_count,
            Gathering.starts_at,
            Gathering.status,
        ).where(Gathering.id.in_(ids))
    )
    return [
        Candidate(
            id=gid,
            shared_interests=shared.get(gid, []),
            met_count=met_going.get(gid, 0),
            capacity=capacity,
            going_count=going,
            waitlist_length=waiting.get(gid, 0),
            starts_at=starts_at,
            cancelled=status == GatheringStatus.CANCELLED,
        )
        for gid, capacity, going, starts_at, status in rows
    ]


def _group_candidates(
    session: Session,
    user_id: int,
    interests: dict[int, str],
    weights: InterestWeights,
    now: datetime,
) -> list[Candidate]:
    gi = group_interests
    member = exists().where(GroupMember.group_id == gi.c.group_id, GroupMember.user_id == user_id)
    ids: list[int] = []
    if interests:
        weight = _weight_sum(gi.c.interest_id, weights, interests)
        ids = list(
            session.scalars(
                select(gi.c.group_id)
                .where(gi.c.interest_id.in_(list(interests)), ~member)
                .group_by(gi.c.group_id)
                .order_by(weight.desc(), gi.c.group_id)
                .limit(CANDIDATE_LIMIT)
            )
        )
    met = met_people_query(user_id, now).subquery()
    mine = aliased(GroupMember)
    not_mine = ~exists().where(mine.group_id == Group.id, mine.user_id == user_id)
    met_members = dict(
        session.execute(
            select(GroupMember.group_id, func.count())
            .join(Group, Group.id == GroupMember.group_id)
            .where(GroupMember.user_id.in_(select(met.c.user_id)), not_mine)
            .group_by(GroupMember.group_id)
        ).all()
    )
    ids = list(dict.fromkeys([*ids, *met_members]))
    if not ids:
        return []
    shared = _shared_names(session, gi, gi.c.group_id, ids, interests)
    return [
        Candidate(id=gid, shared_interests=shared.get(gid, []), met_count=met_members.get(gid, 0))
        for gid in ids
    ]


def _shared_names(
    session: Session, table: object, owner: object, ids: list[int], interests: dict[int, str]
) -> dict[int, list[str]]:
    if not interests:
        return {}
    shared: dict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        select(owner, table.c.interest_id).where(  # type: ignore[attr-defined]
            owner.in_(ids),  # type: ignore[attr-defined]
            table.c.interest_id.in_(list(interests)),  # type: ignore[attr-defined]
        )
    )
    for oid, iid in rows:
        shared[oid].append(interests[iid])
    return shared


def _page(items: Sequence[Scored], page: int, page_size: int) -> list[Scored]:
    start = (page - 1) * page_size
    return list(items[start : start + page_size])


def recommend(
    session: Session, user: User, *, now: datetime, page: int = 1, page_size: int = 20
) -> Recommendations:
    """One page of recommended groups and gatherings for `user`, best first."""
    interests = my_interests(session, user.id)
    weights = weights_for(session, interests)
    gathering_ranked = rank(
        _gathering_candidates(session, user.id, interests, weights, now), weights, now=now
    )
    group_ranked = rank(
        _group_candidates(session, user.id, interests, weights, now),
        weights,
        now=now,
        member_word="in it",
    )
    gathering_page = _page(gathering_ranked, page, page_size)
    group_page = _page(group_ranked, page, page_size)
    gatherings_by_id = _load(session, Gathering, [s.candidate.id for s in gathering_page])
    groups_by_id = _load(session, Group, [s.candidate.id for s in group_page])
    return Recommendations(
        groups=[(groups_by_id[s.candidate.id], s) for s in group_page],
        gatherings=[(gatherings_by_id[s.candidate.id], s) for s in gathering_page],
        groups_total=len(group_ranked),
        gatherings_total=len(gathering_ranked),
    )


def _load(session: Session, model: type, ids: list[int]) -> dict[int, object]:
    if not ids:
        return {}
    # only plain columns are shown: skip the eager organizer/interests/poll loads
    stmt = select(model).where(model.id.in_(ids)).options(lazyload("*"))
    return {row.id: row for row in session.scalars(stmt)}
