"""Interest aliases: the built-in list plus those site administrators add.

An alias changes what everyone finds under a word ("crypto" → "cryptography": searching
groups for "crypto" then shows the cryptography groups), so adding and removing one is for
site administrators alone. Group organizers suggest aliases; an administrator accepts a
suggestion (it becomes an alias, under the same rules as one added directly) or rejects it.
Removing an alias restores what the word found before: aliases map lookups and never
re-tag anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.domain.errors import Conflict, InvalidInput, NotAllowed, NotFound
from scheduler.domain.interests import (
    BUILTIN_ALIASES,
    normalise_interest,
    normalise_interests,
)
from scheduler.models import (
    AliasSuggestion,
    GroupMember,
    Interest,
    InterestAlias,
    SuggestionStatus,
    User,
)
from scheduler.services.interests.vocabulary import (
    alias_table,
    canonical_names,
    find_interest,
    resolve_interests,
    search_interests,
)

# Suggestions one person may have waiting for review at a time: enough for honest use,
# and a bound on what a throwaway account can pile onto the administrators' list.
MAX_PENDING_SUGGESTIONS = 20


def list_aliases(session: Session) -> list[tuple[str, str]]:
    """Every alias, built-in and added: [(alias, interest)] sorted by alias."""
    table = dict(BUILTIN_ALIASES)
    table.update(alias_table_all(session))
    return sorted(table.items())


def alias_table_all(session: Session) -> dict[str, str]:
    """All aliases administrators added."""
    rows = session.execute(
        select(InterestAlias.alias, Interest.name).join(
            Interest, Interest.id == InterestAlias.interest_id
        )
    )
    return {alias: name for alias, name in rows}


def require_site_admin(user: User, refusal: NotAllowed) -> None:
    """Raise `refusal` (saying what only administrators may do) unless `user` is one."""
    if not user.is_site_admin:
        raise refusal


def _checked_alias(session: Session, alias: str, interest: str) -> tuple[str, str]:
    """The normalised (alias, target) if `alias` may be made to mean `interest`.

    The target resolves through existing aliases; an alias cannot name itself, be an alias
    already, be a tag other aliases point to, or point at another alias.
    """
    (name,) = normalise_interests([alias], field="alias")
    (target,) = normalise_interests([interest], field="interest")
    (target,) = canonical_names(session, [target])
    if name == target:
        raise InvalidInput("An alias must differ from the interest it names.", field="alias")
    if name in BUILTIN_ALIASES or alias_table(session, [name]):
        raise Conflict("'%(name)s' is already an alias.", name=name, field="alias")
    targeted = session.scalar(select(InterestAlias.id).join(Interest).where(Interest.name == name))
    if targeted or name in BUILTIN_ALIASES.values():
        raise Conflict("'%(name)s' is a tag other aliases point to.", name=name, field="alias")
    if alias_table(session, [target]):
        raise InvalidInput("'%(name)s' is itself an alias.", name=target, field="interest")
    return name, target


def add_alias(session: Session, admin: User, *, alias: str, interest: str) -> InterestAlias:
    """Make `alias` resolve to `interest` from now on (site administrators only)."""
    require_site_admin(
        admin,
        NotAllowed(
            "Only site administrators can add interest aliases; group organizers can suggest one."
        ),
    )
    name, target = _checked_alias(session, alias, interest)
    (tag,) = resolve_interests(session, [target], field="interest")
    row = InterestAlias(alias=name, interest_id=tag.id, created_by_id=admin.id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("'%(name)s' is already an alias.", name=name, field="alias") from exc
    return row


def remove_alias(session: Session, admin: User, alias: str) -> None:
    """Forget an added alias (site administrators only): the word means itself again."""
    require_site_admin(admin, NotAllowed("Only site administrators can remove interest aliases."))
    name = normalise_interest(alias)
    if name in BUILTIN_ALIASES:
        raise Conflict(
            "'%(name)s' is a built-in alias; it is part of Kindred and cannot be removed.",
            name=name,
            field="alias",
        )
    removed = session.execute(delete(InterestAlias).where(InterestAlias.alias == name))
    if not removed.rowcount:  # type: ignore[attr-defined]
        raise NotFound("'%(name)s' is not an alias.", name=name)


def _organizes_a_group(session: Session, user: User) -> bool:
    row = session.scalar(
        select(GroupMember.id)
        .where(GroupMember.user_id == user.id, GroupMember.role == "organizer")
        .limit(1)
    )
    return row is not None


def suggest_alias(
    session: Session, user: User, *, alias: str, interest: str, reason: str = ""
) -> AliasSuggestion:
    """Propose that `alias` should mean `interest`, an interest people already use.

    Group organizers (and administrators) may; the suggestion waits for an administrator.
    It must pass the rules an alias passes, so that only decidable ones reach the list.
    """
    if not (user.is_site_admin or _organizes_a_group(session, user)):
        raise NotAllowed("Only group organizers can suggest interest aliases.")
    name, target = _checked_alias(session, alias, interest)
    tag = find_interest(session, target)
    if tag is None:
        raise InvalidInput(
            "Nobody uses the interest '%(name)s' yet.", name=target, field="interest"
        )
    waiting = session.scalar(
        select(func.count(AliasSuggestion.id)).where(
            AliasSuggestion.suggested_by_id == user.id,
            AliasSuggestion.status == SuggestionStatus.PENDING,
        )
    )
    if (waiting or 0) >= MAX_PENDING_SUGGESTIONS:
        raise Conflict(
            "You have %(count)s suggestions waiting for review; suggest more "
            "once an administrator has decided on them.",
            count=MAX_PENDING_SUGGESTIONS,
            field="alias",
        )
    row = AliasSuggestion(
        alias=name, interest_id=tag.id, interest=tag, reason=reason.strip(), suggested_by=user
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "'%(name)s' → '%(target)s' is already waiting for review.",
            name=name,
            target=target,
            field="alias",
        ) from exc
    return row


def suggestions_query(viewer: User, *, status: str | None) -> Select[tuple[AliasSuggestion]]:
    """Suggestions, oldest first: all of them for administrators, one's own for anyone else."""
    stmt = select(AliasSuggestion).order_by(AliasSuggestion.created_at, AliasSuggestion.id)
    if not viewer.is_site_admin:
        stmt = stmt.where(AliasSuggestion.suggested_by_id == viewer.id)
    if status is not None:
        stmt = stmt.where(AliasSuggestion.status == status)
    return stmt


def decide_suggestion(
    session: Session, admin: User, suggestion_id: int, *, accept: bool, now: datetime
) -> tuple[AliasSuggestion, InterestAlias | None]:
    """Accept (the alias is added) or reject a pending suggestion (site administrators only)."""
    require_site_admin(
        admin, NotAllowed("Only site administrators can accept or reject alias suggestions.")
    )
    suggestion = session.scalars(
        select(AliasSuggestion)
        .where(AliasSuggestion.id == suggestion_id)
        .with_for_update(of=AliasSuggestion)
    ).first()
    if suggestion is None:
        raise NotFound("No alias suggestion %(id)s.", id=suggestion_id)
    if suggestion.status != SuggestionStatus.PENDING:
        if suggestion.status == SuggestionStatus.ACCEPTED:
            raise Conflict("This suggestion was already accepted.")
        raise Conflict("This suggestion was already rejected.")
    alias = None
    if accept:
        alias = add_alias(session, admin, alias=suggestion.alias, interest=suggestion.interest.name)
    suggestion.status = SuggestionStatus.ACCEPTED if accept else SuggestionStatus.REJECTED
    suggestion.decided_by_id = admin.id
    suggestion.decided_at = now
    session.flush()
    return suggestion, alias


def search_with_aliases(session: Session, query: str, limit: int = 20) -> list[tuple[str, int]]:
    """Autocomplete: tags containing `query`, with the tag `query` is an alias of first."""
    needle = normalise_interest(query)
    results = search_interests(session, query, limit=limit)
    (target,) = canonical_names(session, [needle]) if needle else ("",)
    if target and target != needle:
        exact = [row for row in search_interests(session, target, limit=100) if row[0] == target]
        results = exact + [row for row in results if row[0] != target]
    return results[:limit]
