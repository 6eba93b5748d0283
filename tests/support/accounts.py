"""Accounts in tests: confirmed addresses and signed-in page sessions without the mail round trip."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, update

from scheduler.models import OutboxMessage, User, utcnow
from scheduler.services.accounts import sessions
from scheduler.services.accounts.links import ACCOUNT_MAIL_KINDS
from scheduler.web.auth import SESSION_KEY, USER_KEY


def confirm_address(app: Flask, user_id: int) -> None:
    """Mark the account's address as proved and drop its verify mail, as if its owner had
    followed the link before the test began (tests of other things see no account mail)."""
    with app.extensions["kindred"].db.session_factory.begin() as session:
        session.execute(update(User).where(User.id == user_id).values(email_verified_at=utcnow()))
        session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.recipient_id == user_id,
                OutboxMessage.kind.in_(ACCOUNT_MAIL_KINDS),
            )
        )


def page_session(app: Flask, user_id: int) -> dict[str, Any]:
    """What a signed-in browser's cookie holds for `user_id` (a live server-side session)."""
    with app.extensions["kindred"].db.session_factory.begin() as session:
        user = session.get(User, user_id)
        assert user is not None
        token = sessions.start_session(session, user, now=utcnow(), user_agent="tests")
    return {USER_KEY: user_id, SESSION_KEY: token}
