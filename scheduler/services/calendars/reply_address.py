"""The ORGANIZER address of an invite: where a calendar app's Accept / Maybe / Decline goes.

`reply+g<gathering id>-<user id>-<signature>@<mail domain>` for an invite to one gathering (or
one occurrence), `reply+s<series id>-...` for a whole series. The signature is an HMAC of the
rest with the app secret, so nobody can make an address that answers for someone else; it is
base32 in lower case because mail systems may change the case of a local part. The From
header of a reply proves nothing and is not what identifies the attendee.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from scheduler.config import Config

LOCAL_PREFIX = "reply+"
_SALT = b"kindred.calendar-reply"
_ADDRESS = re.compile(r"^reply\+([gs])(\d{1,12})-(\d{1,12})-([a-z2-7]{26})$")


@dataclass(frozen=True)
class ReplyTarget:
    """What a reply address answers for: a gathering (`kind` "g") or a series ("s"), and whom."""

    kind: str
    target_id: int
    user_id: int


def _signature(secret: str, kind: str, target_id: int, user_id: int) -> str:
    message = f"{kind}{target_id}-{user_id}".encode()
    digest = hmac.new(secret.encode() + _SALT, message, hashlib.sha256).digest()[:16]
    return base64.b32encode(digest).decode().rstrip("=").lower()


def reply_domain(config: Config) -> str:
    """The domain reply addresses use: INBOUND_MAIL_DOMAIN, else MAIL_FROM's."""
    return config.inbound_mail_domain or config.mail_domain


def reply_address(config: Config, kind: str, target_id: int, user_id: int) -> str:
    """The signed ORGANIZER address of one person's invite."""
    signature = _signature(config.secret_key, kind, target_id, user_id)
    return f"{LOCAL_PREFIX}{kind}{target_id}-{user_id}-{signature}@{reply_domain(config)}"


def gathering_reply_address(config: Config, gathering_id: int, user_id: int) -> str:
    """Where one person's answer to a gathering (or one occurrence) goes."""
    return reply_address(config, "g", gathering_id, user_id)


def series_reply_address(config: Config, series_id: int, user_id: int) -> str:
    """Where one person's answer to a whole series goes."""
    return reply_address(config, "s", series_id, user_id)


def read_reply_address(config: Config, address: str) -> ReplyTarget | None:
    """The target of a reply address Kindred made, or None (not ours, altered, malformed)."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    if domain.lower() != reply_domain(config).lower():
        return None
    match = _ADDRESS.match(local.lower())
    if match is None:
        return None
    kind, target, user, signature = match.groups()
    expected = _signature(config.secret_key, kind, int(target), int(user))
    if not hmac.compare_digest(signature, expected):
        return None
    return ReplyTarget(kind=kind, target_id=int(target), user_id=int(user))
