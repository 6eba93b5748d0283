"""Stopping reminders and follow-ups: per gathering or for good, from a signed link in the mail.

The link is the credential (no login), signed with its own salt so no other token of ours
verifies here. It never expires: an unsubscribe link must keep working.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain.errors import InvalidInput, NotFound
from scheduler.models import Gathering, GatheringMute, User
from scheduler.services.mail.follow_through import withdraw_pending

UNSUBSCRIBE_SALT = "kindred.unsubscribe.v1"
MAX_TOKEN_LENGTH = 256
SCOPES = ("gathering", "all")


@dataclass(frozen=True)
class UnsubscribeClaim:
    """Who the link was sent to, and for which gathering's mail."""

    user_id: int
    gathering_id: int | None


def _serializer(config: Config) -> URLSafeSerializer:
    return URLSafeSerializer(config.secret_key, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(config: Config, user_id: int, gathering_id: int | None) -> str:
    """The List-Unsubscribe URL (also the page) for this person and gathering."""
    token = _serializer(config).dumps([user_id, gathering_id or 0])
    return f"{config.base_url}/unsubscribe/{token}"


def read_token(config: Config, token: str) -> UnsubscribeClaim:
    """The claim behind a token, or InvalidInput naming the token."""
    invalid = InvalidInput("This unsubscribe link is not valid.", field="token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    try:
        data = _serializer(config).loads(token)
    except BadSignature as exc:
        raise invalid from exc
    if (
        not isinstance(data, list)
        or len(data) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in data)
    ):
        raise invalid
    return UnsubscribeClaim(user_id=data[0], gathering_id=data[1] or None)


@dataclass(frozen=True)
class Subscription:
    """What the unsubscribe page shows."""

    user: User
    gathering: Gathering | None
    gathering_muted: bool


def subscription(session: Session, claim: UnsubscribeClaim) -> Subscription:
    """The person (and gathering) a valid link is about, with their current preferences."""
    user = session.get(User, claim.user_id)
    if user is None:
        raise NotFound("This link belongs to an account that no longer exists.")
    gathering = session.get(Gathering, claim.gathering_id) if claim.gathering_id else None
    muted = gathering is not None and _mute(session, user.id, gathering.id) is not None
    return Subscription(user=user, gathering=gathering, gathering_muted=muted)


def _mute(session: Session, user_id: int, gathering_id: int) -> GatheringMute | None:
    return session.scalars(
        select(GatheringMute).where(
            GatheringMute.user_id == user_id, GatheringMute.gathering_id == gathering_id
        )
    ).first()


def unsubscribe(session: Session, claim: UnsubscribeClaim, scope: str) -> Subscription:
    """Stop reminders and follow-ups for the link's gathering ("gathering") or all ("all")."""
    if scope not in SCOPES:
        raise InvalidInput("Choose gathering or all.", field="scope")
    current = subscription(session, claim)
    if scope == "all" or current.gathering is None:
        current.user.reminders_enabled = False
        withdraw_pending(session, user_id=current.user.id)
    elif not current.gathering_muted:
        try:
            with session.begin_nested():
                session.add(
                    GatheringMute(user_id=current.user.id, gathering_id=current.gathering.id)
                )
                session.flush()
        except IntegrityError:
            pass  # the same link clicked twice at once: muted either way
        withdraw_pending(session, user_id=current.user.id, gathering_id=current.gathering.id)
    session.flush()
    return subscription(session, claim)
