"""A viewer's relation to a group (and to a gathering through it), with one query.

The rule that turns a relation into rights is domain/access.py's; this module only finds the
relation: signed out, outsider, pending, member or organizer.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.domain.access import MemberRole, MemberState, Relation
from scheduler.models import GroupMember, User

# how a person who hides their name appears to others
ANONYMOUS_NAME = "A Kindred member"


def public_name(user: User) -> str:
    """A person's name as shown to others where nobody manages anything: in invites, feeds
    and mail (a hidden name stays hidden, an organizer's included)."""
    return user.name if user.share_name else ANONYMOUS_NAME


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


def relation(
    session: Session, *, group_id: int | None, organizer_id: int, viewer: User | None
) -> Relation:
    """The viewer's relation to a gathering: its own organizer organizes it; otherwise their
    relation to its group (outsider when it has none)."""
    if viewer is None:
        return Relation.SIGNED_OUT
    if viewer.id == organizer_id:
        return Relation.ORGANIZER
    if group_id is None:
        return Relation.OUTSIDER
    return group_relation(session, group_id, viewer)
