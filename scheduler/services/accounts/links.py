"""Links mailed to people about their account: verify an address, sign in, reset a password,
confirm a new address.

The token in the URL is the link row's id signed with the app secret by itsdangerous, with a
salt per purpose, so a token made for one purpose never verifies as another and nobody can
make one without the secret (a database reader included). The row (AccountLink) makes a link
expire, work once, and die when what it was mailed for changed: the account's address, or
(for a reset) its password since the link was issued (warehouse's habit). Following a link
kills the other live links of the same purpose for that account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from scheduler.domain.errors import KindredError
from scheduler.models import AccountLink, User


class Purpose:
    """What a link is for; each has its own salt."""

    VERIFY = "verify"
    SIGN_IN = "sign_in"
    PASSWORD_RESET = "password_reset"
    EMAIL_CHANGE = "email_change"


PURPOSES = (Purpose.VERIFY, Purpose.SIGN_IN, Purpose.PASSWORD_RESET, Purpose.EMAIL_CHANGE)
# The mail kind (X-Kindred-Kind) that carries each purpose's link.
MAIL_KIND = {
    Purpose.VERIFY: "verify",
    Purpose.SIGN_IN: "sign_in",
    Purpose.PASSWORD_RESET: "password_reset",
    Purpose.EMAIL_CHANGE: "verify",
}
# The only mail that may reach an address nobody has proved yet: the links that prove it.
ACCOUNT_MAIL_KINDS = frozenset(MAIL_KIND.values())
MAX_TOKEN_LENGTH = 200
# The URL path each purpose's link opens (the page blueprint's routes).
PATHS = {
    Purpose.VERIFY: "/account/verify/",
    Purpose.SIGN_IN: "/account/sign-in/",
    Purpose.PASSWORD_RESET: "/account/reset/",
    Purpose.EMAIL_CHANGE: "/account/email/",
}


MAX_NEXT_LENGTH = 2000


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site to go to after signing in, else None.

    Refused: other sites (`//host`, and `/\\host`, which browsers read the same way) and any
    control character: CR or LF would split the Location header, and browsers drop tabs and
    line breaks from URLs, so `/<TAB>/host` would become `//host`.
    """
    if (
        not target
        or len(target) > MAX_NEXT_LENGTH
        or not target.isprintable()
        or "\\" in target
        or not target.startswith("/")
        or target.startswith("//")
    ):
        return None
    return target  # one slash, then a path: no scheme, no host


class LinkInvalid(KindredError):
    """The link was altered, made for something else, or is not one of ours."""

    status = 400
    code = "bad_link"


class LinkGone(KindredError):
    """The link was genuine but has expired, been used, or been overtaken."""

    status = 410
    code = "link_gone"


@dataclass(frozen=True)
class Lifetimes:
    """How long each purpose's link works (from the config)."""

    verify: timedelta
    sign_in: timedelta
    password_reset: timedelta
    poll: timedelta

    def of(self, purpose: str) -> timedelta:
        """The lifetime of a purpose's link (a change of address: as long as a verify link)."""
        if purpose == Purpose.EMAIL_CHANGE:
            return self.verify
        return getattr(self, purpose)  # type: ignore[no-any-return]


def _serializer(secret_key: str, purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=f"kindred.account-link.{purpose}.v1")


def issue(
    session: Session,
    user: User,
    purpose: str,
    *,
    now: datetime,
    lifetime: timedelta,
    email: str | None = None,
    next_path: str | None = None,
) -> AccountLink:
    """A new link row (the token is made when the mail is rendered: `token_for`)."""
    if purpose not in PURPOSES:
        raise ValueError(f"not a link purpose: {purpose!r}")
    link = AccountLink(
        user_id=user.id,
        purpose=purpose,
        email=email or user.email,
        data={"next": next_path} if local_path(next_path) else {},
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(link)
    session.flush()
    return link


def token_for(secret_key: str, link: AccountLink) -> str:
    """The signed token for a link row."""
    return str(_serializer(secret_key, link.purpose).dumps(link.id))


def url_for_link(base_url: str, secret_key: str, link: AccountLink) -> str:
    """The absolute URL a mail carries."""
    return f"{base_url}{PATHS[link.purpose]}{token_for(secret_key, link)}"


def _link_id(secret_key: str, purpose: str, token: str) -> int:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkInvalid("This link is not valid. Was it copied completely?")
    try:
        value: Any = _serializer(secret_key, purpose).loads(token)
    except BadSignature as exc:
        raise LinkInvalid("This link is not valid. Was it copied completely?") from exc
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**31:
        raise LinkInvalid("This link is not valid.")
    return value


def check(
    session: Session,
    secret_key: str,
    purpose: str,
    token: str,
    *,
    now: datetime,
    lock: bool = False,
) -> tuple[AccountLink, User]:
    """The live link a token stands for and its account, or LinkInvalid / LinkGone. Changes
    nothing (a page that asks people to confirm shows this; `use` then spends the link)."""
    link_id = _link_id(secret_key, purpose, token)
    query = select(AccountLink).where(AccountLink.id == link_id)
    if lock:
        query = query.with_for_update()
    link = session.scalars(query).first()
    if link is None or link.purpose != purpose:
        raise LinkInvalid("This link is not valid.")
    user = session.get(User, link.user_id)
    if user is None or user.deleted_at is not None:
        raise LinkGone("The account this link was for no longer exists.")
    if link.used_at is not None:
        raise LinkGone("This link has been used already. Ask for a new one.")
    if link.expires_at <= now:
        raise LinkGone("This link has expired. Ask for a new one.")
    if purpose != Purpose.EMAIL_CHANGE and link.email != user.email:
        raise LinkGone("The account's address has changed since this link was sent.")
    if (
        purpose == Purpose.PASSWORD_RESET
        and user.password_changed_at is not None
        and user.password_changed_at > link.created_at
    ):
        raise LinkGone("The password has changed since this link was sent. Ask for a new one.")
    return link, user


def use(
    session: Session, secret_key: str, purpose: str, token: str, *, now: datetime
) -> tuple[AccountLink, User]:
    """Spend a link (once: under its row lock), and every other live link of the same purpose
    for the account; returns the link and its account, or LinkInvalid / LinkGone."""
    link, user = check(session, secret_key, purpose, token, now=now, lock=True)
    session.execute(
        update(AccountLink)
        .where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == purpose,
            AccountLink.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    link.used_at = now
    session.flush()
    return link, user


def live_link(session: Session, link_id: int, *, now: datetime) -> AccountLink | None:
    """A link row still worth mailing (not used, not expired), or None."""
    link = session.get(AccountLink, link_id)
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    return link


def poll_answer_url(
    session: Session,
    user: User,
    gathering_id: int,
    *,
    base_url: str,
    secret_key: str,
    now: datetime,
    lifetime: timedelta,
) -> str:
    """An "answer this poll" URL for mail that announces a poll (mail may call this: accounts
    is below it): a one-time sign-in link that leads to the poll, so answering needs no
    password. `lifetime`: the config's POLL_LINK_HOURS."""
    link = issue(
        session,
        user,
        Purpose.SIGN_IN,
        now=now,
        lifetime=lifetime,
        next_path=f"/g/{gathering_id}/poll",
    )
    return url_for_link(base_url, secret_key, link)
