"""Signed-in browsers, kept on the server: a cookie is good only while its row exists.

The cookie (signed by Flask) carries a random 256-bit session token; only its SHA-256 is
stored, like API tokens. Logging out deletes the row, so a cookie copied before stops working;
"sign out everywhere" and a password change or reset delete the others.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from scheduler.models import User, WebSession
from scheduler.services.accounts.identity import sha256_hex

# last_seen_at is written at most this often per session (not on every page view)
SEEN_RESOLUTION = timedelta(minutes=5)
MAX_TOKEN_LENGTH = 100


def start_session(session: Session, user: User, *, now: datetime, user_agent: str = "") -> str:
    """A new signed-in session for `user`; returns the token the cookie carries."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            user_id=user.id,
            token_hash=sha256_hex(token),
            created_at=now,
            last_seen_at=now,
            user_agent=user_agent[:200],
        )
    )
    session.flush()
    return token


def user_for_session(session: Session, user_id: int, token: str, *, now: datetime) -> User | None:
    """The user a cookie's session belongs to while the session lives, else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    row = session.execute(
        select(WebSession.id, WebSession.last_seen_at).where(
            WebSession.token_hash == sha256_hex(token), WebSession.user_id == user_id
        )
    ).first()
    if row is None:
        return None
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        return None
    if now - row.last_seen_at > SEEN_RESOLUTION:
        # on a connection of its own: a page view that only reads still records it was seen,
        # and nothing the view has yet to commit is committed with it
        with session.get_bind().connect() as connection:
            connection.execute(
                update(WebSession).where(WebSession.id == row.id).values(last_seen_at=now)
            )
            connection.commit()
    return user


def end_session(session: Session, token: str) -> None:
    """Sign one browser out (its cookie no longer works)."""
    if token and len(token) <= MAX_TOKEN_LENGTH:
        session.execute(delete(WebSession).where(WebSession.token_hash == sha256_hex(token)))


def end_sessions(session: Session, user: User, *, keep_token: str | None = None) -> int:
    """Sign the user out everywhere (but the browser holding `keep_token`, if given)."""
    stmt = delete(WebSession).where(WebSession.user_id == user.id)
    if keep_token:
        stmt = stmt.where(WebSession.token_hash != sha256_hex(keep_token))
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0


def list_sessions(session: Session, user: User) -> list[WebSession]:
    """The user's signed-in browsers, the latest seen first."""
    return list(
        session.scalars(
            select(WebSession)
            .where(WebSession.user_id == user.id)
            .order_by(WebSession.last_seen_at.desc(), WebSession.id.desc())
        )
    )
