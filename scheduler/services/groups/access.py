"""A viewer's relation to a group (and to a gathering through it), with one query.

The rule that turns a relation into rights is domain/access.py's; this module only finds the
relation: signed out, outsider, pending, member or organizer.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.domain.access import MemberRole, MemberState, Relation
from scheduler.domain.language import DEFAULT_LOCALE, N_, translate
from scheduler.models import GroupMember, User

# how a person who hides their name appears to others (English: translate it for the reader)
ANONYMOUS_NAME = N_("A Kindred member")


def anonymous_name(locale: str | None) -> str:
    """ANONYMOUS_NAME in the reader's language."""
    return translate(locale or DEFAULT_LOCALE, ANONYMOUS_NAME)


# what an erased account that others' rows still point at is called (stored in English)
ERASED_NAME = N_("Deleted account")


def account_name(user: User, locale: str | None) -> str:
    """The name an account holds, for a reader in `locale`: an erased account's placeholder
    in the reader's language."""
    if user.deleted_at is not None:
        return translate(locale or DEFAULT_LOCALE, ERASED_NAME)
    return user.name


def public_name(user: User, locale: str | None = None) -> str:
    """A person's name as shown to others where nobody manages anything: in invites, feeds
    and mail (a hidden name stays hidden, an organizer's included), for a reader in `locale`."""
    return user.name if user.share_name else anonymous_name(locale)


def relation_from_row(role: str | None, state: str | None) -> Relation:
    """The relation a membership row (or its absence: None) gives a signed-in person."""
    if state is None:
        return Relation.OUTSIDER
    if state == MemberState.PENDING:
        return Relation.PENDING
    return Relation.ORGANIZER if role == MemberRole.ORGANIZER else Relation.MEMBER


def group_relation(session: Session, group_id: int, viewer: User | None) -> Relation:
    """The viewer's relation to the group: one query (none when signed out)."""
    if viewer is None:
        return Relation.SIGNED_OUT
    row = session.execute(
        select(GroupMember.role, GroupMember.state).where(
            GroupMember.group_id == group_id, GroupMember.user_id == viewer.id
        )
    ).first()
    return relation_from_row(*(row or (None, None)))


def group_relations(
    session: Session, group_ids: set[int], viewer: User | None
) -> dict[int, Relation]:
    """The viewer's relation to each of these groups, in one query."""
    if viewer is None:
        return dict.fromkeys(group_ids, Relation.SIGNED_OUT)
    found = {gid: Relation.OUTSIDER for gid in group_ids}
    if group_ids:
        rows = session.execute(
            select(GroupMember.group_id, GroupMember.role, GroupMember.state).where(
                GroupMember.group_id.in_(sorted(group_ids)), GroupMember.user_id == viewer.id
            )
        )
        for group_id, role, state in rows:
            found[group_id] = relation_from_row(role, state)
    return found


def gathering_relation(
    viewer: User | None, *, group_id: int | None, organizer_id: int, to_group: Relation
) -> Relation:
    """The viewer's relation to a gathering, given `to_group`, theirs to its group (ignored
    outside a group). Outside a group its own organizer organizes it; in a group the group
    decides: its organizers organize every gathering in it, and the member who made one
    organizes that one only while they remain a member (a creator who left, or was removed,
    has no say any more)."""
    if viewer is None:
        return Relation.SIGNED_OUT
    own = viewer.id == organizer_id
    if group_id is None:
        return Relation.ORGANIZER if own else Relation.OUTSIDER
    if own and to_group == Relation.MEMBER:
        return Relation.ORGANIZER
    return to_group


def relation(
    session: Session, *, group_id: int | None, organizer_id: int, viewer: User | None
) -> Relation:
    """The viewer's relation to a gathering (gathering_relation), with at most one query."""
    to_group = (
        group_relation(session, group_id, viewer)
        if group_id is not None and viewer is not None
        else Relation.OUTSIDER
    )
    return gathering_relation(
        viewer, group_id=group_id, organizer_id=organizer_id, to_group=to_group
    )
