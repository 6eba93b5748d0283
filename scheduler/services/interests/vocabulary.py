"""Finding or creating interest tags, through their aliases."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.domain.interests import apply_aliases, normalise_interest, normalise_interests
from scheduler.models import Interest, InterestAlias
from scheduler.models.interest import gathering_interests, group_interests, user_interests


def alias_table(session: Session, names: list[str]) -> dict[str, str]:
    """Organizer-added aliases among these normalised tags: alias → interest name."""
    if not names:
        return {}
    rows = session.execute(
        select(InterestAlias.alias, Interest.name)
        .join(Interest, Interest.id == InterestAlias.interest_id)
        .where(InterestAlias.alias.in_(names))
    )
    return {alias: name for alias, name in rows}


def canonical_names(session: Session, names: list[str]) -> list[str]:
    """Normalised tags mapped through every alias, de-duplicated in first-seen order."""
    return apply_aliases(names, alias_table(session, names))


def resolve_interests(
    session: Session, raw: list[str], *, field: str = "interests"
) -> list[Interest]:
    """The Interest rows for these tags, creating the missing ones."""
    names = canonical_names(session, normalise_interests(raw, field=field))
    if not names:
        return []
    found = {i.name: i for i in session.scalars(select(Interest).where(Interest.name.in_(names)))}
    for name in names:
        if name not in found:
            try:
                # a savepoint: a concurrent request may create the same tag first
                with session.begin_nested():
                    interest = Interest(name=name)
                    session.add(interest)
                found[name] = interest
            except IntegrityError:
                found[name] = session.scalars(select(Interest).where(Interest.name == name)).one()
    return [found[name] for name in names]


def find_interest(session: Session, raw: str) -> Interest | None:
    """The existing Interest for a tag, if anyone uses it."""
    (name,) = canonical_names(session, [normalise_interest(raw)])
    return session.scalars(select(Interest).where(Interest.name == name)).first()


def search_interests(session: Session, query: str, limit: int = 20) -> list[tuple[str, int]]:
    """Existing tags containing `query`, most used first: [(name, count)]."""
    needle = normalise_interest(query)
    uses = (
        select(user_interests.c.interest_id.label("interest_id"))
        .union_all(
            select(group_interests.c.interest_id.label("interest_id")),
            select(gathering_interests.c.interest_id.label("interest_id")),
        )
        .subquery("uses")
    )
    count = func.count(uses.c.interest_id)
    stmt = (
        select(Interest.name, count)
        .join(uses, uses.c.interest_id == Interest.id, isouter=True)
        .group_by(Interest.id, Interest.name)
        .order_by(count.desc(), Interest.name)
        .limit(limit)
    )
    if needle:
        stmt = stmt.where(Interest.name.contains(needle, autoescape=True))
    return [(name, n) for name, n in session.execute(stmt)]
