"""Interest circles: create, list, join."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.domain.errors import InvalidInput, NotFound
from scheduler.models import Group, GroupMember, User

__all__ = ["Group", "create_group", "get_group", "groups_query", "join_group", "membership"]
from scheduler.models.interest import group_interests
from scheduler.services.interests.vocabulary import find_interest, resolve_interests


def create_group(
    session: Session, organizer: User, *, name: str, description: str = "", interests: list[str]
) -> Group:
    """A new group; its creator is its organizer and first member."""
    if not name.strip():
        raise InvalidInput("Name cannot be empty.", field="name")
    group = Group(
        name=name.strip(),
        description=description.strip(),
        organizer_id=organizer.id,
        interests=resolve_interests(session, interests),
    )
    session.add(group)
    session.flush()
    session.add(GroupMember(group_id=group.id, user_id=organizer.id, role="organizer"))
    session.flush()
    return group


def get_group(session: Session, group_id: int) -> Group:
    """The group, or NotFound."""
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound(f"No group with id {group_id}.")
    return group


def groups_query(session: Session, *, interest: str | None = None) -> Select[tuple[Group]]:
    """Groups, newest first, optionally only those tagged with `interest`."""
    stmt = select(Group).order_by(Group.created_at.desc(), Group.id.desc())
    if interest:
        tag = find_interest(session, interest)
        if tag is None:
            return stmt.where(False)  # nobody uses that tag yet
        stmt = stmt.join(group_interests, group_interests.c.group_id == Group.id).where(
            group_interests.c.interest_id == tag.id
        )
    return stmt


def join_group(session: Session, group: Group, user: User) -> tuple[GroupMember, bool]:
    """Make the user a member; returns (membership, created)."""
    existing = membership(session, group.id, user.id)
    if existing is not None:
        return existing, False
    member = GroupMember(group_id=group.id, user_id=user.id)
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError:
        found = membership(session, group.id, user.id)
        assert found is not None
        return found, False
    return member, True


def leave_group(session: Session, group: Group, user: User) -> None:
    """Remove the membership (the organizer stays)."""
    if group.organizer_id == user.id:
        raise InvalidInput("The organizer cannot leave their own group.", field="user")
    member = membership(session, group.id, user.id)
    if member is not None:
        session.delete(member)
        session.flush()


def membership(session: Session, group_id: int, user_id: int) -> GroupMember | None:
    """The membership row, if the user is in the group."""
    return session.scalars(
        select(GroupMember).where(GroupMember.group_id == group_id, GroupMember.user_id == user_id)
    ).first()


def member_counts(session: Session, group_ids: list[int]) -> dict[int, int]:
    """Members per group, in one query."""
    if not group_ids:
        return {}
    rows = session.execute(
        select(GroupMember.group_id, func.count())
        .where(GroupMember.group_id.in_(group_ids))
        .group_by(GroupMember.group_id)
    )
    return {gid: n for gid, n in rows}
