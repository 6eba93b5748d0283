"""Sign-up, passwords, API tokens and the secret calendar feed token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from scheduler.domain.errors import (
    Conflict,
    InvalidInput,
    NotAllowed,
    NotAuthenticated,
    NotFound,
)
from scheduler.domain.language import DEFAULT_LOCALE, N_, SUPPORTED_LOCALES
from scheduler.domain.timezones import zone
from scheduler.models import ApiToken, User, utcnow
from scheduler.services.interests.vocabulary import resolve_interests

MIN_PASSWORD_LENGTH = 10
MAX_EMAIL_LENGTH = 254
# a token's last_used_at is written at most this often (not on every API call)
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
# a password hash no password matches (argon2 refuses it as a hash): an account whose
# password was voided signs in by mail link until its owner sets a new one
NO_PASSWORD = "!"


class AddressAwaitsOwner(Conflict):
    """Sign-up with an address an unverified account holds: the address is not taken, its
    owner is mailed a link instead (see self_service.accounts.sign_up)."""

    def __init__(self, holder: User) -> None:
        super().__init__(
            N_("An account with this address is waiting to be confirmed."), field="email"
        )
        self.holder = holder


@dataclass(frozen=True)
class PasswordPolicy:
    """argon2 cost parameters (lowered in tests)."""

    time_cost: int = 3
    memory_cost: int = 65536

    def hasher(self) -> PasswordHasher:
        """An argon2id hasher with these costs."""
        return PasswordHasher(time_cost=self.time_cost, memory_cost=self.memory_cost)


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a token: what we store instead of the token."""
    return hashlib.sha256(value.encode()).hexdigest()


def normalise_email(raw: str) -> str:
    """The address as stored and compared: trimmed, lower-cased, the domain in ASCII (IDNA);
    InvalidInput naming `email` for one that plain SMTP can never deliver to.

    Refused: non-ASCII before the @ (it needs the SMTPUTF8 extension, which a relay may
    lack), quoted local parts, IP-address domains and reserved names such as `.local`.
    Checked by syntax only (email-validator, no DNS lookups on the request path).
    """
    email = raw.strip()
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput("Not a valid email address: it is too long.", field="email")
    try:
        valid = validate_email(
            email,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            check_deliverability=False,
        )
    except EmailNotValidError as exc:
        raise InvalidInput(
            "Not a valid email address: %(reason)s", reason=str(exc), field="email"
        ) from exc
    return (valid.ascii_email or valid.normalized).lower()


def _stored_forms(raw: str) -> list[str]:
    """The forms an account's address may be stored in: normalised, or (for accounts made
    before addresses were validated) trimmed and lower-cased; text PostgreSQL cannot hold
    (NUL, lone surrogates) matches no account and is no query parameter."""
    legacy = raw.strip().lower()
    forms = [legacy] if legacy.isprintable() and len(legacy) <= MAX_EMAIL_LENGTH else []
    with suppress(InvalidInput):
        forms.append(normalise_email(raw))
    return sorted(set(forms))


def feed_token_for(secret_key: str, user_id: int, nonce: str) -> str:
    """The secret feed token: 256 bits derived from the app secret, the user and a nonce."""
    digest = hmac.new(secret_key.encode(), f"feed:{user_id}:{nonce}".encode(), hashlib.sha256)
    return digest.hexdigest()


def _set_new_feed_token(user: User, secret_key: str) -> str:
    user.feed_token_nonce = secrets.token_hex(16)
    token = feed_token_for(secret_key, user.id, user.feed_token_nonce)
    user.feed_token_hash = sha256_hex(token)
    return token


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    timezone: str = "UTC",
    interests: list[str] | None = None,
    locale: str = DEFAULT_LOCALE,
    secret_key: str,
    policy: PasswordPolicy,
    verified: bool = True,
) -> User:
    """Create an account; 409 if the email is taken. Sign-up passes `verified=False` and mails
    the link that proves the address (self_service.account_links.sign_up); accounts made any
    other way (the demo, scripts) were made by the operator and count as verified."""
    email = normalise_email(email)
    name = name.strip()
    if not name:
        raise InvalidInput("Name cannot be empty.", field="name")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "Password must be at least %(count)s characters.",
            count=MIN_PASSWORD_LENGTH,
            field="password",
        )
    zone(timezone)
    locale = _supported_locale(locale)
    holder = session.scalars(select(User).where(User.email == email)).first()
    if holder is not None:
        if holder.email_verified_at is None:
            raise AddressAwaitsOwner(holder)
        raise Conflict("An account with this email already exists.", field="email")
    user = User(
        email=email,
        name=name,
        password_hash=policy.hasher().hash(password),
        timezone=timezone,
        locale=locale,
        feed_token_nonce="",
        feed_token_hash=secrets.token_hex(32),  # placeholder until the id is known
        interests=resolve_interests(session, interests or []),
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("An account with this email already exists.", field="email") from exc
    _set_new_feed_token(user, secret_key)
    if not verified:
        # until the link mailed to the address is followed (set here, in the UPDATE that
        # stores the feed token: the ORM reads None at INSERT as "use the default")
        user.email_verified_at = None
    session.flush()
    return user


def _supported_locale(locale: str) -> str:
    if locale not in SUPPORTED_LOCALES:
        raise InvalidInput(
            "Choose one of the languages Kindred speaks: %(choices)s.",
            choices=", ".join(SUPPORTED_LOCALES),
            field="locale",
        )
    return locale


def authenticate(session: Session, *, email: str, password: str, policy: PasswordPolicy) -> User:
    """The user with these credentials, or NotAuthenticated (same answer for any mismatch)."""
    addresses = _stored_forms(email)
    user = (
        session.scalars(select(User).where(User.email.in_(addresses))).first()
        if addresses
        else None
    )
    hasher = policy.hasher()
    if user is None:
        # spend the same time as a real check so response times do not reveal accounts
        hasher.hash(password)
        raise NotAuthenticated("Wrong email or password.")
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError) as exc:
        raise NotAuthenticated("Wrong email or password.") from exc
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def issue_api_token(
    session: Session, user: User, *, label: str = "", expires_at: datetime | None = None
) -> str:
    """A new bearer token for the user; only its hash is kept."""
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(user_id=user.id, token_hash=sha256_hex(token), label=label, expires_at=expires_at)
    )
    session.flush()
    return token


def _good_token(token_hash: Any) -> ColumnElement[bool]:
    """The one rule for which tokens are good: this hash, not revoked (the row exists), not
    past its expiry."""
    return and_(
        ApiToken.token_hash == token_hash,
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > func.now()),
    )


def api_token_owner(token_hash: Any) -> Select[tuple[int]]:
    """The id of the user a bearer token (by its SHA-256) belongs to, while the token is
    good: used by every API request and, as a subquery, by the RSVP fast path."""
    return select(ApiToken.user_id).where(_good_token(token_hash))


def user_for_api_token(session: Session, token: str, *, now: datetime | None = None) -> User:
    """The user a bearer token belongs to, or NotAuthenticated; notes when it was used."""
    # one query on the hot path of every API call; interests load only if a view needs them
    found = session.execute(
        select(User, ApiToken.id, ApiToken.last_used_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(_good_token(sha256_hex(token)))
        .options(lazyload(User.interests))
    ).first()
    if found is None:
        raise NotAuthenticated("Invalid or expired token.")
    user, token_id, last_used_at = found
    now = now or utcnow()
    if last_used_at is None or now - last_used_at > TOKEN_USE_RESOLUTION:
        # on a connection of its own: reads record use too, and nothing of the view's rides
        with session.get_bind().connect() as connection:
            connection.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )
            connection.commit()
    return user


def list_api_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens (their hashes never leave the server), the newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_api_token(session: Session, user: User, token_id: int) -> None:
    """Revoke one of the user's tokens (404 for anyone else's: no probing for ids)."""
    deleted = session.execute(
        delete(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not deleted:
        raise NotFound("No token with id %(id)s.", id=token_id)


def revoke_all_api_tokens(session: Session, user: User) -> int:
    """Revoke every token of the user."""
    return (
        session.execute(
            delete(ApiToken)
            .where(ApiToken.user_id == user.id)
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )


def check_password(user: User, password: str, policy: PasswordPolicy) -> None:
    """NotAllowed (403: the caller is signed in, the confirmation is wrong) unless
    `password` is the user's."""
    try:
        policy.hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError) as exc:
        raise NotAllowed("Wrong password.", field="password") from exc


def set_password(
    session: Session, user: User, password: str, *, policy: PasswordPolicy, now: datetime
) -> None:
    """Give the account a new password (reset links issued before it stop working)."""
    check_new_password(password)
    user.password_hash = policy.hasher().hash(password)
    user.password_changed_at = now
    session.flush()


def check_new_password(password: str) -> None:
    """InvalidInput naming `password` unless it may become a password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "Password must be at least %(count)s characters.",
            count=MIN_PASSWORD_LENGTH,
            field="password",
        )


def has_password(user: User) -> bool:
    """False for an account whose password was voided (it signs in by mail link)."""
    return user.password_hash != NO_PASSWORD


def mark_verified(user: User, *, now: datetime) -> None:
    """The address was proved by following a link mailed to it."""
    if user.email_verified_at is None:
        user.email_verified_at = now


def user_by_email(session: Session, email: str) -> User | None:
    """The live account with this address (in any stored form), or None."""
    addresses = _stored_forms(email)
    if not addresses:
        return None
    return session.scalars(
        select(User).where(User.email.in_(addresses), User.deleted_at.is_(None))
    ).first()


def current_feed_token(user: User, secret_key: str) -> str:
    """The user's live feed token (recomputed, never stored)."""
    return feed_token_for(secret_key, user.id, user.feed_token_nonce)


def rotate_feed_token(session: Session, user: User, secret_key: str) -> str:
    """Revoke the old feed URL and return the new token."""
    token = _set_new_feed_token(user, secret_key)
    session.flush()
    return token


def user_for_feed_token(session: Session, token: str) -> User | None:
    """The owner of a feed token, or None (looked up by hash: no timing oracle on the token)."""
    if len(token) > 128:
        return None
    return session.scalars(select(User).where(User.feed_token_hash == sha256_hex(token))).first()


def update_profile(
    session: Session,
    user: User,
    *,
    name: str | None = None,
    timezone: str | None = None,
    interests: list[str] | None = None,
    share_name: bool | None = None,
    discoverable: bool | None = None,
    weekly_digest: bool | None = None,
    reminders_enabled: bool | None = None,
    announcements: str | None = None,
    organizer_updates: bool | None = None,
    allow_checkins: bool | None = None,
    checkin_nudges: bool | None = None,
    locale: str | None = None,
) -> User:
    """Change the fields that were given."""
    if name is not None:
        if not name.strip():
            raise InvalidInput("Name cannot be empty.", field="name")
        user.name = name.strip()
    if timezone is not None:
        zone(timezone)
        user.timezone = timezone
    if interests is not None:
        user.interests = resolve_interests(session, interests)
    if locale is not None:
        user.locale = _supported_locale(locale)
    for attr, value in (
        ("share_name", share_name),
        ("discoverable", discoverable),
        ("weekly_digest", weekly_digest),
        ("reminders_enabled", reminders_enabled),
        ("announcements", announcements),
        ("organizer_updates", organizer_updates),
        ("allow_checkins", allow_checkins),
        ("checkin_nudges", checkin_nudges),
    ):
        if value is not None:
            setattr(user, attr, value)
    session.flush()
    return user
