"""Organizers' messages to a gathering's people: stored, shown on its page, and mailed by the
mail planner from the event recorded here (through the outbox, once per person)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.domain.errors import InvalidInput
from scheduler.models import MESSAGE_AUDIENCES, EventKind, GatheringMessage, User, utcnow
from scheduler.services import events
from scheduler.services.gatherings import access
from scheduler.services.gatherings.lifecycle import get_gathering

MAX_SUBJECT = 200
MAX_BODY = 10000


def send_message(
    session: Session, gathering_id: int, sender: User, *, subject: str, body: str, to: str
) -> GatheringMessage:
    """An organizer writes to those going, attending (going, waitlisted, maybe) or all who
    answered; the mail is owed once the planner sees the event."""
    gathering = get_gathering(session, gathering_id)
    access.require_manager(session, gathering, sender)
    if to not in MESSAGE_AUDIENCES:
        raise InvalidInput("Must be one of: going, attending, all.", field="to")
    subject, body = subject.strip(), body.strip()
    if not subject:
        raise InvalidInput("Write a subject.", field="subject")
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput("At most %(count)s characters.", count=MAX_SUBJECT, field="subject")
    if not body:
        raise InvalidInput("Write a message.", field="body")
    if len(body) > MAX_BODY:
        raise InvalidInput("At most %(count)s characters.", count=MAX_BODY, field="body")
    message = GatheringMessage(
        gathering_id=gathering.id,
        sender_id=sender.id,
        subject=subject,
        body=body,
        audience=to,
        created_at=utcnow(),
    )
    session.add(message)
    session.flush()
    events.record(
        session,
        EventKind.MESSAGE_SENT,
        gathering_id=gathering.id,
        user_id=sender.id,
        data={"message_id": message.id},
    )
    return message


def messages_for(
    session: Session, gathering_id: int, viewer: User | None
) -> list[GatheringMessage]:
    """The messages sent, newest first, for whoever may see the gathering's details."""
    gathering = get_gathering(session, gathering_id)
    if not access.require_visible(session, gathering, viewer).see_location:
        return []
    return list(
        session.scalars(
            select(GatheringMessage)
            .where(GatheringMessage.gathering_id == gathering.id)
            .order_by(GatheringMessage.id.desc())
        )
    )
