"""Nudges that keep a group alive, and the weekly digest: both owed through the outbox.

Each mail's outbox key names its period, so a scan may run any number of times (several
clocks, retried jobs) and each mail is still owed exactly once per period.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from scheduler.domain.errors import NotFound
from scheduler.domain.language import translate
from scheduler.domain.recommend import (
    UsualSlot,
    iso_week,
    proposed_window,
    quiet_period,
    usual_slot,
)
from scheduler.models import Gathering, GatheringStatus, Group, Rsvp, User
from scheduler.models.interest import Interest, gathering_interests, user_interests
from scheduler.services.gatherings import access
from scheduler.services.groups import circles
from scheduler.services.mail.outbox import owe_mail
from scheduler.services.polls import scheduling

HABIT_SAMPLE = 12  # the group's last this-many gatherings define its usual day and time
DIGEST_MAX_ITEMS = 20
DEFAULT_SLOT_START = time(19, 0)
DEFAULT_SLOT_WEEKDAY = 3  # Thursday
DEFAULT_SLOT_MINUTES = 120
_UNSUBSCRIBE_SALT = "digest-unsubscribe"


def _upcoming(gathering: Any, now: datetime) -> Any:
    return or_(
        gathering.status == GatheringStatus.POLLING,
        and_(gathering.status == GatheringStatus.SCHEDULED, gathering.starts_at > now),
    )


def group_habit(session: Session, group: Group) -> UsualSlot:
    """The group's usual weekday, time and length, from its recent past gatherings."""
    rows = session.execute(
        select(Gathering.starts_at, Gathering.duration_minutes, Gathering.timezone)
        .where(
            Gathering.group_id == group.id,
            Gathering.status.in_([GatheringStatus.SCHEDULED, GatheringStatus.COMPLETED]),
            Gathering.starts_at.is_not(None),
        )
        .order_by(Gathering.starts_at.desc())
        .limit(HABIT_SAMPLE)
    ).all()
    slot = usual_slot([(start, minutes, tz) for start, minutes, tz in rows])
    if slot is not None:
        return slot
    return UsualSlot(
        weekday=DEFAULT_SLOT_WEEKDAY,
        start=DEFAULT_SLOT_START,
        duration_minutes=DEFAULT_SLOT_MINUTES,
        timezone=group.organizer.timezone or "UTC",
    )


def proposal_for(
    session: Session, group: Group, *, now: datetime, locale: str | None = None
) -> dict[str, Any]:
    """The body of a POST /api/v1/gatherings that proposes the group's next gathering as a poll.

    Its title is in `locale`, the proposer's language (by default that of the group's
    organizer, who is nudged)."""
    slot = group_habit(session, group)
    window_start, window_end = proposed_window(slot, now=now)
    title_locale = locale if locale is not None else group.organizer.locale
    return {
        "title": translate(title_locale, "%(group)s: next get-together", group=group.name),
        "group_id": group.id,
        "timezone": slot.timezone,
        "duration_minutes": slot.duration_minutes,
        "poll": {
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
            "step_minutes": 30,
        },
    }


def propose_next(
    session: Session, group: Group, user: User, *, now: datetime, uid_domain: str
) -> Gathering:
    """The one-click answer to a nudge: a poll at the group's usual day and time."""
    circles.require_organizer(session, group, user)  # any of its organizers
    args = proposal_for(session, group, now=now, locale=user.locale)
    poll = args["poll"]
    args["poll"] = {
        **poll,
        "window_start": datetime.fromisoformat(poll["window_start"]),
        "window_end": datetime.fromisoformat(poll["window_end"]),
    }
    return scheduling.create_poll(session, user, args, now=now, uid_domain=uid_domain)


def owe_group_nudges(session: Session, *, now: datetime, base_url: str) -> int:
    """Nudge the organizer of every group quiet for its `nudge_after_weeks`; returns mails owed."""
    last_start = func.max(Gathering.starts_at)
    upcoming = aliased(Gathering)
    rows = session.execute(
        select(Group.id, Group.created_at, Group.nudge_after_weeks, last_start)
        .join(
            Gathering,
            and_(
                Gathering.group_id == Group.id,
                Gathering.status.in_([GatheringStatus.SCHEDULED, GatheringStatus.COMPLETED]),
            ),
            isouter=True,
        )
        .where(~exists().where(upcoming.group_id == Group.id, _upcoming(upcoming, now)))
        .group_by(Group.id, Group.created_at, Group.nudge_after_weeks)
    ).all()
    owed = 0
    for group_id, created_at, weeks, last in rows:
        quiet_since = max(created_at, last) if last is not None else created_at
        spell = quiet_period(quiet_since, now, weeks)
        if spell < 1:
            continue
        group = session.get(Group, group_id)
        assert group is not None
        proposal = proposal_for(session, group, now=now)
        payload = {
            "group_id": group.id,
            "group_name": group.name,
            "quiet_since": quiet_since.isoformat(),
            "weeks_quiet": int((now - quiet_since) // timedelta(weeks=1)),
            "proposal": proposal,
            "propose_url": f"{base_url}/groups/{group.id}/propose",
            "propose_api": f"{base_url}/api/v1/groups/{group.id}/proposals",
        }
        row = owe_mail(
            session,
            key=f"nudge:{group.id}:{quiet_since:%Y%m%dT%H%M%S}:{spell}",
            kind="nudge",
            recipient=group.organizer,
            payload=payload,
            due_at=now,
        )
        owed += row is not None
    return owed


def digest_unsubscribe_token(secret_key: str, user_id: int) -> str:
    """A token that turns off one user's weekly digest, for the link in the mail."""
    return URLSafeSerializer(secret_key, salt=_UNSUBSCRIBE_SALT).dumps(user_id)


def unsubscribe_digest(session: Session, secret_key: str, token: str) -> User:
    """Turn off the weekly digest for the user the token names (idempotent)."""
    try:
        user_id = URLSafeSerializer(secret_key, salt=_UNSUBSCRIBE_SALT).loads(token)
    except BadSignature as exc:
        raise NotFound("This unsubscribe link is not valid.") from exc
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise NotFound("This unsubscribe link is not valid.")
    user.weekly_digest = False
    session.flush()
    return user


def owe_digests(session: Session, *, now: datetime, base_url: str, secret_key: str) -> int:
    """This ISO week's digest for every opted-in user with new matching gatherings."""
    week = iso_week(now)
    since = now - timedelta(days=7)
    answered = exists().where(Rsvp.gathering_id == Gathering.id, Rsvp.user_id == User.id)
    rows = session.execute(
        select(User.id, Gathering.id, Gathering.title, Gathering.starts_at, Interest.name)
        .join(user_interests, user_interests.c.user_id == User.id)
        .join(
            gathering_interests, gathering_interests.c.interest_id == user_interests.c.interest_id
        )
        .join(Gathering, Gathering.id == gathering_interests.c.gathering_id)
        .join(Interest, Interest.id == user_interests.c.interest_id)
        .where(
            User.weekly_digest.is_(True),
            Gathering.status == GatheringStatus.SCHEDULED,
            Gathering.created_at >= since,
            Gathering.starts_at > now,
            Gathering.organizer_id != User.id,
            ~answered,
            access.listed_for(User.id),  # only what each reader may see
        )
        .order_by(User.id, Gathering.starts_at, Gathering.id)
    ).all()
    per_user: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for user_id, gid, title, starts_at, interest in rows:
        item = per_user[user_id].setdefault(
            gid,
            {
                "id": gid,
                "title": title,
                "starts_at": starts_at.isoformat(),
                "url": f"{base_url}/g/{gid}",
                "shared_interests": [],
            },
        )
        item["shared_interests"].append(interest)
    owed = 0
    for user_id, items in per_user.items():
        user = session.get(User, user_id)
        assert user is not None
        gatherings = list(items.values())[:DIGEST_MAX_ITEMS]
        for item in gatherings:
            item["shared_interests"].sort()
        token = digest_unsubscribe_token(secret_key, user_id)
        row = owe_mail(
            session,
            key=f"digest:{user_id}:{week}",
            kind="digest",
            recipient=user,
            payload={
                "week": week,
                "gatherings": gatherings,
                "more": max(0, len(items) - DIGEST_MAX_ITEMS),
                "unsubscribe_url": f"{base_url}/api/v1/unsubscribe/digest/{token}",
            },
            due_at=now,
        )
        owed += row is not None
    return owed
