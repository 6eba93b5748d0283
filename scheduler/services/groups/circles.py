"""Interest circles: create, list, join."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.domain.access import JoinPolicy, MemberRole, MemberState, Relation
from scheduler.domain.errors import Conflict, InvalidInput, NotAllowed, NotFound
from scheduler.models import Group, GroupMember, User

__all__ = ["Group", "create_group", "get_group", "groups_query", "join_group", "membership"]
from scheduler.models.interest import group_interests
from scheduler.services.groups.access import group_relation
from scheduler.services.interests.vocabulary import find_interest, resolve_interests


def create_group(
    session: Session,
    organizer: User,
    *,
    name: str,
    description: str = "",
    interests: list[str],
    join_policy: str = JoinPolicy.OPEN,
) -> Group:
    """A new group; its creator is its organizer and first member."""
    if not name.strip():
        raise InvalidInput("Name cannot be empty.", field="name")
    if join_policy not in tuple(JoinPolicy):
        raise InvalidInput("Must be one of open or approval.", field="join_policy")
    group = Group(
        name=name.strip(),
        description=description.strip(),
        organizer_id=organizer.id,
        join_policy=join_policy,
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
        raise NotFound("No group with id %(id)s.", id=group_id)
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
    """Make the user a member, or pending where an organizer approves each member; returns
    (membership, created). Asking again changes nothing."""
    existing = membership(session, group.id, user.id)
    if existing is not None:
        return existing, False
    state = MemberState.PENDING if group.join_policy == JoinPolicy.APPROVAL else MemberState.MEMBER
    member = GroupMember(group_id=group.id, user_id=user.id, state=state)
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError:
        found = membership(session, group.id, user.id)
        assert found is not None
        return found, False
    return member, True


def require_organizer(session: Session, group: Group, user: User) -> None:
    """NotAllowed unless `user` is one of the group's organizers."""
    if group_relation(session, group.id, user) != Relation.ORGANIZER:
        raise NotAllowed("Only the group's organizers can do this.")


def lock_group(session: Session, group_id: int) -> Group:
    """The group with its row locked (changes of roles happen one at a time), or NotFound."""
    group = session.scalars(
        select(Group)
        .where(Group.id == group_id)
        .with_for_update(of=Group)
        .execution_options(populate_existing=True)
    ).first()
    if group is None:
        raise NotFound("No group with id %(id)s.", id=group_id)
    return group


def organizer_ids(session: Session, group_id: int) -> list[int]:
    """The group's organizers, longest-serving first."""
    return list(
        session.scalars(
            select(GroupMember.user_id)
            .where(
                GroupMember.group_id == group_id,
                GroupMember.role == MemberRole.ORGANIZER,
                GroupMember.state == MemberState.MEMBER,
            )
            .order_by(GroupMember.joined_at, GroupMember.id)
        )
    )


def _keep_an_organizer(session: Session, group: Group, leaving: GroupMember) -> None:
    """Conflict if `leaving` is the last organizer; else the group's named organizer stays
    one who still organizes."""
    if leaving.role != MemberRole.ORGANIZER:
        return
    others = [uid for uid in organizer_ids(session, group.id) if uid != leaving.user_id]
    if not others:
        raise Conflict("A group needs at least one organizer: make someone else one first.")
    if group.organizer_id == leaving.user_id:
        group.organizer_id = others[0]


def change_member(
    session: Session,
    group_id: int,
    actor: User,
    user_id: int,
    *,
    role: str | None = None,
    state: str | None = None,
) -> GroupMember:
    """An organizer approves a pending member (`state="member"`) or changes a member's role
    (`role="organizer"|"member"`); a group is never left without an organizer."""
    group = lock_group(session, group_id)
    require_organizer(session, group, actor)
    member = membership(session, group_id, user_id)
    if member is None:
        raise NotFound("User %(id)s has not asked to join this group.", id=user_id)
    if state is not None:
        if state != MemberState.MEMBER:
            raise InvalidInput("Only approving (state member) is possible.", field="state")
        member.state = MemberState.MEMBER
    if role is not None and role != member.role:
        if role not in tuple(MemberRole):
            raise InvalidInput("Must be one of organizer or member.", field="role")
        if member.state != MemberState.MEMBER:
            raise Conflict("Approve the request before giving a role.")
        if role == MemberRole.MEMBER:
            _keep_an_organizer(session, group, member)
        member.role = role
    session.flush()
    return member


def remove_member(session: Session, group_id: int, actor: User, user_id: int) -> None:
    """An organizer removes a member (or refuses a request); anyone may leave. The last
    organizer cannot go. Removing someone not in the group changes nothing."""
    group = lock_group(session, group_id)
    if actor.id != user_id:
        require_organizer(session, group, actor)
    member = membership(session, group_id, user_id)
    if member is None:
        return
    _keep_an_organizer(session, group, member)
    session.delete(member)
    session.flush()


def members(session: Session, group_id: int) -> list[GroupMember]:
    """Members and requests: organizers first, then members, then pending, by joining time."""
    rows = list(session.scalars(select(GroupMember).where(GroupMember.group_id == group_id)))
    rank = {MemberRole.ORGANIZER.value: 0, MemberRole.MEMBER.value: 1}
    rows.sort(
        key=lambda m: (m.state == MemberState.PENDING, rank.get(m.role, 2), m.joined_at, m.id)
    )
    return rows


def membership(session: Session, group_id: int, user_id: int) -> GroupMember | None:
    """The membership row, if the user is in the group."""
    return session.scalars(
        select(GroupMember).where(GroupMember.group_id == group_id, GroupMember.user_id == user_id)
    ).first()


def member_counts(session: Session, group_ids: list[int]) -> dict[int, int]:
    """Members per group (not pending requests), in one query."""
    if not group_ids:
        return {}
    rows = session.execute(
        select(GroupMember.group_id, func.count())
        .where(GroupMember.group_id.in_(group_ids), GroupMember.state == MemberState.MEMBER)
        .group_by(GroupMember.group_id)
    )
    return {gid: n for gid, n in rows}
