"""The List-Unsubscribe page: GET shows a confirm button, POST stops the mail.

The signed token in the URL is the credential (no login, hence no CSRF token: a forged POST
would need the token itself). A POST with `List-Unsubscribe=One-Click` (RFC 8058, sent by
mail providers) unsubscribes from what the link names without a form.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from scheduler.extensions import current_services, db_session
from scheduler.services.mail import unsubscribe as service

bp = Blueprint("unsubscribe", __name__)


@bp.get("/unsubscribe/<string:token>")
def confirm(token: str) -> str:
    """Ask before unsubscribing: link scanners only GET, so nothing changes here."""
    claim = service.read_token(current_services().config, token)
    current = service.subscription(db_session(), claim)
    return render_template("unsubscribe.html", current=current, done=None)


@bp.post("/unsubscribe/<string:token>")
def unsubscribe(token: str) -> str:
    """Stop reminders and follow-ups for the gathering (scope=gathering) or all (scope=all)."""
    claim = service.read_token(current_services().config, token)
    default = "gathering" if claim.gathering_id else "all"
    scope = request.form.get("scope") or default
    session = db_session()
    current = service.unsubscribe(session, claim, scope)
    session.commit()
    return render_template("unsubscribe.html", current=current, done=scope)
