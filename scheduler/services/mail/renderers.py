"""Every kind of mail in the outbox, and the function that says what it says."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain.messages import OutgoingMail
from scheduler.models import OutboxMessage, utcnow
from scheduler.services.mail import (
    account_mail,
    announcements,
    checkin_mail,
    content,
    follow_through_mail,
    membership_mail,
    nudge_mail,
    series_mail,
)

Renderer = Callable[[Session, OutboxMessage, Config, datetime], OutgoingMail | None]

RENDERERS: dict[str, Renderer] = {
    "invite": content.render_invite,
    "update": content.render_update,
    "promoted": content.render_promoted,
    "cancel": content.render_cancel,
    "poll_failed": content.render_poll_failed,
    "series_invite": series_mail.render_series_mail,
    "series_update": series_mail.render_series_mail,
    "reminder": follow_through_mail.render_reminder,
    "followup": follow_through_mail.render_followup,
    "nudge": nudge_mail.render_nudge_row,
    "digest": nudge_mail.render_digest_row,
    membership_mail.KIND: membership_mail.render_pending_requests_row,
    announcements.ANNOUNCE: announcements.render_announce,
    announcements.POLL_REMINDER: announcements.render_poll_reminder,
    announcements.POLL_DONE: announcements.render_poll_done,
    announcements.MESSAGE: announcements.render_message,
    announcements.WEEKLY: announcements.render_weekly,
    announcements.UPDATES: announcements.render_organizer_updates,
    checkin_mail.KIND: checkin_mail.render_checkin_request_row,
    checkin_mail.CATCH_UP_KIND: checkin_mail.render_catch_up_row,
    # account links (verify covers a new address too); they reach unverified addresses
    "verify": account_mail.render_link_mail,
    "sign_in": account_mail.render_link_mail,
    "password_reset": account_mail.render_link_mail,
}


def render_outbox_message(
    session: Session, row: OutboxMessage, config: Config, now: datetime | None = None
) -> OutgoingMail | None:
    """The mail an outbox row owes now, or None when there is nothing to send any more."""
    fn = RENDERERS.get(row.kind)
    if fn is None:
        raise LookupError(f"no renderer for outbox kind {row.kind!r}")
    return fn(session, row, config, now or utcnow())
