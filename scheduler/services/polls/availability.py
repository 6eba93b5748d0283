"""Answering a poll: each participant's availability, and who has not answered yet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from scheduler.domain.errors import InvalidInput, NotAllowed
from scheduler.models import AvailabilityInterval, Gathering, GroupMember, Invitation, User
from scheduler.services.gatherings import access
from scheduler.services.polls import scheduling
from scheduler.services.polls.slots import request_recompute_after_commit, require_poll

MAX_INTERVALS = 500
YES = "yes"
IF_NEED_BE = "ifneedbe"


@dataclass(frozen=True)
class AvailabilitySpan:
    """One stored interval as the participant sees it (clipped to the window, UTC)."""

    start: datetime
    end: datetime
    preference: str


@dataclass(frozen=True)
class Answer:
    """A participant's current answer to a poll and the poll revision it produced."""

    gathering_id: int
    user_id: int
    intervals: list[AvailabilitySpan]
    revision: int


def set_availability(
    session: Session,
    gathering_id: int,
    user: User,
    intervals: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
) -> Answer:
    """Replace the user's intervals (clipped to the window); they become a participant.

    Each interval is a mapping with aware `start`/`end` and an optional `preference`
    ("yes" or "ifneedbe"). Bumps the poll's availability revision under the gathering lock
    and asks for a recompute once committed.
    """
    if len(intervals) > MAX_INTERVALS:
        raise InvalidInput(
            "At most %(count)s intervals per person.", count=MAX_INTERVALS, field="intervals"
        )
    for index, interval in enumerate(intervals):
        if interval["end"] <= interval["start"]:
            raise InvalidInput("end must be after start.", field=f"intervals.{index}.end")
        if interval.get("preference", YES) not in (YES, IF_NEED_BE):
            raise InvalidInput(
                "Must be one of: yes, ifneedbe.", field=f"intervals.{index}.preference"
            )
    gathering = scheduling.lock_gathering(session, gathering_id)
    if not access.require_visible(session, gathering, user).answer:
        raise NotAllowed("Only members of the group can answer its poll; join it first.")
    poll = scheduling.require_open_poll(gathering, now=now)
    spans = []
    for interval in intervals:
        start = max(interval["start"], poll.window_start)
        end = min(interval["end"], poll.window_end)
        if start < end:  # wholly outside the window: nothing to keep
            spans.append(AvailabilitySpan(start, end, interval.get("preference", YES)))
    spans.sort(key=lambda span: (span.start, span.end))
    session.execute(
        delete(AvailabilityInterval).where(
            AvailabilityInterval.gathering_id == gathering_id,
            AvailabilityInterval.user_id == user.id,
        )
    )
    if spans:
        session.execute(
            insert(AvailabilityInterval),
            [
                {
                    "gathering_id": gathering_id,
                    "user_id": user.id,
                    "starts_at": span.start,
                    "ends_at": span.end,
                    "preferred": span.preference == YES,
                }
                for span in spans
            ],
        )
    scheduling.record_participants(session, gathering_id, [user.id], answered_at=now)
    poll.availability_revision += 1
    session.flush()
    request_recompute_after_commit(session, gathering_id)
    return Answer(gathering_id, user.id, spans, poll.availability_revision)


def get_availability(session: Session, gathering: Gathering, user: User) -> Answer:
    """The user's current answer (empty if they have not answered)."""
    poll = require_poll(gathering)
    rows = session.execute(
        select(
            AvailabilityInterval.starts_at,
            AvailabilityInterval.ends_at,
            AvailabilityInterval.preferred,
        )
        .where(
            AvailabilityInterval.gathering_id == gathering.id,
            AvailabilityInterval.user_id == user.id,
        )
        .order_by(AvailabilityInterval.starts_at, AvailabilityInterval.ends_at)
    )
    spans = [
        AvailabilitySpan(start, end, YES if preferred else IF_NEED_BE)
        for start, end, preferred in rows
    ]
    return Answer(gathering.id, user.id, spans, poll.availability_revision)


@dataclass(frozen=True)
class Participation:
    """Who has answered a poll and who, among invitees and group members, has not."""

    answered: list[User]
    not_answered: list[User]


def participation(session: Session, gathering: Gathering) -> Participation:
    """Answered vs not yet answered (invitees and group members; not the organizer)."""
    require_poll(gathering)
    invitations = session.execute(
        select(User, Invitation.answered_at)
        .join(Invitation, Invitation.user_id == User.id)
        .where(Invitation.gathering_id == gathering.id)
    ).all()
    answered = {user.id: user for user, answered_at in invitations if answered_at is not None}
    pending = {user.id: user for user, answered_at in invitations if answered_at is None}
    if gathering.group_id is not None:
        members = session.scalars(
            select(User)
            .join(GroupMember, GroupMember.user_id == User.id)
            .where(GroupMember.group_id == gathering.group_id, GroupMember.state == "member")
        )
        for member in members:
            if member.id not in answered:
                pending[member.id] = member
    pending.pop(gathering.organizer_id, None)
    return Participation(
        answered=[answered[uid] for uid in sorted(answered)],
        not_answered=[pending[uid] for uid in sorted(pending)],
    )
