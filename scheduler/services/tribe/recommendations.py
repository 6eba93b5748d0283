"""Recommendations: groups I am not in and upcoming gatherings I have not answered.

The database prunes: only items sharing one of my interests (through the indexed association
tables) or with people I have met in them are candidates, and only the best few hundred by
interest weight come back. The pure domain (domain/recommend.py) then scores and explains them.

A request runs five statements (my interests with their weights, gathering candidates, group
candidates, the page's gatherings and groups). They are built once per number of interests with bound
parameters: building and cache-keying such statements costs more than running them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.orm import Session, aliased, lazyload

from scheduler.domain.recommend import (
    Candidate,
    InterestWeights,
    Scored,
    interest_weights,
    rank_page,
)
from scheduler.models import Gathering, GatheringStatus, Group, GroupMember, Rsvp, User
from scheduler.models.interest import (
    Interest,
    gathering_interests,
    group_interests,
    user_interests,
)
from scheduler.services.gatherings import access

# how many items per list the database hands over for scoring; pages end there
CANDIDATE_LIMIT = 200
# interest weights are summed in SQL as integers in these units (see _Params.weight_sum)
WEIGHT_SCALE = 1_000_000_000


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


def _usage_counts(interest_id: Any) -> Any:
    """How many users, groups and gatherings carry the tag `interest_id` (index-only counts)."""
    return sum(
        (
            select(func.count())
            .select_from(table)
            .where(table.c.interest_id == interest_id)
            .correlate_except(table)
            .scalar_subquery()
            for table in (user_interests, group_interests, gathering_interests)
        ),
        start=literal(0),
    )


def _documents() -> Any:
    """Everything that can carry tags: the max ids are index lookups and a fine estimate
    (exact counts would scan 160k rows per request)."""
    return sum(
        (
            select(func.coalesce(func.max(model.id), 0)).scalar_subquery()
            for model in (User, Group, Gathering)
        ),
        start=literal(0),
    )


@lru_cache(maxsize=1)
def _my_interests_statement() -> Select[Any]:
    return (
        select(Interest.id, Interest.name, _usage_counts(Interest.id), _documents())
        .join(user_interests, user_interests.c.interest_id == Interest.id)
        .where(user_interests.c.user_id == bindparam("user_id", type_=Integer))
    )


def my_interests_and_weights(
    session: Session, user_id: int
) -> tuple[dict[int, str], InterestWeights]:
    """The user's interests (id → name) and their IDF weights, in one statement."""
    rows = session.execute(_my_interests_statement(), {"user_id": user_id}).all()
    if not rows:
        return {}, interest_weights({}, 1)
    interests = {iid: name for iid, name, _, _ in rows}
    return interests, interest_weights({name: uses for _, name, uses, _ in rows}, rows[0][3])


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


def met_people_query(
    user_id: int, now: datetime, *, discoverable_only: bool = True
) -> Select[tuple[int, int]]:
    """(person id, gatherings in common): people I was going with, in the past (only the
    discoverable ones, unless a check-in asks whether we met)."""
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
            User.discoverable.is_(True) if discoverable_only else true(),
            or_(
                Gathering.status == GatheringStatus.COMPLETED,
                and_(Gathering.status == GatheringStatus.SCHEDULED, Gathering.ends_at <= now),
            ),
        )
        .group_by(theirs.user_id)
        .correlate(None)  # a standalone list, even inside queries over gatherings
    )


class _Params:
    """The bound parameters every candidate statement shares: who, when, which interests."""

    user_id = bindparam("user_id", type_=Integer)
    now = bindparam("now", type_=DateTime(timezone=True))

    @staticmethod
    def interest_ids(n: int) -> list[Any]:
        return [bindparam(f"iid_{i}", type_=Integer) for i in range(n)]

    @staticmethod
    def weight_sum(column: Any, n: int) -> Any:
        """The summed weight of my interests among the rows (one weight per interest).

        Weights go in as integers (nano-units): an integer sum is exact whatever order the
        plan adds rows in, so two items with the same tags tie and the sooner one wins.
        """
        whens = [
            (column == bindparam(f"iid_{i}", type_=Integer), bindparam(f"w_{i}", type_=BigInteger))
            for i in range(n)
        ]
        return func.sum(case(*whens, else_=0))

    @staticmethod
    def values(
        user_id: int, now: datetime, interests: dict[int, str], weights: InterestWeights
    ) -> dict[str, Any]:
        values: dict[str, Any] = {"user_id": user_id, "now": now}
        for i, (iid, name) in enumerate(interests.items()):
            values[f"iid_{i}"] = iid
            values[f"w_{i}"] = round(weights.weight(name) * WEIGHT_SCALE)
        return values


def _open_gathering_filter() -> list[Any]:
    mine = aliased(Rsvp)
    answered = exists().where(mine.gathering_id == Gathering.id, mine.user_id == _Params.user_id)
    return [
        Gathering.status == GatheringStatus.SCHEDULED,
        Gathering.starts_at > _Params.now,
        Gathering.organizer_id != _Params.user_id,
        ~answered,
    ]


def _top_gatherings(n: int) -> Select[Any]:
    """Ids of the open gatherings sharing most interest weight with me, best first.

    Only gathering_interests is read (an index-only scan of the upcoming rows of my tags):
    `scheduled_start` is the gathering's start while it is scheduled, so `> now` is
    "scheduled and upcoming"; mine and answered ones are two small hashed lists.
    """
    gi = gathering_interests
    answered = select(Rsvp.gathering_id).where(Rsvp.user_id == _Params.user_id)
    organized = select(Gathering.id).where(Gathering.organizer_id == _Params.user_id)
    weight = _Params.weight_sum(gi.c.interest_id, n)
    return (
        select(gi.c.gathering_id.label("id"))
        .where(
            gi.c.interest_id.in_(_Params.interest_ids(n)),
            gi.c.scheduled_start > _Params.now,
            gi.c.gathering_id.not_in(answered),
            gi.c.gathering_id.not_in(organized),
        )
        .group_by(gi.c.gathering_id)
        .order_by(weight.desc(), func.min(gi.c.scheduled_start), gi.c.gathering_id)
        .limit(CANDIDATE_LIMIT)
    )


@lru_cache(maxsize=64)
def _gathering_statement(n: int) -> Select[Any]:
    """Top gatherings by interest weight (n interests) plus the open ones people I met are
    going to, with every fact the ranking needs."""
    met = met_people_query(_Params.user_id, _Params.now).subquery("met")  # type: ignore[arg-type]
    met_going = (
        select(Rsvp.gathering_id.label("id"), func.count().label("met"))
        .join(Gathering, Gathering.id == Rsvp.gathering_id)
        .where(
            Rsvp.state == "going",
            Rsvp.user_id.in_(select(met.c.user_id)),
            *_open_gathering_filter(),
        )
        .group_by(Rsvp.gathering_id)
        .cte("met_going")
    )
    ids: Any = select(met_going.c.id)
    if n:
        top = _top_gatherings(n).subquery("top")
        ids = union(ids, select(top.c.id))
    candidate = ids.subquery("candidate")
    # the waitlist only counts for a full gathering (domain/recommend.py): count it only there
    full = and_(Gathering.capacity.is_not(None), Gathering.going_count >= Gathering.capacity)
    waiting = case(
        (
            full,
            select(func.count())
            .where(Rsvp.gathering_id == Gathering.id, Rsvp.state == "waitlisted")
            .scalar_subquery(),
        ),
        else_=0,
    )
    gi = gathering_interests
    return (
        select(
            Gathering.id,
            Gathering.capacity,
            Gathering.going_count,
            Gathering.starts_at,
            Gathering.status,
            waiting,
            func.coalesce(met_going.c.met, 0),
            gi.c.interest_id,
        )
        .join(candidate, candidate.c.id == Gathering.id)
        .outerjoin(met_going, met_going.c.id == Gathering.id)
        .outerjoin(
            gi,
            and_(gi.c.gathering_id == Gathering.id, gi.c.interest_id.in_(_Params.interest_ids(n))),
        )
        # only what I may see: public ones, and those of my groups (domain/access.py)
        .where(access.listed_for(_Params.user_id))
    )


def _gathering_candidates(
    session: Session,
    user_id: int,
    interests: dict[int, str],
    weights: InterestWeights,
    now: datetime,
) -> list[Candidate]:
    facts: dict[int, tuple[Any, ...]] = {}
    shared: dict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        _gathering_statement(len(interests)), _Params.values(user_id, now, interests, weights)
    )
    for gid, capacity, going, starts_at, status, waits, met_n, iid in rows:
        facts[gid] = (capacity, going, starts_at, status, waits, met_n)
        if iid is not None:
            shared[gid].append(interests[iid])
    return [
        Candidate(
            id=gid,
            shared_interests=shared.get(gid, []),
            met_count=met_n,
            capacity=capacity,
            going_count=going,
            waitlist_length=waits,
            starts_at=starts_at,
            cancelled=status == GatheringStatus.CANCELLED,
        )
        for gid, (capacity, going, starts_at, status, waits, met_n) in facts.items()
    ]


@lru_cache(maxsize=64)
def _group_statement(n: int) -> Select[Any]:
    """Top groups I am not in by interest weight (n interests) plus those people I met are in,
    with their shared interests and met counts."""
    met = met_people_query(_Params.user_id, _Params.now).subquery("met")  # type: ignore[arg-type]
    mine = aliased(GroupMember)
    not_mine = ~exists().where(mine.group_id == Group.id, mine.user_id == _Params.user_id)
    met_members = (
        select(GroupMember.group_id.label("id"), func.count().label("met"))
        .join(Group, Group.id == GroupMember.group_id)
        .where(GroupMember.user_id.in_(select(met.c.user_id)), not_mine)
        .group_by(GroupMember.group_id)
        .cte("met_members")
    )
    ids: Any = select(met_members.c.id)
    gri = group_interests
    if n:
        member = exists().where(
            GroupMember.group_id == gri.c.group_id, GroupMember.user_id == _Params.user_id
        )
        top = (
            select(gri.c.group_id.label("id"))
            .where(gri.c.interest_id.in_(_Params.interest_ids(n)), ~member)
            .group_by(gri.c.group_id)
            .order_by(_Params.weight_sum(gri.c.interest_id, n).desc(), gri.c.group_id)
            .limit(CANDIDATE_LIMIT)
            .subquery("top")
        )
        ids = union(ids, select(top.c.id))
    candidate = ids.subquery("candidate")
    return (
        select(candidate.c.id, func.coalesce(met_members.c.met, 0), gri.c.interest_id)
        .outerjoin(met_members, met_members.c.id == candidate.c.id)
        .outerjoin(
            gri,
            and_(gri.c.group_id == candidate.c.id, gri.c.interest_id.in_(_Params.interest_ids(n))),
        )
    )


def _group_candidates(
    session: Session,
    user_id: int,
    interests: dict[int, str],
    weights: InterestWeights,
    now: datetime,
) -> list[Candidate]:
    met_counts: dict[int, int] = {}
    shared: dict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        _group_statement(len(interests)), _Params.values(user_id, now, interests, weights)
    )
    for gid, met_n, iid in rows:
        met_counts[gid] = met_n
        if iid is not None:
            shared[gid].append(interests[iid])
    return [
        Candidate(id=gid, shared_interests=shared.get(gid, []), met_count=met_n)
        for gid, met_n in met_counts.items()
    ]


def recommend(
    session: Session, user: User, *, now: datetime, page: int = 1, page_size: int = 20
) -> Recommendations:
    """One page of recommended groups and gatherings for `user`, best first."""
    interests, weights = my_interests_and_weights(session, user.id)
    start = (page - 1) * page_size
    window = {"start": start, "stop": start + page_size}
    gathering_page, gatherings_total = rank_page(
        _gathering_candidates(session, user.id, interests, weights, now),
        weights,
        now=now,
        locale=user.locale,
        **window,
    )
    group_page, groups_total = rank_page(
        _group_candidates(session, user.id, interests, weights, now),
        weights,
        now=now,
        groups=True,
        locale=user.locale,
        **window,
    )
    gatherings_by_id = _load(session, Gathering, [s.candidate.id for s in gathering_page])
    groups_by_id = _load(session, Group, [s.candidate.id for s in group_page])
    return Recommendations(
        groups=[(groups_by_id[s.candidate.id], s) for s in group_page],
        gatherings=[(gatherings_by_id[s.candidate.id], s) for s in gathering_page],
        groups_total=groups_total,
        gatherings_total=gatherings_total,
    )


@lru_cache(maxsize=2)
def _load_statement(model: type) -> Select[Any]:
    # only plain columns are shown: skip the eager organizer/interests/poll loads
    ids = bindparam("ids", expanding=True)
    return select(model).where(model.id.in_(ids)).options(lazyload("*"))  # type: ignore[attr-defined]


def _load(session: Session, model: type, ids: list[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(_load_statement(model), {"ids": ids})}
