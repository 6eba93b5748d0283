"""Interest aliases: the built-in list plus those organizers add."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.domain.errors import Conflict, InvalidInput, NotAllowed
from scheduler.domain.interests import (
    BUILTIN_ALIASES,
    normalise_interest,
    normalise_interests,
)
from scheduler.models import Group, Interest, InterestAlias, User
from scheduler.services.interests.vocabulary import (
    alias_table,
    canonical_names,
    resolve_interests,
    search_interests,
)


def list_aliases(session: Session) -> list[tuple[str, str]]:
    """Every alias, built-in and added: [(alias, interest)] sorted by alias."""
    table = dict(BUILTIN_ALIASES)
    table.update(alias_table_all(session))
    return sorted(table.items())


def alias_table_all(session: Session) -> dict[str, str]:
    """All organizer-added aliases."""
    rows = session.execute(
        select(InterestAlias.alias, Interest.name).join(
            Interest, Interest.id == InterestAlias.interest_id
        )
    )
    return {alias: name for alias, name in rows}


def add_alias(session: Session, user: User, *, alias: str, interest: str) -> InterestAlias:
    """Make `alias` resolve to `interest` from now on; only group organizers may."""
    is_organizer = session.scalar(select(Group.id).where(Group.organizer_id == user.id).limit(1))
    if is_organizer is None:
        raise NotAllowed("Only group organizers can add interest aliases.")
    (name,) = normalise_interests([alias], field="alias")
    (target,) = normalise_interests([interest], field="interest")
    (target,) = canonical_names(session, [target])
    if name == target:
        raise InvalidInput("An alias must differ from the interest it names.", field="alias")
    if name in BUILTIN_ALIASES or alias_table(session, [name]):
        raise Conflict(f"'{name}' is already an alias.", field="alias")
    targeted = session.scalar(select(InterestAlias.id).join(Interest).where(Interest.name == name))
    if targeted or name in BUILTIN_ALIASES.values():
        raise Conflict(f"'{name}' is a tag other aliases point to.", field="alias")
    if alias_table(session, [target]):
        raise InvalidInput(f"'{target}' is itself an alias.", field="interest")
    (tag,) = resolve_interests(session, [target], field="interest")
    row = InterestAlias(alias=name, interest_id=tag.id, created_by_id=user.id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"'{name}' is already an alias.", field="alias") from exc
    return row


def search_with_aliases(session: Session, query: str, limit: int = 20) -> list[tuple[str, int]]:
    """Autocomplete: tags containing `query`, with the tag `query` is an alias of first."""
    needle = normalise_interest(query)
    results = search_interests(session, query, limit=limit)
    (target,) = canonical_names(session, [needle]) if needle else ("",)
    if target and target != needle:
        exact = [row for row in search_interests(session, target, limit=100) if row[0] == target]
        results = exact + [row for row in results if row[0] != target]
    return results[:limit]
