"""The daily mail to a group's organizers about people waiting for approval.

`owe_pending_request_mail` (run by the worker from the clock's sweep) owes each organizer of
every group with pending requests one mail, at most once a day per group
(`Group.pending_mailed_at`), with an approve link per person; the renderer re-checks at send
time and leaves out whoever was approved or went meanwhile (nothing left: nothing sent).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain import language
from scheduler.domain.access import MemberState
from scheduler.domain.messages import OutgoingMail
from scheduler.models import Group, GroupMember, OutboxMessage, User
from scheduler.services.groups import circles
from scheduler.services.groups.access import ANONYMOUS_NAME
from scheduler.services.groups.approval_links import approval_link
from scheduler.services.mail.content import locale_of, outgoing_mail
from scheduler.services.mail.outbox import owe_mail

KIND = "pending_members"
MAIL_EVERY = timedelta(days=1)


def _pending(session: Session, group_id: int) -> list[tuple[int, str]]:
    """(user id, name as organizers see it) of the people waiting, longest first."""
    rows = session.execute(
        select(User.id, User.name)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group_id, GroupMember.state == MemberState.PENDING)
        .order_by(GroupMember.joined_at, GroupMember.id)
    )
    return [(uid, name or ANONYMOUS_NAME) for uid, name in rows]


def owe_pending_request_mail(
    session: Session, *, now: datetime, base_url: str, secret_key: str
) -> int:
    """Owe every organizer of each group with pending requests, not mailed about them in the
    last day, one mail listing them; returns how many were owed. Safe to run twice (the
    group row is locked and stamped; the key names the group, organizer and hour)."""
    waiting = exists().where(
        GroupMember.group_id == Group.id, GroupMember.state == MemberState.PENDING
    )
    groups = session.scalars(
        select(Group)
        .where(
            waiting,
            or_(Group.pending_mailed_at.is_(None), Group.pending_mailed_at <= now - MAIL_EVERY),
        )
        .order_by(Group.id)
        .with_for_update(of=Group, skip_locked=True)
    ).all()
    owed = 0
    for group in groups:
        pending = _pending(session, group.id)
        for organizer_id in circles.organizer_ids(session, group.id):
            organizer = session.get(User, organizer_id)
            if organizer is None:
                continue
            requests = [
                {
                    "user_id": uid,
                    "name": name,
                    "approve_url": approval_link(
                        secret_key,
                        base_url,
                        group_id=group.id,
                        user_id=uid,
                        organizer_id=organizer_id,
                    ),
                }
                for uid, name in pending
            ]
            row = owe_mail(
                session,
                key=f"{KIND}:{group.id}:{organizer_id}:{now:%Y-%m-%dT%H}",
                kind=KIND,
                recipient=organizer,
                payload={
                    "group_id": group.id,
                    "group_name": group.name,
                    "group_url": f"{base_url}/groups/{group.id}#members",
                    "requests": requests,
                },
                due_at=now,
            )
            owed += row is not None
        group.pending_mailed_at = now
    session.flush()
    return owed


def render_pending_requests(
    payload: dict[str, Any], recipient_name: str, locale: str = language.DEFAULT_LOCALE
) -> tuple[str, str, str]:
    """(subject, text, html) of the mail, for the requests still in `payload`."""
    group = payload["group_name"]
    requests = payload["requests"]
    subject = language.translate_plural(
        locale,
        "%(group)s: %(num)s person asks to join",
        "%(group)s: %(num)s people ask to join",
        len(requests),
        group=group,
    )
    hi = language.translate(locale, "Hi %(name)s,", name=recipient_name)
    # the group's name stands in as a marker, then goes in plain, or bold (escaped) in HTML
    marker = "\x1e"
    waiting = language.translate(
        locale, "Waiting for an organizer to let them into %(group)s:", group=marker
    )
    approve = language.translate(locale, "approve")
    once_a_day = language.translate(
        locale, "You get this mail at most once a day while people are waiting."
    )
    lines = [hi, "", waiting.replace(marker, group), ""]
    items = []
    for item in requests:
        lines.append(f"* {item['name']}: {approve} {item['approve_url']}")
        items.append(
            f'<li>{escape(item["name"])}: <a href="{escape(item["approve_url"])}">'
            f"{escape(approve)}</a></li>"
        )
    lines += [
        "",
        language.translate(
            locale,
            "Decline or see everyone on the group's page: %(url)s",
            url=payload["group_url"],
        ),
        "",
        once_a_day,
        "",
        "-- Kindred",
    ]
    decline = language.translate(
        locale,
        'Decline or see everyone on the group\'s page: <a href="%(url)s">%(url)s</a>',
        url=str(escape(payload["group_url"])),
    )
    html = (
        f"<p>{escape(hi)}</p>"
        f"<p>{str(escape(waiting)).replace(marker, f'<strong>{escape(group)}</strong>')}</p>"
        f"<ul>{''.join(items)}</ul>"
        f"<p>{decline}</p><p><small>{escape(once_a_day)}</small></p>"
    )
    return subject, "\n".join(lines) + "\n", html


def render_pending_requests_row(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The mail, with only the people still waiting, if the recipient still organizes the
    group; nothing when nobody waits any more."""
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    if user is None:
        return None
    group_id = row.payload["group_id"]
    if user.id not in circles.organizer_ids(session, group_id):
        return None
    still = {uid for uid, _ in _pending(session, group_id)}
    requests = [item for item in row.payload["requests"] if item["user_id"] in still]
    if not requests:
        return None
    subject, text, html = render_pending_requests(
        {**row.payload, "requests": requests}, user.name, locale_of(user)
    )
    return outgoing_mail(row, config, now, recipient=user, subject=subject, text=text, html=html)
