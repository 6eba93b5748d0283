"""Groups: interest circles people create, browse and join."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_babel import get_locale
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.api.pagination import paginate
from scheduler.extensions import current_services, db_session
from scheduler.models import Group, utcnow
from scheduler.schemas.common import WithExtra
from scheduler.schemas.groups import (
    GroupArgsSchema,
    GroupQueryArgsSchema,
    GroupSchema,
    MemberArgsSchema,
    MemberSchema,
    MembershipSchema,
)
from scheduler.services.gatherings import membership
from scheduler.services.groups import circles
from scheduler.services.groups.access import public_name

blp = Blueprint("groups", __name__, url_prefix="/api/v1/groups", description="Interest circles")


def group_view(group: Group, member_count: int) -> WithExtra:
    """A group plus the figures the schema shows."""
    base_url = current_services().config.base_url
    organizer = group.organizer
    return WithExtra(
        group,
        member_count=member_count,
        feed_url=f"{base_url}/groups/{group.id}.ics",
        # a hidden name stays hidden, organizers' included
        organizer={"id": organizer.id, "name": public_name(organizer, str(get_locale()))},
    )


@blp.route("")
class Groups(MethodView):
    """Create and list groups."""

    @blp.arguments(GroupQueryArgsSchema, location="query")
    @blp.response(200, GroupSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """Groups, newest first; `?interest=astronomy` filters by tag."""
        session = db_session()
        stmt = circles.groups_query(session, interest=args.get("interest"))
        rows = paginate(session, stmt, pagination_parameters)
        counts = circles.member_counts(session, [g.id for g in rows])
        return [group_view(g, counts.get(g.id, 0)) for g in rows]

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(GroupArgsSchema)
    @blp.response(201, GroupSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Create a group; the caller becomes its organizer."""
        session = db_session()
        group = circles.create_group(session, current_user(), **args)
        session.commit()
        return group_view(group, 1)


@blp.route("/<int:group_id>")
class GroupById(MethodView):
    """One group."""

    @blp.response(200, GroupSchema)
    def get(self, group_id: int) -> Any:
        """The group with its member count."""
        session = db_session()
        group = circles.get_group(session, group_id)
        return group_view(group, circles.member_counts(session, [group.id]).get(group.id, 0))


@blp.route("/<int:group_id>/members")
class Members(MethodView):
    """Membership."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, MemberSchema(many=True))
    def get(self, group_id: int) -> Any:
        """Organizers, members and pending requests (the group's organizers only)."""
        session = db_session()
        user = current_user()
        group = circles.get_group(session, group_id)
        circles.require_organizer(session, group, user)
        return [
            WithExtra(m, name=public_name(m.user, str(get_locale())))
            for m in circles.members(session, group.id)
        ]

    @blp.doc(security=BEARER_AUTH)
    @blp.response(201, MembershipSchema)
    @blp.alt_response(200, schema=MembershipSchema, description="Already a member")
    def post(self, group_id: int) -> Any:
        """Join the group (idempotent: 200 if already asked); `state` is pending until an
        organizer approves, where the group's join_policy is approval."""
        session = db_session()
        user = current_user()
        group = circles.get_group(session, group_id)
        member, created = circles.join_group(session, group, user)
        session.commit()
        return member, 201 if created else 200

    @blp.doc(security=BEARER_AUTH)
    @blp.response(204)
    def delete(self, group_id: int) -> Any:
        """Leave the group."""
        session = db_session()
        user = current_user()
        circles.get_group(session, group_id)
        membership.remove_from_group(session, group_id, user, user.id, now=utcnow())
        session.commit()


@blp.route("/<int:group_id>/members/<int:user_id>")
class MemberById(MethodView):
    """One membership, as the group's organizers manage it."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(MemberArgsSchema)
    @blp.response(200, MembershipSchema)
    def put(self, args: dict[str, Any], group_id: int, user_id: int) -> Any:
        """Approve a request (`{state: "member"}`) or set a role (`{role: "organizer"|"member"}`);
        organizers only; the last organizer cannot step down (409)."""
        session = db_session()
        member = circles.change_member(session, group_id, current_user(), user_id, **args)
        session.commit()
        return member

    @blp.doc(security=BEARER_AUTH)
    @blp.response(204)
    def delete(self, group_id: int, user_id: int) -> Any:
        """Remove a member or refuse a request (organizers), or leave (the member themself)."""
        session = db_session()
        membership.remove_from_group(session, group_id, current_user(), user_id, now=utcnow())
        session.commit()
