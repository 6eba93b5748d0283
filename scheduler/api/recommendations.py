"""Recommendations, people, nudges' one-click proposals and the digest's unsubscribe link."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.api.gatherings import gathering_view
from scheduler.extensions import current_services, db_session
from scheduler.models import utcnow
from scheduler.schemas.gatherings import GatheringSchema
from scheduler.schemas.recommendations import (
    PageArgsSchema,
    PersonMatchSchema,
    RecommendationsSchema,
    UnsubscribedSchema,
)
from scheduler.services.gatherings import lifecycle as gathering_service
from scheduler.services.groups import circles
from scheduler.services.tribe import nudges, people, recommendations

blp = Blueprint(
    "recommendations", __name__, url_prefix="/api/v1", description="Recommendations and people"
)


@blp.route("/me/recommendations")
class MyRecommendations(MethodView):
    """What to join next."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, RecommendationsSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Groups I am not in and upcoming gatherings I have not answered, best first.

        `page` and `page_size` page each list; each list holds at most 200 items in all.
        """
        found = recommendations.recommend(db_session(), current_user(), now=utcnow(), **args)
        return {
            "groups": [
                {
                    "id": group.id,
                    "name": group.name,
                    "shared_interests": s.shared_interests,
                    "reasons": s.reasons,
                    "score": s.score,
                }
                for group, s in found.groups
            ],
            "gatherings": [
                {
                    "id": g.id,
                    "title": g.title,
                    "starts_at": g.starts_at,
                    "group_id": g.group_id,
                    "seats_left": gathering_service.seats_left(g),
                    "shared_interests": s.shared_interests,
                    "reasons": s.reasons,
                    "score": s.score,
                }
                for g, s in found.gatherings
            ],
            "page": args["page"],
            "page_size": args["page_size"],
            "groups_total": found.groups_total,
            "gatherings_total": found.gatherings_total,
        }


@blp.route("/me/met")
class PeopleIMet(MethodView):
    """People you've met."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, PersonMatchSchema(many=True))
    def get(self) -> Any:
        """Discoverable people I went to past gatherings with, and how often."""
        return people.people_met(db_session(), current_user(), now=utcnow())


@blp.route("/groups/<int:group_id>/people")
class GroupPeople(MethodView):
    """Members who share my interests."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, PersonMatchSchema(many=True))
    def get(self, group_id: int) -> Any:
        """Discoverable members sharing at least one of my interests, closest first."""
        session = db_session()
        user = current_user()
        group = circles.get_group(session, group_id)
        return people.group_people(session, group, user, now=utcnow())


@blp.route("/groups/<int:group_id>/proposals")
class GroupProposals(MethodView):
    """The one-click answer to a nudge."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(201, GatheringSchema)
    def post(self, group_id: int) -> Any:
        """Start a poll for the group's next gathering at its usual day and time (organizer)."""
        session = db_session()
        user = current_user()
        group = circles.get_group(session, group_id)
        config = current_services().config
        gathering = nudges.propose_next(
            session, group, user, now=utcnow(), uid_domain=config.mail_domain
        )
        session.commit()
        return gathering_view(gathering)


@blp.route("/unsubscribe/digest/<token>")
class DigestUnsubscribe(MethodView):
    """The weekly digest's unsubscribe link (RFC 8058 one-click POST)."""

    @blp.response(200, UnsubscribedSchema)
    def post(self, token: str) -> Any:
        """Turn the weekly digest off for the user the link was sent to."""
        session = db_session()
        user = nudges.unsubscribe_digest(session, current_services().config.secret_key, token)
        session.commit()
        return {"weekly_digest": user.weekly_digest}
