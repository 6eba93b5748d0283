"""Sign-up, and every request that mails someone a link about their account.

Accounts makes and checks the links; mail owes and delivers them. Requests naming an address
answer the same whether an account has it or not (nothing mailed for an unknown one), so they
reveal no accounts; each is rate-limited per address and per IP (scheduler/web/rate_limits.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain.errors import Conflict, InvalidInput
from scheduler.models import User
from scheduler.services.accounts import identity, links, recovery
from scheduler.services.accounts.links import Purpose
from scheduler.services.mail import account_mail, delivery, outbox
from scheduler.services.self_service import your_data


def lifetimes(config: Config) -> links.Lifetimes:
    """How long each kind of link works, from the config."""
    return links.Lifetimes(
        verify=timedelta(hours=config.verify_link_hours),
        sign_in=timedelta(minutes=config.sign_in_link_minutes),
        password_reset=timedelta(minutes=config.password_reset_link_minutes),
        poll=timedelta(hours=config.poll_link_hours),
    )


def policy(config: Config) -> identity.PasswordPolicy:
    """The password hashing costs of the config."""
    return identity.PasswordPolicy(config.password_time_cost, config.password_memory_cost)


@dataclass(frozen=True)
class SignUp:
    """A sign-up's outcome: the new account, or None when the address belonged to an account
    nobody had confirmed (its owner was mailed a link to take it over instead)."""

    user: User | None
    email: str


def _mail_link(
    session: Session,
    config: Config,
    user: User,
    purpose: str,
    *,
    now: datetime,
    next_path: str | None = None,
    lifetime: timedelta | None = None,
) -> None:
    link = links.issue(
        session,
        user,
        purpose,
        now=now,
        lifetime=lifetime or lifetimes(config).of(purpose),
        next_path=next_path,
    )
    account_mail.owe_link_mail(session, user, link)
    delivery.deliver_soon_after_commit(session)


def sign_up(session: Session, config: Config, *, now: datetime, **fields: Any) -> SignUp:
    """Create an account and mail its address a verify link (nothing else reaches it until
    the link is followed). An address held by an account nobody confirmed is not taken: its
    owner is mailed a sign-in link, which takes that account over."""
    try:
        user = identity.create_user(
            session, secret_key=config.secret_key, policy=policy(config), verified=False, **fields
        )
    except identity.AddressAwaitsOwner as held:
        _mail_link(session, config, held.holder, Purpose.SIGN_IN, now=now)
        return SignUp(user=None, email=held.holder.email)
    _mail_link(session, config, user, Purpose.VERIFY, now=now)
    return SignUp(user=user, email=user.email)


def _known(session: Session, email: str) -> User | None:
    if not isinstance(email, str) or len(email) > identity.MAX_EMAIL_LENGTH:
        raise InvalidInput("Not a valid email address.", field="email")
    return identity.user_by_email(session, email)


def request_sign_in_link(
    session: Session, config: Config, email: str, *, now: datetime, next_path: str | None = None
) -> None:
    """Mail a one-time sign-in link to the address, if an account has it."""
    user = _known(session, email)
    if user is not None:
        _mail_link(session, config, user, Purpose.SIGN_IN, now=now, next_path=next_path)


def request_password_reset(session: Session, config: Config, email: str, *, now: datetime) -> None:
    """Mail a one-time password-reset link to the address, if an account has it."""
    user = _known(session, email)
    if user is not None:
        _mail_link(session, config, user, Purpose.PASSWORD_RESET, now=now)


def resend_verification(session: Session, config: Config, user: User, *, now: datetime) -> None:
    """Mail the verify link again (a conflict once the address is confirmed)."""
    if user.email_verified_at is not None:
        raise Conflict("Your address is confirmed already.", field="email")
    _mail_link(session, config, user, Purpose.VERIFY, now=now)


def poll_answer_link(
    session: Session, config: Config, user: User, gathering_id: int, *, now: datetime
) -> str:
    """An "answer this poll" URL (see accounts.links.poll_answer_url), with the config's
    lifetime."""
    return links.poll_answer_url(
        session,
        user,
        gathering_id,
        base_url=config.base_url,
        secret_key=config.secret_key,
        now=now,
        lifetime=lifetimes(config).poll,
    )


def request_email_change(
    session: Session, config: Config, user: User, *, email: str, password: str, now: datetime
) -> None:
    """Mail a confirm link to the new address; the account moves once it is followed."""
    link = recovery.request_email_change(
        session,
        user,
        email=email,
        password=password,
        policy=policy(config),
        now=now,
        lifetimes=lifetimes(config),
    )
    account_mail.owe_link_mail(session, user, link)
    delivery.deliver_soon_after_commit(session)


def verify_address(session: Session, config: Config, token: str, *, now: datetime) -> User:
    """Follow a verify link: the address is proved, and the mail held for it goes now."""
    user = recovery.verify_address(session, config.secret_key, token, now=now)
    delivery.release_held(session, user.id, now=now)
    return user


def sign_in_with_link(
    session: Session, config: Config, token: str, *, now: datetime
) -> tuple[User, str | None]:
    """Follow a sign-in link (an unverified account is taken over: what its maker did is
    forgotten)."""
    followed = recovery.sign_in_with_link(session, config.secret_key, token, now=now)
    _after_proof(session, followed, now=now)
    return followed.user, followed.next_path


def _after_proof(session: Session, followed: recovery.FollowedLink, *, now: datetime) -> None:
    if followed.took_over:
        your_data.forget_what_the_maker_did(session, followed.user, now=now)
    else:
        delivery.release_held(session, followed.user.id, now=now)


def reset_password(
    session: Session, config: Config, token: str, password: str, *, now: datetime
) -> User:
    """Follow a reset link with a new password (every session and token ends)."""
    followed = recovery.reset_password(
        session, config.secret_key, token, password, policy=policy(config), now=now
    )
    _after_proof(session, followed, now=now)
    return followed.user


def confirm_email_change(session: Session, config: Config, token: str, *, now: datetime) -> User:
    """Follow the link mailed to a new address: the account moves there."""
    user = recovery.confirm_email_change(session, config.secret_key, token, now=now)
    outbox.readdress_pending(session, user.id, user.email)
    delivery.release_held(session, user.id, now=now)
    return user
