"""POST /inbound/mail: calendar replies forwarded by a mail provider over HTTP.

The body is the raw RFC 5322 message; `Authorization: Bearer <INBOUND_SECRET>` authenticates
the forwarder (404 while no secret is set, 403 for a wrong one). `?to=` (repeatable) gives the
envelope recipients when the provider knows them; otherwise the mail's own headers say where
it was sent. Answers 202 with how the mail ended, dropped ones included.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, jsonify, request

from scheduler.extensions import current_services, db_session
from scheduler.models import utcnow
from scheduler.services.calendars import replies

bp = Blueprint("inbound", __name__)


@bp.post("/inbound/mail")
def inbound_mail() -> Any:
    """Hand one forwarded mail to the replies handler."""
    config = current_services().config
    if not config.inbound_secret:
        abort(404)
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), config.inbound_secret.encode()):
        abort(403)
    outcome = replies.handle_mail(
        db_session(),
        config,
        request.get_data(cache=False),
        recipients=request.args.getlist("to"),
        now=utcnow(),
    )
    return jsonify({"outcome": outcome}), 202
