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
from scheduler.domain import language
from scheduler.domain.messages import OutgoingMail
from scheduler.models import Gathering, GatheringStatus, OutboxMessage, User
from scheduler.services.mail.content import locale_of, outgoing_mail


@dataclass(frozen=True)
class RenderedMail:
    """The words of one mail."""

    subject: str
    text: str
    html: str
    unsubscribe_url: str | None = None


def _local(iso: str, timezone: str, locale: str = language.DEFAULT_LOCALE) -> str:
    moment = datetime.fromisoformat(iso)
    return language.format_when(moment, locale, ZoneInfo(timezone))


def render_nudge(
    payload: dict[str, Any], recipient_name: str, locale: str = language.DEFAULT_LOCALE
) -> RenderedMail:
    """ "Propose the next one": to the organizer of a group with nothing coming up."""
    group = payload["group_name"]
    proposal = payload["proposal"]
    tz = proposal["timezone"]
    span = language.translate(
        locale,
        "%(start)s to %(end)s",
        start=_local(proposal["poll"]["window_start"], tz, locale),
        end=_local(proposal["poll"]["window_end"], tz, locale),
    )
    weeks = payload.get("weeks_quiet", 0)
    subject = language.translate(locale, "%(group)s: propose the next one?", group=group)
    hi = language.translate(locale, "Hi %(name)s,", name=recipient_name)
    # the group's name stands in as a marker, then goes in plain, or bold (escaped) in HTML
    marker = "\x1e"
    quiet = language.translate_plural(
        locale,
        "%(group)s has had nothing on the calendar for %(num)s week. Groups stay alive by "
        "meeting regularly, so here is a poll ready to go, at the group's usual time:",
        "%(group)s has had nothing on the calendar for %(num)s weeks. Groups stay alive by "
        "meeting regularly, so here is a poll ready to go, at the group's usual time:",
        weeks,
        group=marker,
    )
    quiet_text = quiet.replace(marker, group)
    quiet_html = str(escape(quiet)).replace(marker, f"<strong>{escape(group)}</strong>")
    start_it = language.translate(
        locale, "Start it with one click: %(url)s", url=payload["propose_url"]
    )
    text = f"{hi}\n\n{quiet_text}\n\n  {span}\n\n{start_it}\n\n-- Kindred\n"
    start_poll = language.translate(locale, "Start the poll")
    html = (
        f"<p>{escape(hi)}</p>"
        f"<p>{quiet_html}</p><p>{escape(span)}</p>"
        f'<p><a href="{escape(payload["propose_url"])}">'
        f"{escape(start_poll)}</a></p>"
    )
    return RenderedMail(subject=subject, text=text, html=html)


def render_digest(
    payload: dict[str, Any],
    recipient_name: str,
    timezone: str = "UTC",
    locale: str = language.DEFAULT_LOCALE,
) -> RenderedMail:
    """The weekly digest of new gatherings matching the recipient's interests."""
    items = payload["gatherings"]
    count = len(items) + payload.get("more", 0)
    subject = language.translate_plural(
        locale,
        "%(num)s new gathering for you this week",
        "%(num)s new gatherings for you this week",
        count,
    )
    hi = language.translate(locale, "Hi %(name)s,", name=recipient_name)
    intro = language.translate(locale, "New gatherings that match your interests:")
    lines = [hi, "", intro, ""]
    html_items = []
    for item in items:
        when = _local(item["starts_at"], timezone, locale)
        tags = ", ".join(item["shared_interests"])
        lines.append(f"* {item['title']} - {when} ({tags})\n  {item['url']}")
        html_items.append(
            f'<li><a href="{escape(item["url"])}">{escape(item["title"])}</a> '
            f"{escape(when)} <small>{escape(tags)}</small></li>"
        )
    if payload.get("more"):
        lines.append(
            language.translate_plural(
                locale, "... and %(num)s more.", "... and %(num)s more.", payload["more"]
            )
        )
    unsubscribe = payload["unsubscribe_url"]
    stop = language.translate(locale, "Stop these weekly mails")
    lines += ["", f"{stop}: {unsubscribe}", "", "-- Kindred"]
    html = (
        f"<p>{escape(hi)}</p><p>{escape(intro)}</p>"
        f"<ul>{''.join(html_items)}</ul>"
        f'<p><small><a href="{escape(unsubscribe)}">{escape(stop)}</a></small></p>'
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
    return _outgoing(row, config, now, user, render_nudge(row.payload, user.name, locale_of(user)))


def render_digest_row(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The weekly digest, unless the person unsubscribed since it was owed."""
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    if user is None or not user.weekly_digest:
        return None
    mail = render_digest(row.payload, user.name, user.timezone, locale_of(user))
    return _outgoing(row, config, now, user, mail)
