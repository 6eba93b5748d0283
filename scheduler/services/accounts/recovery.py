"""Getting in and getting back in: following mailed links, passwords, taking an address over.

An address is proved by following a link mailed to it. An account whose address nobody has
proved does not own the address: whoever proves it by a sign-in or reset link takes the
account over (`take_over`: every session and token it had ends, and a password chosen by
whoever made it stops working; self_service then withdraws what the maker joined and
answered), so signing up with someone else's address gains nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.domain.errors import Conflict, InvalidInput, NotAllowed
from scheduler.models import User
from scheduler.services.accounts import identity, links, sessions
from scheduler.services.accounts.links import Purpose


def take_over(session: Session, user: User, *, now: datetime) -> None:
    """The address of an unverified account was just proved by someone following a link:
    they own the account now, and nothing its maker set up keeps working."""
    identity.mark_verified(user, now=now)
    sessions.end_sessions(session, user)
    identity.revoke_all_api_tokens(session, user)
    user.password_hash = identity.NO_PASSWORD
    user.password_changed_at = now
    session.flush()


def verify_address(session: Session, secret_key: str, token: str, *, now: datetime) -> User:
    """Follow a verify link: the account's address is proved (mail to it may flow)."""
    _, user = links.use(session, secret_key, Purpose.VERIFY, token, now=now)
    identity.mark_verified(user, now=now)
    session.flush()
    return user


@dataclass(frozen=True)
class FollowedLink:
    """A sign-in or reset link followed: the account, where to go next, and whether the
    follower just took over an account whose address nobody had proved."""

    user: User
    next_path: str | None = None
    took_over: bool = False


def sign_in_with_link(
    session: Session, secret_key: str, token: str, *, now: datetime
) -> FollowedLink:
    """Follow a sign-in link: the account to sign in and the path it leads to, if any."""
    link, user = links.use(session, secret_key, Purpose.SIGN_IN, token, now=now)
    took_over = user.email_verified_at is None
    if took_over:
        take_over(session, user, now=now)
    next_path = link.data.get("next") if isinstance(link.data, dict) else None
    return FollowedLink(user, next_path if isinstance(next_path, str) else None, took_over)


def reset_password(
    session: Session,
    secret_key: str,
    token: str,
    password: str,
    *,
    policy: identity.PasswordPolicy,
    now: datetime,
) -> FollowedLink:
    """Follow a reset link with a new password: every session and API token of the account
    ends (whoever knew the old password is out), and the address counts as proved."""
    identity.check_new_password(password)  # before the link is spent: a retry may follow
    _, user = links.use(session, secret_key, Purpose.PASSWORD_RESET, token, now=now)
    took_over = user.email_verified_at is None
    if took_over:
        take_over(session, user, now=now)
    else:
        sessions.end_sessions(session, user)
        identity.revoke_all_api_tokens(session, user)
    identity.set_password(session, user, password, policy=policy, now=now)
    return FollowedLink(user, took_over=took_over)


def change_password(
    session: Session,
    user: User,
    *,
    current: str,
    new: str,
    policy: identity.PasswordPolicy,
    now: datetime,
    keep_session: str | None = None,
) -> None:
    """Change the password (the current one is asked for, if the account has one); every
    other signed-in browser is signed out."""
    try:
        identity.check_new_password(new)
    except InvalidInput as exc:
        exc.field = "new_password"  # the same message, on the form's field
        raise
    if identity.has_password(user):
        try:
            identity.check_password(user, current, policy)
        except NotAllowed as exc:
            exc.field = "current_password"
            raise
    identity.set_password(session, user, new, policy=policy, now=now)
    sessions.end_sessions(session, user, keep_token=keep_session)


def request_email_change(
    session: Session,
    user: User,
    *,
    email: str,
    password: str,
    policy: identity.PasswordPolicy,
    now: datetime,
    lifetimes: links.Lifetimes,
) -> Any:
    """Ask to move the account to a new address: a link to confirm it (mailed there); the
    account keeps its address until the link is followed."""
    if identity.has_password(user):
        identity.check_password(user, password, policy)
    new = identity.normalise_email(email)
    if new == user.email:
        raise Conflict("This is already your address.", field="email")
    _check_free(session, user, new)
    return links.issue(
        session,
        user,
        Purpose.EMAIL_CHANGE,
        now=now,
        lifetime=lifetimes.of(Purpose.EMAIL_CHANGE),
        email=new,
    )


def _check_free(session: Session, user: User, email: str) -> None:
    holder = session.scalars(select(User).where(User.email == email, User.id != user.id)).first()
    if holder is not None:
        raise Conflict("Another account uses this address.", field="email")


def confirm_email_change(session: Session, secret_key: str, token: str, *, now: datetime) -> User:
    """Follow a link mailed to a new address: the account moves to it, proved."""
    link, user = links.use(session, secret_key, Purpose.EMAIL_CHANGE, token, now=now)
    _check_free(session, user, link.email)
    user.email = link.email
    user.email_verified_at = now
    session.flush()
    return user
