"""What reminders and follow-ups say (registered with mail_content's renderer registry).

Both are re-checked at send time (`reminders.still_owed`): a reminder for a start that has
moved, a cancelled gathering, a changed answer or an unsubscribe renders to None and the row
is withdrawn instead of sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain.ical import build_invite
from scheduler.domain.messages import OutgoingMail
from scheduler.models import Gathering, GatheringStatus, OutboxMessage, Rsvp, User
from scheduler.services import calendar
from scheduler.services.mail_content import compose, gathering_context, renderer, when_text
from scheduler.services.reminders import FOLLOWUP, REMINDER, still_owed
from scheduler.services.rsvp_links import rsvp_link
from scheduler.services.unsubscribe import unsubscribe_url


def lead_time(minutes: int) -> str:
    """'in 1 hour', 'in 2 days', 'in 90 minutes': how far ahead a reminder is."""
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "tomorrow" if days == 1 else f"in {days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "in 1 hour" if hours == 1 else f"in {hours} hours"
    return "in 1 minute" if minutes == 1 else f"in {minutes} minutes"


_ICS_CACHE: dict[tuple[Any, ...], bytes] = {}


def gathering_ics(gathering: Gathering, config: Config, now: datetime) -> bytes:
    """The gathering as a PUBLISH calendar object, built once per (UID, SEQUENCE, status)."""
    key = (
        gathering.uid,
        gathering.sequence,
        gathering.status,
        gathering.updated_at,
        config.base_url,
    )
    ics = _ICS_CACHE.get(key)
    if ics is None:
        if len(_ICS_CACHE) > 256:
            _ICS_CACHE.clear()
        ics = build_invite("PUBLISH", [calendar.event_spec(gathering, config)], now)
        _ICS_CACHE[key] = ics
    return ics


def _rsvp_links(config: Config, gathering: Gathering, user: User) -> dict[str, str]:
    return {
        response: rsvp_link(config, gathering.id, user.id, response)
        for response in ("yes", "maybe", "no")
    }


def _loaded(session: Session, row: OutboxMessage) -> tuple[Gathering, User] | None:
    if not still_owed(session, row):
        return None
    gathering = session.get(Gathering, row.gathering_id)
    user = session.get(User, row.recipient_id)
    assert gathering is not None and user is not None
    return gathering, user


@renderer(REMINDER)
def render_reminder(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """'Coming up in 1 hour', in the recipient's time zone, with one-click answers and the .ics."""
    loaded = _loaded(session, row)
    if loaded is None:
        return None
    gathering, user = loaded
    from scheduler.services.reminders import _state_and_mute

    state, _ = _state_and_mute(session, gathering.id, user.id)
    context = gathering_context(gathering, user, config, state)
    context["lead_time"] = lead_time(int(row.payload.get("offset", 0)))
    context["rsvp_links"] = _rsvp_links(config, gathering, user)
    unsubscribe = unsubscribe_url(config, user.id, gathering.id)
    context["unsubscribe_url"] = unsubscribe
    return compose(
        row,
        config,
        now,
        recipient=user,
        subject=f"Reminder: {gathering.title} {context['lead_time']} ({context['when']})",
        template="reminder",
        context=context,
        ics=gathering_ics(gathering, config, now),
        ics_method="PUBLISH",
        list_unsubscribe_url=unsubscribe,
    )


def _who_came(session: Session, gathering: Gathering) -> tuple[list[str], int]:
    """Names of those going who share their name (sorted), and how many came in all."""
    cache = session.info.setdefault("followup_who_came", {})
    if gathering.id not in cache:
        rows = session.execute(
            select(User.name, User.share_name)
            .join(Rsvp, Rsvp.user_id == User.id)
            .where(Rsvp.gathering_id == gathering.id, Rsvp.state == "going")
        ).all()
        cache[gathering.id] = (sorted(name for name, share in rows if share), len(rows))
    return cache[gathering.id]


def _next_gathering(session: Session, gathering: Gathering, now: datetime) -> Gathering | None:
    if gathering.group_id is None:
        return None
    return session.scalars(
        select(Gathering)
        .where(
            Gathering.group_id == gathering.group_id,
            Gathering.id != gathering.id,
            Gathering.status.in_((GatheringStatus.SCHEDULED, GatheringStatus.POLLING)),
            (Gathering.starts_at.is_(None)) | (Gathering.starts_at > now),
        )
        .order_by(Gathering.starts_at.is_(None), Gathering.starts_at, Gathering.id)
        .limit(1)
    ).first()


@renderer(FOLLOWUP)
def render_followup(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """Thanks, who came, the group's interests, and the next gathering (or propose one)."""
    loaded = _loaded(session, row)
    if loaded is None:
        return None
    gathering, user = loaded
    context = gathering_context(gathering, user, config, "going")
    names, came = _who_came(session, gathering)
    context["names"] = names
    context["others"] = max(0, came - len(names))
    group = gathering.group
    own = {interest.name for interest in user.interests}
    interests = [interest.name for interest in (group.interests if group else gathering.interests)]
    context["interests"] = interests
    context["shared_interests"] = [name for name in interests if name in own]
    context["group"] = group
    upcoming = _next_gathering(session, gathering, now)
    context["next_gathering"] = upcoming
    context["next_url"] = calendar.gathering_url(config, upcoming.id) if upcoming else None
    context["next_when"] = (
        when_text(upcoming, user.timezone) if upcoming and upcoming.starts_at else None
    )
    context["next_yes_url"] = (
        _rsvp_links(config, upcoming, user)["yes"]
        if upcoming is not None and upcoming.status == GatheringStatus.SCHEDULED
        else None
    )
    context["propose_url"] = (
        f"{config.base_url}/groups/{group.id}/propose"
        if group is not None and group.organizer_id == user.id
        else None
    )
    context["group_url"] = f"{config.base_url}/groups/{group.id}" if group else None
    unsubscribe = unsubscribe_url(config, user.id, gathering.id)
    context["unsubscribe_url"] = unsubscribe
    return compose(
        row,
        config,
        now,
        recipient=user,
        subject=f"Thanks for coming to {gathering.title}",
        template="followup",
        context=context,
        list_unsubscribe_url=unsubscribe,
    )
