"""Polls: answer with availability, read the ranked slots, schedule the chosen one."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.api.gatherings import gathering_view
from scheduler.domain.errors import NotAllowed
from scheduler.extensions import db_session
from scheduler.models import utcnow
from scheduler.schemas.gatherings import GatheringSchema
from scheduler.schemas.polls import (
    AvailabilityArgsSchema,
    AvailabilitySchema,
    ParticipationSchema,
    ScheduleArgsSchema,
    SlotsQueryArgsSchema,
    SlotsSchema,
)
from scheduler.services.gatherings import access, lifecycle
from scheduler.services.polls import availability, scheduling, slots

blp = Blueprint("polls", __name__, url_prefix="/api/v1/gatherings", description="Polls")


@blp.route("/<int:gathering_id>/availability")
class Availability(MethodView):
    """The caller's answer to a poll."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, AvailabilitySchema)
    def get(self, gathering_id: int) -> Any:
        """The caller's current intervals (empty until they answer)."""
        session = db_session()
        user = current_user()
        gathering = lifecycle.get_gathering(session, gathering_id)
        access.require_visible(session, gathering, user)
        return availability.get_availability(session, gathering, user)

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(AvailabilityArgsSchema)
    @blp.response(200, AvailabilitySchema)
    def put(self, args: dict[str, Any], gathering_id: int) -> Any:
        """Replace the caller's availability; 409 once the poll is closed."""
        session = db_session()
        user = current_user()
        answer = availability.set_availability(
            session, gathering_id, user, args["intervals"], now=utcnow()
        )
        session.commit()
        return answer


@blp.route("/<int:gathering_id>/slots")
class Slots(MethodView):
    """The ranked candidate starts."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(SlotsQueryArgsSchema, location="query")
    @blp.response(200, SlotsSchema)
    def get(self, args: dict[str, Any], gathering_id: int) -> Any:
        """Best slots first; `?view=heatmap` (organizer) a week's counts; `?start=` one start."""
        session = db_session()
        user = current_user()
        gathering = lifecycle.get_gathering(session, gathering_id)
        if not access.require_visible(session, gathering, user).see_availability:
            raise NotAllowed("Who is available when is shown to the group's members only.")
        if args.get("start") is not None:
            return slots.candidate_view(session, gathering, args["start"])
        if args["view"] == "heatmap":
            lifecycle.require_organizer(gathering, user)
            return slots.heatmap_view(gathering, since=args.get("since"))
        return slots.ranking_view(gathering, limit=args["limit"])


@blp.route("/<int:gathering_id>/schedule")
class Schedule(MethodView):
    """Close the poll at a chosen time."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(ScheduleArgsSchema)
    @blp.response(200, GatheringSchema)
    def post(self, args: dict[str, Any], gathering_id: int) -> Any:
        """Schedule at `start` (a candidate); organizer only; participants are owed invites."""
        session = db_session()
        user = current_user()
        gathering = scheduling.schedule_poll(session, gathering_id, user, args["start"], now=utcnow())
        session.commit()
        return gathering_view(gathering)


@blp.route("/<int:gathering_id>/participants")
class Participants(MethodView):
    """Who has answered the poll."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, ParticipationSchema)
    def get(self, gathering_id: int) -> Any:
        """Answered and not yet answered (invitees and group members); organizer only."""
        session = db_session()
        user = current_user()
        gathering = lifecycle.get_gathering(session, gathering_id)
        lifecycle.require_organizer(gathering, user)
        return availability.participation(session, gathering)
