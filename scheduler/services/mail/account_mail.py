"""Mail about a person's account: the links that verify an address, sign in, reset a password.

Owed like any mail (an outbox row whose payload names the link row); the signed URL is made
when the mail is rendered, so no working link is ever stored, and a link used or expired
before its mail went out is not sent at all.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain import language
from scheduler.domain.language import N_
from scheduler.domain.messages import OutgoingMail
from scheduler.models import AccountLink, OutboxMessage, User, utcnow
from scheduler.services.accounts import links
from scheduler.services.accounts.links import Purpose
from scheduler.services.mail.content import locale_of, outgoing_mail
from scheduler.services.mail.outbox import owe_many

# English, marked for the catalogues; each is translated into the account's language.
_WORDING: dict[str, dict[str, str]] = {
    Purpose.VERIFY: {
        "subject": N_("Confirm your email address for Kindred"),
        "intro": N_(
            "Someone, hopefully you, signed up to Kindred with this address. Confirm it "
            "and Kindred will send you invites and reminders; until then it sends nothing else."
        ),
        "action": N_("Confirm my address"),
        "outro": N_("If it was not you, ignore this mail: nothing more will be sent."),
    },
    Purpose.EMAIL_CHANGE: {
        "subject": N_("Confirm your new email address for Kindred"),
        "intro": N_(
            "You asked to move your Kindred account to this address. It takes effect "
            "when you confirm it."
        ),
        "action": N_("Use this address"),
        "outro": N_("If it was not you, ignore this mail: the account keeps its address."),
    },
    Purpose.SIGN_IN: {
        "subject": N_("Your Kindred sign-in link"),
        "intro": N_("Follow this link to sign in to Kindred. It works once."),
        "action": N_("Sign in"),
        "outro": N_("If you did not ask for it, ignore this mail: nobody can use it but you."),
    },
    Purpose.PASSWORD_RESET: {
        "subject": N_("Reset your Kindred password"),
        "intro": N_(
            "Follow this link to choose a new password. It works once, and signs out "
            "every browser and API token of the account."
        ),
        "action": N_("Choose a new password"),
        "outro": N_(
            "If you did not ask for it, ignore this mail: your password stays as it is."
        ),
    },
}


def owe_link_mail(session: Session, user: User, link: AccountLink) -> int | None:
    """Owe the mail that carries `link` to the address it was made for (a new address is
    confirmed there, not at the account's current one); due now (the caller wakes delivery:
    delivery.deliver_soon_after_commit)."""
    ids = owe_many(
        session,
        [
            {
                "key": f"{link.purpose}:{user.id}:link{link.id}",
                "kind": links.MAIL_KIND[link.purpose],
                "gathering_id": None,
                "recipient_id": user.id,
                "recipient_email": link.email,
                "due_at": utcnow(),
                "payload": {"link_id": link.id},
            }
        ],
    )
    return ids[0] if ids else None


def render_link_mail(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The mail with its link, unless the link was used or expired before it went out."""
    payload: dict[str, Any] = row.payload or {}
    link = links.live_link(session, int(payload.get("link_id") or 0), now=now)
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    if link is None or user is None or user.deleted_at is not None:
        return None
    url = links.url_for_link(config.base_url, config.secret_key, link)
    locale = locale_of(user)
    wording = {
        part: language.translate(locale, message) for part, message in _WORDING[link.purpose].items()
    }
    minutes = max(1, round((link.expires_at - now).total_seconds() / 60))
    if minutes < 120:
        valid = language.translate_plural(
            locale, "The link works for %(num)s minute.", "The link works for %(num)s minutes.", minutes
        )
    else:
        valid = language.translate_plural(
            locale,
            "The link works for %(num)s hour.",
            "The link works for %(num)s hours.",
            round(minutes / 60),
        )
    hello = language.translate(locale, "Hello %(name)s,", name=user.name)
    text = (
        f"{hello}\n\n{wording['intro']}\n\n{wording['action']}: {url}\n\n"
        f"{valid} {wording['outro']}\n"
    )
    html = (
        f"<p>{escape(hello)}</p><p>{escape(wording['intro'])}</p>"
        f'<p><a href="{escape(url)}">{escape(wording["action"])}</a></p>'
        f"<p>{escape(valid)} {escape(wording['outro'])}</p>"
    )
    return outgoing_mail(
        row, config, now, recipient=user, subject=wording["subject"], text=text, html=html
    )
