"""A gathering's discussion: its members and attendees post; authors and organizers delete.

Comments are not mailed one by one: organizers who asked for it read them in their daily
summary (mail/announcements.py).
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from scheduler.domain.access import GatheringAccess
from scheduler.domain.errors import InvalidInput, NotAllowed, NotFound
from scheduler.models import Gathering, GatheringComment, Rsvp, User, utcnow
from scheduler.services.gatherings import access
from scheduler.services.gatherings.lifecycle import get_gathering

MAX_BODY = 4000


def may_discuss(session: Session, gathering: Gathering, viewer: User | None) -> bool:
    """Organizers, the group's members (who may answer it), and anyone who answered it."""
    if viewer is None:
        return False
    rights = access.access_to(session, gathering, viewer)
    return _may_discuss(session, gathering, viewer, rights)


def _may_discuss(
    session: Session, gathering: Gathering, viewer: User, rights: GatheringAccess
) -> bool:
    if not rights.see:
        return False
    if rights.manage or (gathering.group_id is not None and rights.answer):
        return True
    answered = session.scalar(
        select(Rsvp.id).where(Rsvp.gathering_id == gathering.id, Rsvp.user_id == viewer.id)
    )
    return answered is not None and rights.answer


def _discussed(session: Session, gathering_id: int, viewer: User) -> Gathering:
    gathering = get_gathering(session, gathering_id)
    rights = access.require_visible(session, gathering, viewer)
    if not _may_discuss(session, gathering, viewer, rights):
        raise NotAllowed("Only the group's members and the gathering's attendees take part.")
    return gathering


def comments_query(session: Session, gathering_id: int, viewer: User) -> Select:
    """The discussion, oldest first (for pagination); NotAllowed for people outside it."""
    gathering = _discussed(session, gathering_id, viewer)
    return (
        select(GatheringComment)
        .where(GatheringComment.gathering_id == gathering.id)
        .order_by(GatheringComment.id)
    )


def post_comment(session: Session, gathering_id: int, author: User, body: str) -> GatheringComment:
    """Add a comment (stripped, 1 to MAX_BODY characters)."""
    gathering = _discussed(session, gathering_id, author)
    text = body.strip()
    if not text:
        raise InvalidInput("Write something.", field="body")
    if len(text) > MAX_BODY:
        raise InvalidInput("At most %(count)s characters.", count=MAX_BODY, field="body")
    comment = GatheringComment(
        gathering_id=gathering.id, author_id=author.id, body=text, created_at=utcnow()
    )
    session.add(comment)
    session.flush()
    return comment


def delete_comment(session: Session, gathering_id: int, comment_id: int, viewer: User) -> None:
    """Its author, or an organizer of the gathering, deletes a comment."""
    gathering = get_gathering(session, gathering_id)
    rights = access.require_visible(session, gathering, viewer)
    comment = session.get(GatheringComment, comment_id)
    if comment is None or comment.gathering_id != gathering.id:
        raise NotFound("No comment with id %(id)s.", id=comment_id)
    if comment.author_id != viewer.id and not rights.manage:
        raise NotAllowed("Only its author or an organizer can delete a comment.")
    session.delete(comment)
    session.flush()
