"""All models, imported here so metadata and Alembic see every table."""

from scheduler.models import attendance_function  # noqa: F401 - kindred_answer, with the schema
from scheduler.models.alias import AliasSuggestion, InterestAlias, SuggestionStatus
from scheduler.models.base import Base, utcnow
from scheduler.models.calendar_link import CalendarStatus, InboundMailCount, UserCalendar
from scheduler.models.checkin import Checkin, CheckinStatus
from scheduler.models.event import DomainEvent, EventKind
from scheduler.models.gathering import (
    AvailabilityInterval,
    Gathering,
    GatheringStatus,
    Invitation,
    Poll,
)
from scheduler.models.group import Group, GroupMember
from scheduler.models.interest import Interest
from scheduler.models.mail_preferences import GatheringMute
from scheduler.models.outbox import OutboxMessage, OutboxStatus
from scheduler.models.planner import PlannerMark
from scheduler.models.reach import (
    MESSAGE_AUDIENCES,
    AnnouncementChoice,
    GatheringComment,
    GatheringMessage,
)
from scheduler.models.rsvp import Rsvp
from scheduler.models.series import Series, SeriesAnswer
from scheduler.models.user import AccountLink, ApiToken, User, WebSession

__all__ = [
    "MESSAGE_AUDIENCES",
    "AccountLink",
    "AliasSuggestion",
    "AnnouncementChoice",
    "ApiToken",
    "AvailabilityInterval",
    "Base",
    "CalendarStatus",
    "Checkin",
    "CheckinStatus",
    "DomainEvent",
    "EventKind",
    "Gathering",
    "GatheringComment",
    "GatheringMessage",
    "GatheringMute",
    "GatheringStatus",
    "Group",
    "GroupMember",
    "InboundMailCount",
    "Interest",
    "InterestAlias",
    "Invitation",
    "OutboxMessage",
    "OutboxStatus",
    "PlannerMark",
    "Poll",
    "Rsvp",
    "Series",
    "SeriesAnswer",
    "SuggestionStatus",
    "User",
    "UserCalendar",
    "WebSession",
    "utcnow",
]
