"""What the "nudge" and "digest" mails say, registered with the mail pipeline's renderers.

`render_nudge` and `render_digest` are pure functions of the outbox payload; the registered
renderers check at send time that the mail is still owed and wrap them as OutgoingMail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain.messages import OutgoingMail
from scheduler.models import Gathering, GatheringStatus, OutboxMessage, User
from scheduler.services.mail.content import outgoing_mail


@dataclass(frozen=True)
class RenderedMail:
    """The words of one mail."""

    subject: str
    text: str
    html: str
    unsubscribe_url: str | None = None


def _local(iso: str, timezone: str) -> str:
    moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(timezone))
    return moment.strftime("%a %d %b %Y, %H:%M (%Z)")


def render_nudge(payload: dict[str, Any], recipient_name: str) -> RenderedMail:
    """ "Propose the next one": to the organizer of a group with nothing coming up."""
    group = payload["group_name"]
    proposal = payload["proposal"]
    tz = proposal["timezone"]
    start = _local(proposal["poll"]["window_start"], tz)
    end = _local(proposal["poll"]["window_end"], tz)
    weeks = payload.get("weeks_quiet", 0)
    subject = f"{group}: propose the next one?"
    text = (
        f"Hi {recipient_name},\n\n"
        f"{group} has had nothing on the calendar for {weeks} weeks. Groups stay alive by "
        f"meeting regularly, so here is a poll ready to go, at the group's usual time:\n\n"
        f"  {start} to {end}\n\n"
        f"Start it with one click: {payload['propose_url']}\n\n"
        f"-- Kindred\n"
    )
    html = (
        f"<p>Hi {escape(recipient_name)},</p>"
        f"<p><strong>{escape(group)}</strong> has had nothing on the calendar for {weeks} weeks. "
        f"Groups stay alive by meeting regularly, so here is a poll ready to go, at the group's "
        f"usual time:</p><p>{escape(start)} to {escape(end)}</p>"
        f'<p><a href="{escape(payload["propose_url"])}">Start the poll</a></p>'
    )
    return RenderedMail(subject=subject, text=text, html=html)


def render_digest(
    payload: dict[str, Any], recipient_name: str, timezone: str = "UTC"
) -> RenderedMail:
    """The weekly digest of new gatherings matching the recipient's interests."""
    items = payload["gatherings"]
    count = len(items) + payload.get("more", 0)
    subject = f"{count} new gathering{'s' if count != 1 else ''} for you this week"
    lines = [f"Hi {recipient_name},", "", "New gatherings that match your interests:", ""]
    html_items = []
    for item in items:
        when = _local(item["starts_at"], timezone)
        tags = ", ".join(item["shared_interests"])
        lines.append(f"* {item['title']} - {when} ({tags})\n  {item['url']}")
        html_items.append(
            f'<li><a href="{escape(item["url"])}">{escape(item["title"])}</a> '
            f"{escape(when)} <small>{escape(tags)}</small></li>"
        )
    if payload.get("more"):
        lines.append(f"... and {payload['more']} more.")
    unsubscribe = payload["unsubscribe_url"]
    lines += ["", f"Stop these weekly mails: {unsubscribe}", "", "-- Kindred"]
    html = (
        f"<p>Hi {escape(recipient_name)},</p><p>New gatherings that match your interests:</p>"
        f"<ul>{''.join(html_items)}</ul>"
        f'<p><small><a href="{escape(unsubscribe)}">Stop these weekly mails</a></small></p>'
    )
    return RenderedMail(
        subject=subject, text="\n".join(lines) + "\n", html=html, unsubscribe_url=unsubscribe
    )


def _outgoing(
    row: OutboxMessage, config: Config, now: datetime, user: User, mail: RenderedMail
) -> OutgoingMail:
    return outgoing_mail(
        row,
        config,
        now,
        recipient=user,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        list_unsubscribe_url=mail.unsubscribe_url,
    )


def render_nudge_row(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The nudge, unless the group has planned something since it was owed."""
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    if user is None:
        return None
    group_id = row.payload["group_id"]
    planned = session.scalar(
        select(
            exists().where(
                Gathering.group_id == group_id,
                or_(
                    Gathering.status == GatheringStatus.POLLING,
                    and_(Gathering.status == GatheringStatus.SCHEDULED, Gathering.starts_at > now),
                ),
            )
        )
    )
    if planned:
        return None
    return _outgoing(row, config, now, user, render_nudge(row.payload, user.name))


def render_digest_row(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The weekly digest, unless the person unsubscribed since it was owed."""
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    if user is None or not user.weekly_digest:
        return None
    mail = render_digest(row.payload, user.name, user.timezone)
    return _outgoing(row, config, now, user, mail)
