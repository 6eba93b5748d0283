"""Reach: announcements of new gatherings and polls, poll chasers, organizers' messages, and
the weekly and daily mails that gather them.

The planner hands every batch of events to `react` (after calendar mail): a gathering or poll
made in a group owes an `announce` to each member who may see it and chose "each"; a message
owes a `message` to its audience; a poll that its deadline scheduled owes its organizers one
`poll_done`. Between batches the planner calls `plan_poll_chasers`: a poll owes each member
who has not answered one `poll_reminder` once its chase time passes, and its organizers one
`poll_done` when every member has answered. Keys make each owed once:
  announce:{g}:{u}   message:{m}:{u}   poll_reminder:{g}:{u}
  poll_done:{g}:{u}:everyone or :deadline (one each; the first is dropped if still unsent
  once a time is set)
  announce_week:{u}:{iso week}   organizer_updates:{u}:{date}
What each mail says is decided when it is sent; one no longer wanted (the gathering
cancelled, the poll closed or answered, the person left the group or changed their choice)
is dropped then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from scheduler.config import Config
from scheduler.domain import language
from scheduler.domain.access import MemberState
from scheduler.domain.messages import OutgoingMail
from scheduler.domain.recommend import iso_week
from scheduler.models import (
    MESSAGE_AUDIENCES,
    AnnouncementChoice,
    DomainEvent,
    EventKind,
    Gathering,
    GatheringComment,
    GatheringMessage,
    GatheringStatus,
    GroupMember,
    Invitation,
    OutboxMessage,
    Poll,
    Rsvp,
    User,
)
from scheduler.services.accounts.links import poll_answer_url
from scheduler.services.gatherings import access
from scheduler.services.gatherings.rsvp_links import rsvp_link
from scheduler.services.groups import circles
from scheduler.services.mail.content import local_time, locale_of, outgoing_mail, when_text
from scheduler.services.mail.outbox import due_now, owe_many

ANNOUNCE = "announce"
MESSAGE = "message"
POLL_REMINDER = "poll_reminder"
POLL_DONE = "poll_done"
WEEKLY = "announce_week"
UPDATES = "organizer_updates"
# a poll is chased this long before its deadline, or half way when it runs shorter than twice
CHASE_BEFORE = timedelta(hours=24)
OPEN = (GatheringStatus.POLLING, GatheringStatus.SCHEDULED)


def _members(gathering: Gathering) -> Any:
    """(User.id, User.email) of the members of the gathering's group who may see it."""
    # its own alias: listed_for's subquery on group_members must not correlate to this join
    member = aliased(GroupMember)
    return (
        select(User.id, User.email)
        .join(member, member.user_id == User.id)
        .where(
            Gathering.id == gathering.id,
            member.group_id == gathering.group_id,
            member.state == MemberState.MEMBER,
            User.deleted_at.is_(None),
            access.listed_for(User.id),  # the one access rule, over many people
        )
        .order_by(User.id)
    )


def _organizers(session: Session, gathering: Gathering) -> list[User]:
    ids = {gathering.organizer_id}
    if gathering.group_id is not None:
        ids.update(circles.organizer_ids(session, gathering.group_id))
    return list(session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id)))


def react(session: Session, events: Sequence[DomainEvent], *, now: datetime) -> list[datetime]:
    """Owe what these events call for; returns when each owed mail is due."""
    rows: list[dict[str, Any]] = []
    for event in events:
        if event.gathering_id is None:
            continue
        if event.kind == EventKind.GATHERING_CREATED:
            rows += _announcements(session, event.gathering_id, now)
        elif event.kind == EventKind.MESSAGE_SENT:
            rows += _message_rows(session, event, now)
        elif event.kind == EventKind.GATHERING_SCHEDULED:
            rows += _scheduled_at_deadline(session, event.gathering_id, now)
    return [now] * len(owe_many(session, rows))


def _announcements(session: Session, gathering_id: int, now: datetime) -> list[dict[str, Any]]:
    gathering = session.get(Gathering, gathering_id)
    if gathering is None or gathering.group_id is None or gathering.status not in OPEN:
        return []
    query = _members(gathering).where(
        User.id != gathering.organizer_id, User.announcements == AnnouncementChoice.EACH
    )
    return [
        due_now(f"{ANNOUNCE}:{gathering.id}:{uid}", ANNOUNCE, gathering.id, uid, email, now)
        for uid, email in session.execute(query)
    ]


def _message_rows(session: Session, event: DomainEvent, now: datetime) -> list[dict[str, Any]]:
    message = session.get(GatheringMessage, event.data.get("message_id"))
    if message is None:
        return []
    query = (
        select(User.id, User.email)
        .join(Rsvp, Rsvp.user_id == User.id)
        .where(
            Rsvp.gathering_id == message.gathering_id,
            Rsvp.state.in_(MESSAGE_AUDIENCES[message.audience]),
            User.id != message.sender_id,
            User.deleted_at.is_(None),
        )
        .order_by(User.id)
    )
    return [
        due_now(
            f"{MESSAGE}:{message.id}:{uid}",
            MESSAGE,
            message.gathering_id,
            uid,
            email,
            now,
            message_id=message.id,
        )
        for uid, email in session.execute(query)
    ]


def _done_rows(
    session: Session, gathering: Gathering, now: datetime, reason: str
) -> list[dict[str, Any]]:
    return [
        due_now(
            f"{POLL_DONE}:{gathering.id}:{u.id}:{reason}",
            POLL_DONE,
            gathering.id,
            u.id,
            u.email,
            now,
            reason=reason,
        )
        for u in _organizers(session, gathering)
        if u.deleted_at is None
    ]


def _scheduled_at_deadline(
    session: Session, gathering_id: int, now: datetime
) -> list[dict[str, Any]]:
    gathering = session.get(Gathering, gathering_id)
    if (
        gathering is None
        or gathering.poll is None
        or gathering.poll.deadline_outcome != "scheduled"
    ):
        return []  # scheduled by an organizer, who knows
    return _done_rows(session, gathering, now, "deadline")


def chase_at(created_at: datetime, deadline: datetime) -> datetime:
    """When a poll's non-respondents are reminded: a day before its deadline, or half way
    for a poll open less than two days."""
    if deadline - created_at >= 2 * CHASE_BEFORE:
        return deadline - CHASE_BEFORE
    return created_at + (deadline - created_at) / 2


def _answered(gathering_id: Any, user_id: Any) -> Any:
    return exists().where(
        Invitation.gathering_id == gathering_id,
        Invitation.user_id == user_id,
        Invitation.answered_at.is_not(None),
    )


def plan_poll_chasers(session: Session, *, now: datetime) -> list[datetime]:
    """Owe the reminders of open group polls whose chase time has come, and the organizers'
    "everyone answered" mail; idempotent. Returns when each owed mail is due."""
    polls = session.scalars(
        select(Gathering)
        .join(Poll, Poll.gathering_id == Gathering.id)
        .where(
            Gathering.status == GatheringStatus.POLLING,
            Gathering.group_id.is_not(None),
            or_(Poll.deadline.is_(None), Poll.deadline > now),
        )
        .order_by(Gathering.id)
    ).all()
    rows: list[dict[str, Any]] = []
    for gathering in polls:
        members = _members(gathering).where(User.id != gathering.organizer_id).subquery()
        pending = list(
            session.execute(
                select(members.c.id, members.c.email).where(~_answered(gathering.id, members.c.id))
            )
        )
        deadline = gathering.poll.deadline if gathering.poll else None
        if deadline is not None and chase_at(gathering.created_at, deadline) <= now:
            chosen = dict(
                session.execute(
                    select(User.id, User.announcements).where(
                        User.id.in_([uid for uid, _ in pending])
                    )
                ).all()
            )
            rows += [
                due_now(
                    f"{POLL_REMINDER}:{gathering.id}:{uid}",
                    POLL_REMINDER,
                    gathering.id,
                    uid,
                    email,
                    now,
                )
                for uid, email in pending
                if chosen.get(uid) != AnnouncementChoice.NONE
            ]
        if not pending and session.scalar(
            select(func.count()).select_from(members).where(_answered(gathering.id, members.c.id))
        ):
            rows += _done_rows(session, gathering, now, "everyone")
    return [now] * len(owe_many(session, rows))


def owe_weekly_announcements(session: Session, *, now: datetime) -> int:
    """This ISO week's mail to each member who chose "weekly": the gatherings and polls made
    in their groups in the last seven days that they may see and did not make. Idempotent."""
    week = iso_week(now)
    member = aliased(GroupMember)
    rows = session.execute(
        select(User.id, User.email, Gathering.id)
        .join(member, member.user_id == User.id)
        .join(Gathering, Gathering.group_id == member.group_id)
        .where(
            User.announcements == AnnouncementChoice.WEEKLY,
            User.deleted_at.is_(None),
            member.state == MemberState.MEMBER,
            Gathering.created_at >= now - timedelta(days=7),
            Gathering.status.in_(OPEN),
            Gathering.organizer_id != User.id,
            or_(Gathering.series_id.is_(None), Gathering.recurrence_id.is_(None)),
            access.listed_for(User.id),
        )
        .order_by(User.id, Gathering.id)
    ).all()
    per_user: dict[tuple[int, str], list[int]] = defaultdict(list)
    for uid, email, gid in rows:
        per_user[(uid, email)].append(gid)
    owed = [
        due_now(
            f"{WEEKLY}:{uid}:{week}", WEEKLY, None, uid, email, now, week=week, gathering_ids=gids
        )
        for (uid, email), gids in per_user.items()
    ]
    return len(owe_many(session, owed))


def owe_organizer_updates(session: Session, *, now: datetime) -> int:
    """Today's summary for each organizer who asked for one: new answers, poll answers and
    comments of the last day on what they organize. Idempotent (a key per day)."""
    since = now - timedelta(days=1)
    activity = or_(
        exists().where(Rsvp.gathering_id == Gathering.id, Rsvp.updated_at > since),
        exists().where(Invitation.gathering_id == Gathering.id, Invitation.answered_at > since),
        exists().where(
            GatheringComment.gathering_id == Gathering.id, GatheringComment.created_at > since
        ),
    )
    organizes = or_(
        Gathering.organizer_id == User.id,
        exists().where(
            GroupMember.group_id == Gathering.group_id,
            GroupMember.user_id == User.id,
            GroupMember.role == "organizer",
            GroupMember.state == MemberState.MEMBER,
        ),
    )
    rows = session.execute(
        select(User.id, User.email, Gathering.id)
        .join(Gathering, and_(organizes, Gathering.status.in_(OPEN)))
        .where(User.organizer_updates.is_(True), User.deleted_at.is_(None), activity)
        .order_by(User.id, Gathering.id)
    ).all()
    per_user: dict[tuple[int, str], list[int]] = defaultdict(list)
    for uid, email, gid in rows:
        per_user[(uid, email)].append(gid)
    day = now.date().isoformat()
    owed = [
        due_now(
            f"{UPDATES}:{uid}:{day}",
            UPDATES,
            None,
            uid,
            email,
            now,
            since=since.isoformat(),
            gathering_ids=gids,
        )
        for (uid, email), gids in per_user.items()
    ]
    return len(owe_many(session, owed))


# ---- rendering, at send time -------------------------------------------------------------


def _recipient(session: Session, row: OutboxMessage) -> User | None:
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    return None if user is None or user.deleted_at is not None else user


def _page(config: Config, gathering: Gathering) -> str:
    return f"{config.base_url}/g/{gathering.id}"


def _mail(
    row: OutboxMessage,
    config: Config,
    now: datetime,
    user: User,
    subject: str,
    paragraphs: list[str],
    links: list[tuple[str, str]],
    footer: str,
) -> OutgoingMail:
    """A plain mail: greeting, paragraphs, labelled links, a footer saying why it came; all
    of it already in the reader's language but the greeting and the last line."""
    locale = locale_of(user)
    hi = language.translate(locale, "Hi %(name)s,", name=user.name)
    choose = language.translate(locale, "Choose what you get")
    text = [hi, ""]
    html = [f"<p>{escape(hi)}</p>"]
    for paragraph in paragraphs:
        text += [paragraph, ""]
        html.append("<p>" + escape(paragraph).replace("\n", "<br>") + "</p>")
    for label, url in links:
        text.append(f"{label}: {url}")
    if links:
        text.append("")
        html.append(
            "<p>"
            + " | ".join(f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in links)
            + "</p>"
        )
    text += [footer, f"{choose}: {config.base_url}/profile", "", "-- Kindred"]
    html.append(
        f'<p><small>{escape(footer)} <a href="{escape(config.base_url)}/profile">'
        f"{escape(choose)}</a>.</small></p>"
    )
    return outgoing_mail(
        row,
        config,
        now,
        recipient=user,
        subject=subject,
        text="\n".join(text) + "\n",
        html="".join(html),
    )


def _what_and_links(
    session: Session, gathering: Gathering, user: User, config: Config, now: datetime
) -> tuple[str, list[tuple[str, str]]]:
    """The gathering's when (in the reader's zone) or "help us find a time", and its links."""
    locale = locale_of(user)
    if gathering.status == GatheringStatus.POLLING:
        answer = poll_answer_url(
            session,
            user,
            gathering.id,
            base_url=config.base_url,
            secret_key=config.secret_key,
            now=now,
            lifetime=timedelta(hours=config.poll_link_hours),
        )
        deadline = gathering.poll.deadline if gathering.poll else None
        if deadline is None:
            when = language.translate(locale, "No time yet: help us find a time.")
        else:
            when = language.translate(
                locale,
                "No time yet: help us find a time. Answer by %(deadline)s (%(zone)s).",
                deadline=local_time(deadline, user.timezone, locale),
                zone=user.timezone,
            )
        return when, [
            (language.translate(locale, "Answer the poll"), answer),
            (language.translate(locale, "See it"), _page(config, gathering)),
        ]
    return language.translate(
        locale, "When: %(when)s", when=when_text(gathering, user.timezone, locale)
    ), [
        (language.translate(locale, "Going"), rsvp_link(config, gathering.id, user.id, "yes")),
        (language.translate(locale, "Can't go"), rsvp_link(config, gathering.id, user.id, "no")),
        (language.translate(locale, "See it"), _page(config, gathering)),
    ]


def _gathering(session: Session, gathering_id: int | None) -> Gathering | None:
    """The gathering, held for the session: a batch of 500 mails about one gathering loads it
    (and its poll, group and organizer) once, where the identity map's weak references would
    let it go between two mails."""
    if gathering_id is None:
        return None
    held = session.info.setdefault("reach_gatherings", {})
    if gathering_id not in held:
        held[gathering_id] = session.get(Gathering, gathering_id)
    return held[gathering_id]


def _visible_gathering(session: Session, row: OutboxMessage, user: User) -> Gathering | None:
    gathering = _gathering(session, row.gathering_id)
    if gathering is None or gathering.status not in OPEN:
        return None
    if not access.access_to(session, gathering, user).see_location:
        return None  # no longer among the group
    return gathering


def render_announce(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """A new gathering or poll in one of the reader's groups."""
    user = _recipient(session, row)
    if user is None or user.announcements != AnnouncementChoice.EACH:
        return None
    gathering = _visible_gathering(session, row, user)
    if gathering is None:
        return None
    locale = locale_of(user)
    group = gathering.group.name if gathering.group else ""
    when, links = _what_and_links(session, gathering, user, config, now)
    params = {"group": group, "title": gathering.title}
    if gathering.status == GatheringStatus.POLLING:
        headline = language.translate(locale, "A new poll in %(group)s: %(title)s", **params)
        subject = language.translate(
            locale, "%(group)s: help find a time for %(title)s", **params
        )
    else:
        headline = language.translate(locale, "A new gathering in %(group)s: %(title)s", **params)
        subject = f"{group}: {gathering.title}"
    paragraphs = [headline, when]
    if gathering.location:
        paragraphs.append(language.translate(locale, "Where: %(place)s", place=gathering.location))
    if gathering.description:
        paragraphs.append(gathering.description)
    return _mail(
        row,
        config,
        now,
        user,
        subject,
        paragraphs,
        links,
        language.translate(
            locale, "You get a mail for each new gathering in %(group)s.", group=group
        ),
    )


def render_poll_reminder(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The one reminder to answer a poll, unless they answered or it closed meanwhile."""
    user = _recipient(session, row)
    if user is None or user.announcements == AnnouncementChoice.NONE:
        return None
    gathering = _visible_gathering(session, row, user)
    if gathering is None or gathering.status != GatheringStatus.POLLING:
        return None
    if session.scalar(select(_answered(gathering.id, user.id))):
        return None
    when, links = _what_and_links(session, gathering, user, config, now)
    locale = locale_of(user)
    return _mail(
        row,
        config,
        now,
        user,
        language.translate(
            locale, "Still open: when suits you for %(title)s?", title=gathering.title
        ),
        [
            language.translate(
                locale,
                "%(title)s is still looking for a time, and you have not answered.",
                title=gathering.title,
            ),
            when,
        ],
        links,
        language.translate(locale, "You get one reminder per poll you have not answered."),
    )


def render_poll_done(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """To the organizers: everyone answered, or the deadline picked a time."""
    user = _recipient(session, row)
    gathering = session.get(Gathering, row.gathering_id) if row.gathering_id else None
    if user is None or gathering is None or gathering.status not in OPEN:
        return None
    if not access.access_to(session, gathering, user).manage:
        return None
    page = _page(config, gathering)
    locale = locale_of(user)
    if row.payload.get("reason") == "deadline":
        if gathering.starts_at is None:
            return None
        subject = language.translate(locale, "Time found: %(title)s", title=gathering.title)
        said = language.translate(
            locale,
            "The poll's deadline passed and picked a time: %(when)s. "
            "Invites went to everyone who answered.",
            when=when_text(gathering, user.timezone, locale),
        )
    else:
        if gathering.status != GatheringStatus.POLLING:
            return None
        subject = language.translate(locale, "Everyone answered: %(title)s", title=gathering.title)
        said = language.translate(
            locale, "Every member of the group has answered the poll. You can pick a time now."
        )
    return _mail(
        row,
        config,
        now,
        user,
        subject,
        [said],
        [(language.translate(locale, "Open the poll"), f"{page}/poll")],
        language.translate(locale, "You organize this gathering."),
    )


def render_message(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """An organizer's message to the people of a gathering."""
    user = _recipient(session, row)
    message = session.get(GatheringMessage, row.payload.get("message_id"))
    if user is None or message is None:
        return None
    gathering = session.get(Gathering, message.gathering_id)
    if gathering is None:
        return None
    locale = locale_of(user)
    sender = access.organizer_name(gathering, access.access_to(session, gathering, user), user)
    if message.sender_id != gathering.organizer_id:
        sender = (
            message.sender.name
            if message.sender.share_name
            else language.translate(locale, "An organizer")
        )
    # the organizer's words (subject and body) stay as written; only the frame is translated
    return _mail(
        row,
        config,
        now,
        user,
        f"{gathering.title}: {message.subject}",
        [
            language.translate(
                locale,
                "%(sender)s wrote to the people of %(title)s:",
                sender=sender,
                title=gathering.title,
            ),
            message.body,
        ],
        [(language.translate(locale, "See the gathering"), _page(config, gathering))],
        language.translate(locale, "You answered this gathering's invitation."),
    )


def _listing(session: Session, ids: list[int], user: User, config: Config) -> list[str]:
    lines = []
    locale = locale_of(user)
    for gathering in session.scalars(select(Gathering).where(Gathering.id.in_(ids))):
        if gathering.status not in OPEN or not access.access_to(session, gathering, user).see:
            continue
        when = (
            language.translate(locale, "help us find a time")
            if gathering.starts_at is None
            else local_time(gathering.starts_at, user.timezone, locale)
        )
        lines.append(f"{gathering.title} ({when}): {_page(config, gathering)}")
    return lines


def render_weekly(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The week's new gatherings and polls in the reader's groups."""
    user = _recipient(session, row)
    if user is None or user.announcements != AnnouncementChoice.WEEKLY:
        return None
    lines = _listing(session, row.payload.get("gathering_ids", []), user, config)
    if not lines:
        return None
    locale = locale_of(user)
    return _mail(
        row,
        config,
        now,
        user,
        language.translate(
            locale,
            "New in your groups this week (%(count)s)",
            count=language.format_number(len(lines), locale),
        ),
        [language.translate(locale, "New in your groups this week:"), "\n".join(lines)],
        [],
        language.translate(locale, "You chose a weekly mail about new gatherings in your groups."),
    )


def render_organizer_updates(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The day's new answers, poll answers and comments on what the reader organizes."""
    user = _recipient(session, row)
    if user is None or not user.organizer_updates:
        return None
    since = datetime.fromisoformat(row.payload["since"])
    locale = locale_of(user)
    paragraphs = []
    for gathering in session.scalars(
        select(Gathering).where(Gathering.id.in_(row.payload.get("gathering_ids", [])))
    ):
        if not access.access_to(session, gathering, user).manage:
            continue
        answers = session.execute(
            select(Rsvp.state, func.count())
            .where(Rsvp.gathering_id == gathering.id, Rsvp.updated_at > since)
            .group_by(Rsvp.state)
        ).all()
        polled = session.scalar(
            select(func.count()).where(
                Invitation.gathering_id == gathering.id, Invitation.answered_at > since
            )
        )
        comments = session.scalars(
            select(GatheringComment)
            .where(
                GatheringComment.gathering_id == gathering.id, GatheringComment.created_at > since
            )
            .order_by(GatheringComment.id)
        ).all()
        parts = [f"{gathering.title} ({_page(config, gathering)})"]
        if answers:
            counts = ", ".join(_answer_count(locale, state, n) for state, n in answers)
            parts.append(language.translate(locale, "New answers: %(counts)s", counts=counts))
        if polled:
            parts.append(
                language.translate(
                    locale,
                    "Poll answers: %(count)s",
                    count=language.format_number(polled, locale),
                )
            )
        for comment in comments:
            parts.append(
                language.translate(
                    locale,
                    "%(name)s commented: %(comment)s",
                    name=comment.author.name,
                    comment=comment.body,
                )
            )
        if len(parts) > 1:
            paragraphs.append("\n".join(parts))
    if not paragraphs:
        return None
    return _mail(
        row,
        config,
        now,
        user,
        language.translate(locale, "Today on your gatherings"),
        paragraphs,
        [],
        language.translate(locale, "You asked for a daily summary of what you organize."),
    )


def _answer_count(locale: str, state: str, count: int) -> str:
    """'2 going', '1 maybe': how many answered this way (a state Kindred does not know is
    shown as it is stored)."""
    if state == "going":
        return language.translate_plural(locale, "%(num)s going", "%(num)s going", count)
    if state == "maybe":
        return language.translate_plural(locale, "%(num)s maybe", "%(num)s maybe", count)
    if state == "not_going":
        return language.translate_plural(locale, "%(num)s not going", "%(num)s not going", count)
    if state == "waitlisted":
        return language.translate_plural(
            locale, "%(num)s waitlisted", "%(num)s waitlisted", count
        )
    return f"{language.format_number(count, locale)} {state}"
