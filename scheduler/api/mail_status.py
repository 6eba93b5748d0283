"""The organizer's view of a gathering's mail: what went out, what is owed, what failed."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.extensions import db_session
from scheduler.schemas.outbox import MailStatusSchema
from scheduler.services.gatherings import lifecycle
from scheduler.services.mail import delivery

blp = Blueprint(
    "mail_status", __name__, url_prefix="/api/v1/gatherings", description="Mail delivery"
)


@blp.route("/<int:gathering_id>/mail-status")
class GatheringMailStatus(MethodView):
    """Delivery state of every mail owed for a gathering (organizer only)."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, MailStatusSchema)
    def get(self, gathering_id: int) -> Any:
        """Counts per kind and status, and the mail that failed for good with the reason."""
        session = db_session()
        user = current_user()
        gathering = lifecycle.get_gathering(session, gathering_id)
        lifecycle.require_organizer(gathering, user)
        return delivery.mail_status(session, gathering)
