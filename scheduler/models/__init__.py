"""All models, imported here so metadata and Alembic see every table."""

from scheduler.models.base import Base, UTCDateTime, utcnow
from scheduler.models.gathering import (
    AvailabilityInterval,
    Gathering,
    GatheringStatus,
    Invitation,
    Poll,
)
from scheduler.models.group import Group, GroupMember
from scheduler.models.interest import Interest
from scheduler.models.outbox import OutboxMessage, OutboxStatus
from scheduler.models.rsvp import Rsvp
from scheduler.models.user import ApiToken, User

__all__ = [
    "ApiToken",
    "AvailabilityInterval",
    "Base",
    "Gathering",
    "GatheringStatus",
    "Group",
    "GroupMember",
    "Interest",
    "Invitation",
    "OutboxMessage",
    "OutboxStatus",
    "Poll",
    "Rsvp",
    "UTCDateTime",
    "User",
    "utcnow",
]
