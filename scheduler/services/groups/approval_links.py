"""Signed "approve" links in the daily mail about pending requests: /groups/approve/<token>.

The token names the group, the person asking and the organizer it was mailed to; it is the
credential (no sign-in), so approving still checks that this organizer organizes the group.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from scheduler.domain.errors import KindredError

# a salt per purpose: a token signed for RSVPs, feeds or unsubscribing never verifies here
APPROVAL_LINK_SALT = "kindred.group-approval-link.v1"
MAX_TOKEN_LENGTH = 512
MAX_AGE_DAYS = 14


class ApprovalLinkInvalid(KindredError):
    """The link was altered, is not one of ours, or is too old."""

    status = 400
    code = "bad_link"


@dataclass(frozen=True)
class ApprovalClaim:
    """What a valid link asks for: `organizer_id` approves `user_id` into `group_id`."""

    group_id: int
    user_id: int
    organizer_id: int


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=APPROVAL_LINK_SALT)


def approval_link(
    secret_key: str, base_url: str, *, group_id: int, user_id: int, organizer_id: int
) -> str:
    """The absolute URL that approves `user_id` (after a confirm click)."""
    token = _serializer(secret_key).dumps([group_id, user_id, organizer_id])
    return f"{base_url}/groups/approve/{token}"


def _invalid_link() -> ApprovalLinkInvalid:
    return ApprovalLinkInvalid(
        "This link is not valid (or has expired). Approve from the group's page instead."
    )


def read_approval_token(secret_key: str, token: str) -> ApprovalClaim:
    """Verify a token (signature, age, shape): the claim, or ApprovalLinkInvalid."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise _invalid_link()
    try:
        data = _serializer(secret_key).loads(token, max_age=MAX_AGE_DAYS * 86400)
    except (SignatureExpired, BadSignature) as exc:
        raise _invalid_link() from exc
    if (
        not isinstance(data, list)
        or len(data) != 3
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in data)
    ):
        raise _invalid_link()
    return ApprovalClaim(group_id=data[0], user_id=data[1], organizer_id=data[2])
