"""Check-in mail: "Ana would like to catch up" with one-click times, and the signed links.

The links are signed here (mail makes them; services/tribe/checkins.py reads them back
through `read_checkin_token`): /checkins/answer/<token>, the token naming the check-in, the
invitee and the chosen proposal (or -1: decline).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain import language
from scheduler.domain.errors import InvalidInput
from scheduler.domain.messages import OutgoingMail
from scheduler.models import Checkin, CheckinStatus, OutboxMessage, User
from scheduler.services.mail.content import locale_of, outgoing_mail

KIND = "checkin_request"
CHECKIN_LINK_SALT = "kindred.checkin-link.v1"
DECLINE = -1
LINK_MAX_AGE_DAYS = 30


@dataclass(frozen=True)
class CheckinClaim:
    """What a valid link asks: this invitee picks proposal `choice` (DECLINE: says no)."""

    checkin_id: int
    user_id: int
    choice: int


def _serializer(config: Config) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config.secret_key, salt=CHECKIN_LINK_SALT)


def checkin_link(config: Config, checkin_id: int, user_id: int, choice: int) -> str:
    """The page that accepts proposal `choice` (or declines) in one click."""
    token = _serializer(config).dumps([checkin_id, user_id, choice])
    return f"{config.base_url}/checkins/answer/{token}"


def read_checkin_token(config: Config, token: str) -> CheckinClaim:
    """The claim of a genuine, recent link; InvalidInput otherwise."""
    try:
        data = _serializer(config).loads(token[:512], max_age=LINK_MAX_AGE_DAYS * 86400)
    except SignatureExpired as exc:
        raise InvalidInput("This link has expired.", field="token") from exc
    except BadSignature as exc:
        raise InvalidInput("This link is not valid.", field="token") from exc
    if not (
        isinstance(data, list)
        and len(data) == 3
        and all(isinstance(x, int) and not isinstance(x, bool) for x in data)
    ):
        raise InvalidInput("This link is not valid.", field="token")
    return CheckinClaim(checkin_id=data[0], user_id=data[1], choice=data[2])


def _local(moment: datetime, zone: str, locale: str = language.DEFAULT_LOCALE) -> str:
    return language.format_when(moment, locale, ZoneInfo(zone))


def render_checkin_request_row(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The request, while it is still open; times in the invitee's own zone."""
    checkin = session.get(Checkin, row.payload.get("checkin_id"))
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    if checkin is None or user is None or checkin.status != CheckinStatus.PROPOSED:
        return None
    asker = checkin.asker.name
    times = [datetime.fromisoformat(p) for p in checkin.proposals]
    links = [checkin_link(config, checkin.id, user.id, i) for i in range(len(times))]
    decline = checkin_link(config, checkin.id, user.id, DECLINE)
    locale = locale_of(user)
    minutes = language.format_number(checkin.duration_minutes, locale)
    if checkin.every_weeks:
        ask = language.translate_plural(
            locale,
            "%(asker)s would like to catch up with you one to one for %(minutes)s minutes and "
            "again every week after that. Pick a time that suits you, in one click:",
            "%(asker)s would like to catch up with you one to one for %(minutes)s minutes and "
            "again every %(num)s weeks after that. Pick a time that suits you, in one click:",
            checkin.every_weeks,
            asker=asker,
            minutes=minutes,
        )
    else:
        ask = language.translate(
            locale,
            "%(asker)s would like to catch up with you one to one for %(minutes)s minutes. "
            "Pick a time that suits you, in one click:",
            asker=asker,
            minutes=minutes,
        )
    hi = language.translate(locale, "Hi %(name)s,", name=user.name)
    not_now = language.translate(locale, "Not now")
    lines = [hi, "", ask, ""]
    items = []
    for moment, link in zip(times, links, strict=True):
        when = _local(moment, user.timezone, locale)
        lines.append(f"  {when}: {link}")
        items.append(f'<li><a href="{escape(link)}">{escape(when)}</a></li>')
    lines += ["", f"{not_now}: {decline}", "", "-- Kindred", ""]
    html = (
        f"<p>{escape(hi)}</p><p>{escape(ask)}</p><ul>{''.join(items)}</ul>"
        f'<p><small><a href="{escape(decline)}">{escape(not_now)}</a></small></p>'
    )
    return outgoing_mail(
        row,
        config,
        now,
        recipient=user,
        subject=language.translate(locale, "%(asker)s would like to catch up", asker=asker),
        text="\n".join(lines),
        html=html,
    )


CATCH_UP_KIND = "checkin_catch_up"


def render_catch_up_row(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """ "You haven't caught up with Ana since March", unless they turned these off since."""
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    if user is None or not user.checkin_nudges or user.deleted_at is not None:
        return None
    other = row.payload["other_name"]
    since = datetime.fromisoformat(row.payload["last_met"]).astimezone(ZoneInfo(user.timezone))
    locale = locale_of(user)
    month = language.format_month(since, locale, with_year=since.year != now.year)
    people = f"{config.base_url}/people"
    hi = language.translate(locale, "Hi %(name)s,", name=user.name)
    not_met = language.translate(
        locale, "You haven't caught up with %(name)s since %(month)s.", name=other, month=month
    )
    no_more = language.translate(locale, "No more of these")
    text = (
        f"{hi}\n\n{not_met} "
        + language.translate(
            locale, "Ask for a check-in and Kindred will find a time that suits you both:"
        )
        + f"\n\n  {people}\n\n{no_more}: {people}#settings\n\n-- Kindred\n"
    )
    html = (
        f"<p>{escape(hi)}</p><p>{escape(not_met)} "
        + escape(
            language.translate(
                locale, "Ask for a check-in and Kindred will find a time that suits you both."
            )
        )
        + f'</p><p><a href="{escape(people)}">'
        + escape(language.translate(locale, "People you've met"))
        + "</a></p>"
        f'<p><small><a href="{escape(people)}#settings">{escape(no_more)}</a></small></p>'
    )
    return outgoing_mail(
        row,
        config,
        now,
        recipient=user,
        subject=language.translate(
            locale, "You haven't caught up with %(name)s since %(month)s", name=other, month=month
        ),
        text=text,
        html=html,
    )
