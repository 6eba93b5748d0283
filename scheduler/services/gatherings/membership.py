"""Leaving a group, or being removed from it, as far as its gatherings are concerned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.models import Gathering, GatheringStatus, Rsvp, User
from scheduler.services.gatherings import attendance
from scheduler.services.groups import circles


def remove_from_group(
    session: Session, group_id: int, actor: User, user_id: int, *, now: datetime
) -> None:
    """Remove `user_id` from the group (an organizer's doing, or their own leaving): their
    answers to its upcoming gatherings become "no" first, so their seats go to the waitlist
    and their calendars drop them; then the membership goes (circles.remove_member checks
    who may, and keeps an organizer: on refusal the caller rolls everything back)."""
    answered = session.scalars(
        select(Rsvp.gathering_id)
        .join(Gathering, Gathering.id == Rsvp.gathering_id)
        .where(
            Gathering.group_id == group_id,
            Gathering.status == GatheringStatus.SCHEDULED,
            Gathering.ends_at > now,
            Rsvp.user_id == user_id,
            Rsvp.response != "no",
        )
        .order_by(Gathering.id)
    ).all()
    for gathering_id in answered:
        attendance.set_rsvp(session, gathering_id, user_id, "no", now=now)
    circles.remove_member(session, group_id, actor, user_id)
