"""Gatherings: create, show, list, change, cancel; RSVPs and attendee lists."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.api.exports import attendees_csv_response
from scheduler.api.pagination import paginate
from scheduler.domain.access import GatheringAccess
from scheduler.extensions import current_services, db_session
from scheduler.models import Gathering, Series, User, utcnow
from scheduler.schemas.common import ErrorSchema, WithExtra
from scheduler.schemas.gatherings import (
    GatheringArgsSchema,
    GatheringCancelArgsSchema,
    GatheringPatchArgsSchema,
    GatheringQueryArgsSchema,
    GatheringSchema,
)
from scheduler.schemas.rsvps import AttendeeSchema, RsvpArgsSchema, RsvpSchema
from scheduler.services.gatherings import access, attendance, lifecycle, series
from scheduler.services.polls import scheduling

blp = Blueprint("gatherings", __name__, url_prefix="/api/v1/gatherings", description="Gatherings")


def viewer() -> User | None:
    """Who asks: the bearer token's owner, or None without one (a bad token is 401)."""
    if not request.headers.get("Authorization"):
        return None
    return current_user()


def gathering_view(
    gathering: Gathering, *, detail: bool = False, rights: GatheringAccess | None = None
) -> WithExtra:
    """A gathering plus the links and figures the schema shows (detail: its series too), as
    the caller may see it: no place outside its group, a hidden organizer name stays hidden."""
    base_url = current_services().config.base_url
    who = viewer()
    if rights is None:
        rights = access.access_to(db_session(), gathering, who)
    extra: dict[str, Any] = {}
    if not rights.see_location:
        extra["location"] = ""
    extra["online_url"] = access.online_url_for(db_session(), gathering, who, rights)
    if detail and gathering.series_id is not None:
        session = db_session()
        made = session.get(Series, gathering.series_id)
        extra["recurrence"] = made.rule if made is not None else None
        extra["occurrences"] = series.occurrences_of(session, gathering.series_id)
    return WithExtra(
        gathering,
        **extra,
        members_only=rights.members_only,
        organizer={
            "id": gathering.organizer_id,
            "name": access.organizer_name(gathering, rights, who),
        },
        status=lifecycle.effective_status(gathering, utcnow()),
        seats_left=lifecycle.seats_left(gathering),
        url=f"{base_url}/g/{gathering.id}",
        ics_url=f"{base_url}/gatherings/{gathering.id}.ics",
    )


@blp.route("")
class Gatherings(MethodView):
    """Create and list gatherings."""

    @blp.arguments(GatheringQueryArgsSchema, location="query")
    @blp.response(200, GatheringSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """Gatherings by start time; filter by group_id, interest, starts_after/before, status."""
        session = db_session()
        who = viewer()
        rows = paginate(
            session,
            lifecycle.gatherings_query(session, **args, now=utcnow()).where(
                access.listed_clause(who)
            ),
            pagination_parameters,
        )
        rights = access.access_many(session, list(rows), who)
        return [gathering_view(g, rights=rights[g.id]) for g in rows]

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(GatheringArgsSchema)
    @blp.response(201, GatheringSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Create a gathering at a fixed time (`starts_at`) or as a poll (`poll`)."""
        session = db_session()
        config = current_services().config
        gathering = scheduling.create(
            session, current_user(), args, now=utcnow(), uid_domain=config.mail_domain
        )
        session.commit()
        return gathering_view(gathering, detail=True)


@blp.route("/<int:gathering_id>")
class GatheringById(MethodView):
    """One gathering."""

    @blp.response(200, GatheringSchema)
    def get(self, gathering_id: int) -> Any:
        """The gathering, with starts_at/ends_at once scheduled; 404 to people outside its
        group when it is for members."""
        session = db_session()
        gathering = lifecycle.get_gathering(session, gathering_id)
        rights = access.require_visible(session, gathering, viewer())
        return gathering_view(gathering, detail=True, rights=rights)

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(GatheringPatchArgsSchema)
    @blp.response(200, GatheringSchema)
    def patch(self, args: dict[str, Any], gathering_id: int) -> Any:
        """Change any create field (organizer only); a time or place change re-sends invites."""
        session = db_session()
        user = current_user()
        if args.pop("scope") == "following":
            gathering = series.update_following(
                session,
                gathering_id,
                user,
                args,
                now=utcnow(),
                uid=lifecycle.new_uid(current_services().config.mail_domain),
            )
        else:
            gathering = lifecycle.update_gathering(session, gathering_id, user, args, now=utcnow())
        session.commit()
        return gathering_view(gathering, detail=True)


@blp.route("/<int:gathering_id>/cancel")
class GatheringCancel(MethodView):
    """Cancelling a gathering."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(GatheringCancelArgsSchema)
    @blp.response(200, GatheringSchema)
    def post(self, args: dict[str, Any], gathering_id: int) -> Any:
        """Cancel (organizer only); attendees are sent a cancellation. Repeating is harmless.
        `{"scope": "following"}` on an occurrence ends its series there."""
        session = db_session()
        user = current_user()
        if args["scope"] == "following":
            gathering = series.end_series(session, gathering_id, user, now=utcnow())
        else:
            gathering = lifecycle.cancel_gathering(session, gathering_id, user, now=utcnow())
        session.commit()
        return gathering_view(gathering)


@blp.route("/<int:gathering_id>/rsvp")
class GatheringRsvp(MethodView):
    """The caller's answer."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(RsvpArgsSchema)
    @blp.response(200, RsvpSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="RSVPs are closed")
    def put(self, args: dict[str, Any], gathering_id: int) -> Any:
        """Answer yes (seats for you and your guests, or the waitlist together), maybe (no
        seat) or no; repeating is a no-op. Required questions need answers to say yes."""
        session = db_session()
        user = current_user()
        # members-only gatherings are 404 to outsiders; kindred_answer refuses the rest
        access.require_visible(session, lifecycle.get_gathering(session, gathering_id), user)
        extra = {"guests": args["guests"], "answers": args["answers"]}
        if args["all_future"]:
            outcome = series.answer_all_future_by_id(
                session, gathering_id, user, args["response"], now=utcnow(), **extra
            )
        else:
            outcome = attendance.set_rsvp(
                session, gathering_id, user.id, args["response"], now=utcnow(), **extra
            )
        session.commit()
        return outcome


@blp.route("/<int:gathering_id>/attendees")
class GatheringAttendees(MethodView):
    """Who is coming."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, AttendeeSchema(many=True))
    def get(self, gathering_id: int) -> Any:
        """Going, then the waitlist in order, then maybe; the organizer also sees emails and "no"s."""
        session = db_session()
        user = current_user()
        gathering = lifecycle.get_gathering(session, gathering_id)
        return attendance.attendees(session, gathering, user)


@blp.route("/<int:gathering_id>/attendees.csv")
class GatheringAttendeesCsv(MethodView):
    """The attendee list as a spreadsheet, for organizers."""

    @blp.doc(
        security=BEARER_AUTH,
        responses={"200": {"description": "text/csv", "content": {"text/csv": {}}}},
    )
    @blp.alt_response(403, schema=ErrorSchema, description="organizers only")
    def get(self, gathering_id: int) -> Response:
        """One row per attendee: name, email, state, response, guests, waitlist place and an
        answer per question (organizers only). Cells a spreadsheet would run as a formula
        start with a single quote."""
        session = db_session()
        gathering = lifecycle.get_gathering(session, gathering_id)
        return attendees_csv_response(
            attendance.attendee_table(session, gathering, current_user()), gathering
        )
