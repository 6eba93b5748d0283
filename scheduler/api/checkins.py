"""Check-ins: one-to-one meetings with people you have met."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.extensions import current_services, db_session
from scheduler.models import Checkin, utcnow
from scheduler.schemas.checkins import CheckinAnswerArgsSchema, CheckinArgsSchema, CheckinSchema
from scheduler.schemas.common import ErrorSchema, WithExtra
from scheduler.services.tribe import checkins

blp = Blueprint("checkins", __name__, url_prefix="/api/v1", description="Check-ins")


def checkin_view(checkin: Checkin) -> WithExtra:
    """A check-in with its proposals as times and its next date."""
    return WithExtra(
        checkin,
        proposals=[datetime.fromisoformat(p) for p in checkin.proposals],
        next_date=checkins.next_date(checkin),
    )


@blp.route("/checkins")
class Checkins(MethodView):
    """Asking for a check-in."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(CheckinArgsSchema)
    @blp.response(201, CheckinSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="not met, or they do not allow it")
    def post(self, args: dict[str, Any]) -> Any:
        """Propose a check-in to someone you went to a past gathering with (who allows
        check-ins): Kindred proposes times that suit both and mails them."""
        session = db_session()
        checkin = checkins.ask(
            session, current_user(), args["with_"], every_weeks=args["every_weeks"], now=utcnow()
        )
        session.commit()
        return checkin_view(checkin)


@blp.route("/me/checkins")
class MyCheckins(MethodView):
    """My check-ins."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, CheckinSchema(many=True))
    def get(self) -> Any:
        """Check-ins I asked for or was asked for, newest first, with their next date."""
        return [checkin_view(c) for c in checkins.my_checkins(db_session(), current_user())]


@blp.route("/checkins/<int:checkin_id>/accept")
class CheckinAccept(MethodView):
    """Accepting a time."""

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(CheckinAnswerArgsSchema)
    @blp.response(200, CheckinSchema)
    def post(self, args: dict[str, Any], checkin_id: int) -> Any:
        """The person asked picks one of the proposed times: both get an invite."""
        session = db_session()
        checkin = checkins.accept(
            session,
            checkin_id,
            current_user(),
            args["choice"],
            now=utcnow(),
            uid_domain=current_services().config.mail_domain,
        )
        session.commit()
        return checkin_view(checkin)


@blp.route("/checkins/<int:checkin_id>/decline")
class CheckinDecline(MethodView):
    """Declining."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, CheckinSchema)
    def post(self, checkin_id: int) -> Any:
        """The person asked says no (twice within 90 days: the asker cannot ask again)."""
        session = db_session()
        checkin = checkins.decline(session, checkin_id, current_user(), now=utcnow())
        session.commit()
        return checkin_view(checkin)


@blp.route("/checkins/<int:checkin_id>/stop")
class CheckinStop(MethodView):
    """Stopping a habit."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, CheckinSchema)
    def post(self, checkin_id: int) -> Any:
        """Either of the two stops it: no further check-ins are proposed."""
        session = db_session()
        checkin = checkins.stop(session, checkin_id, current_user(), now=utcnow())
        session.commit()
        return checkin_view(checkin)
