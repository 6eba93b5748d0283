"""Signed one-click RSVP links for mail: /r/<token>, where the token is the credential."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from scheduler.config import Config
from scheduler.domain.errors import KindredError
from scheduler.services.gatherings.attendance import RESPONSES

# A salt per purpose: a token signed for another purpose (feeds, unsubscribe) never verifies here.
RSVP_LINK_SALT = "kindred.rsvp-link.v1"
MAX_TOKEN_LENGTH = 512


class LinkInvalid(KindredError):
    """The link was altered or is not one of ours."""

    status = 400
    code = "bad_link"


class LinkExpired(KindredError):
    """The link was genuine but is too old."""

    status = 410
    code = "link_expired"


@dataclass(frozen=True)
class RsvpLinkClaim:
    """What a valid link asks for: this user answers `response` for this gathering."""

    gathering_id: int
    user_id: int
    response: str


def _serializer(config: Config) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config.secret_key, salt=RSVP_LINK_SALT)


def rsvp_token(config: Config, gathering_id: int, user_id: int, response: str) -> str:
    """The signed token behind a one-click link."""
    if response not in RESPONSES:
        raise ValueError(f"not an RSVP response: {response!r}")
    return _serializer(config).dumps([gathering_id, user_id, response])


def rsvp_link(config: Config, gathering_id: int, user_id: int, response: str) -> str:
    """The absolute one-click URL that answers `response` for `user_id` (after a confirm click)."""
    return f"{config.base_url}/r/{rsvp_token(config, gathering_id, user_id, response)}"


def read_rsvp_token(config: Config, token: str) -> RsvpLinkClaim:
    """Verify a token (signature, age, shape): the claim, or LinkInvalid / LinkExpired."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise LinkInvalid("This link is not valid. Was it copied completely?")
    max_age = config.rsvp_link_max_age_days * 86400
    try:
        data = _serializer(config).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise LinkExpired("This link has expired. Answer on the gathering's page instead.") from exc
    except BadSignature as exc:
        raise LinkInvalid("This link is not valid. Was it copied completely?") from exc
    if (
        not isinstance(data, list)
        or len(data) != 3
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in data[:2])
        or data[2] not in RESPONSES
    ):
        raise LinkInvalid("This link is not valid. Was it copied completely?")
    return RsvpLinkClaim(gathering_id=data[0], user_id=data[1], response=data[2])
