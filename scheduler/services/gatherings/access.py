"""What a viewer may see and do with a gathering: their relation (one query) and the rule.

The rule is domain/access.py's `gathering_access`; the relation comes from
services/groups/access.py. Views, feeds and mail ask here, never compare ids themselves.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from scheduler.domain.access import (
    GatheringAccess,
    MemberState,
    Relation,
    Visibility,
    gathering_access,
    may_join_online,
    shown_name,
)
from scheduler.domain.errors import NotAllowed, NotFound
from scheduler.models import Gathering, GroupMember, Invitation, Rsvp, User
from scheduler.services.groups.access import (
    ANONYMOUS_NAME,
    account_name,
    anonymous_name,
    gathering_relation,
    group_relations,
    relation,
)

__all__ = [
    "ANONYMOUS_NAME",
    "access_many",
    "access_to",
    "listed_clause",
    "listed_for",
    "online_url_for",
    "online_urls_for_many",
    "require_visible",
]


def access_to(session: Session, gathering: Gathering, viewer: User | None) -> GatheringAccess:
    """The viewer's rights over the gathering (at most two small queries: membership, and
    for a poll outside a group whether they answered it)."""
    rel = relation(
        session, group_id=gathering.group_id, organizer_id=gathering.organizer_id, viewer=viewer
    )
    answered = False
    if (
        gathering.group_id is None
        and rel == Relation.OUTSIDER
        and viewer is not None
        and gathering.poll is not None
    ):
        answered = (
            session.scalar(
                select(Invitation.id).where(
                    Invitation.gathering_id == gathering.id,
                    Invitation.user_id == viewer.id,
                    Invitation.answered_at.is_not(None),
                )
            )
            is not None
        )
    return gathering_access(
        rel, gathering.visibility, in_group=gathering.group_id is not None, answered=answered
    )


def require_visible(session: Session, gathering: Gathering, viewer: User | None) -> GatheringAccess:
    """The viewer's access; NotFound when the gathering does not exist for them."""
    access = access_to(session, gathering, viewer)
    if not access.see:
        raise NotFound("No gathering with id %(id)s.", id=gathering.id)
    return access


def require_manager(session: Session, gathering: Gathering, viewer: User) -> GatheringAccess:
    """The viewer's access when they organize the gathering (or its group); NotFound if they
    may not see it, NotAllowed if they may see but not manage it."""
    access = require_visible(session, gathering, viewer)
    if not access.manage:
        raise NotAllowed("Only the organizers can do this.")
    return access


def listed_clause(viewer: User | None) -> ColumnElement[bool]:
    """SQL for "listed for this viewer" (GatheringAccess.listed over many rows)."""
    return listed_for(viewer.id if viewer is not None else None)


def listed_for(user_id: ColumnElement[int] | int | None) -> ColumnElement[bool]:
    """SQL for GatheringAccess.listed of the person `user_id` names (an id, or a column, for
    queries over many people): public gatherings, every one of a group they are a member of,
    and their own outside a group. tests/test_group_access.py checks it agrees with the
    domain rule."""
    public = Gathering.visibility == Visibility.PUBLIC.value
    if user_id is None:
        return public
    in_their_group = exists().where(
        GroupMember.group_id == Gathering.group_id,
        GroupMember.user_id == user_id,
        GroupMember.state == MemberState.MEMBER.value,
    )
    their_own = and_(Gathering.group_id.is_(None), Gathering.organizer_id == user_id)
    return or_(public, in_their_group, their_own)


def person_name(person: User, viewer: User | None, *, manages: bool) -> str:
    """Someone's name as this viewer of a gathering sees it (a hidden name stays hidden from
    all but its organizers, `manages`), in the viewer's language where it is Kindred's."""
    locale = viewer.locale if viewer is not None else None
    return shown_name(
        account_name(person, locale),
        shares_name=person.share_name,
        is_viewer=viewer is not None and viewer.id == person.id,
        viewer_manages=manages,
        anonymous=anonymous_name(locale),
    )


def organizer_name(gathering: Gathering, access: GatheringAccess, viewer: User | None) -> str:
    """The organizer's name as this viewer may see it (a hidden name stays hidden)."""
    return person_name(gathering.organizer, viewer, manages=access.manage)


def access_many(
    session: Session, gatherings: list[Gathering], viewer: User | None
) -> dict[int, GatheringAccess]:
    """Each gathering's access for a list (one query for all their groups). A list shows no
    poll answers, so whether the viewer answered a poll outside a group is not asked."""
    group_ids = {g.group_id for g in gatherings if g.group_id is not None}
    relations = group_relations(session, group_ids, viewer)
    result: dict[int, GatheringAccess] = {}
    for gathering in gatherings:
        rel = gathering_relation(
            viewer,
            group_id=gathering.group_id,
            organizer_id=gathering.organizer_id,
            to_group=relations.get(gathering.group_id, Relation.OUTSIDER),
        )
        result[gathering.id] = gathering_access(
            rel, gathering.visibility, in_group=gathering.group_id is not None
        )
    return result


def online_url_for(
    session: Session, gathering: Gathering, viewer: User | None, rights: GatheringAccess
) -> str:
    """The gathering's online link if this viewer may use it (domain `may_join_online`),
    else "" (one query for the viewer's RSVP state, only when there is a link)."""
    if not gathering.online_url or viewer is None:
        return ""
    going = (
        rights.manage
        or session.scalar(
            select(Rsvp.state).where(Rsvp.gathering_id == gathering.id, Rsvp.user_id == viewer.id)
        )
        == "going"
    )
    return gathering.online_url if may_join_online(rights, going=going) else ""


def online_urls_for_many(
    session: Session, gatherings: list[Gathering], viewer: User
) -> dict[int, str]:
    """online_url_for over a list (a personal feed): {gathering id: link} for those whose
    link the viewer may use (two queries: their groups, their RSVP states)."""
    with_link = [g for g in gatherings if g.online_url]
    if not with_link:
        return {}
    rights = access_many(session, with_link, viewer)
    states = dict(
        session.execute(
            select(Rsvp.gathering_id, Rsvp.state).where(
                Rsvp.user_id == viewer.id, Rsvp.gathering_id.in_([g.id for g in with_link])
            )
        ).all()
    )
    return {
        g.id: g.online_url
        for g in with_link
        if may_join_online(rights[g.id], going=states.get(g.id) == "going")
    }
