"""Gatherings: create, show, list."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.api.pagination import paginate
from scheduler.extensions import current_services, db_session
from scheduler.models import Gathering, utcnow
from scheduler.schemas.common import WithExtra
from scheduler.schemas.gatherings import (
    GatheringArgsSchema,
    GatheringQueryArgsSchema,
    GatheringSchema,
)
from scheduler.services import gatherings

blp = Blueprint("gatherings", __name__, url_prefix="/api/v1/gatherings", description="Gatherings")


def gathering_view(gathering: Gathering) -> WithExtra:
    """A gathering plus the links and figures the schema shows."""
    base_url = current_services().config.base_url
    return WithExtra(
        gathering,
        seats_left=gatherings.seats_left(gathering),
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
        rows = paginate(
            session, gatherings.gatherings_query(session, **args), pagination_parameters
        )
        return [gathering_view(g) for g in rows]

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(GatheringArgsSchema)
    @blp.response(201, GatheringSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Create a gathering at a fixed time (`starts_at`) or as a poll (`poll`)."""
        session = db_session()
        config = current_services().config
        gathering = gatherings.create_gathering(
            session, current_user(), args, now=utcnow(), uid_domain=config.mail_domain
        )
        session.commit()
        return gathering_view(gathering)


@blp.route("/<int:gathering_id>")
class GatheringById(MethodView):
    """One gathering."""

    @blp.response(200, GatheringSchema)
    def get(self, gathering_id: int) -> Any:
        """The gathering, with starts_at/ends_at once scheduled."""
        return gathering_view(gatherings.get_gathering(db_session(), gathering_id))
