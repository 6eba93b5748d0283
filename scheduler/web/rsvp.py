"""One-click RSVP links from mail: GET asks to confirm, POST records the answer.

A mail scanner that prefetches links only ever GETs, so nobody is RSVPed by a prefetch. There
is no login: the signed token is the credential, and the POST verifies it again (which is why
no CSRF token is needed: a forged POST would need the token itself).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, url_for
from flask_babel import lazy_gettext

from scheduler.domain.errors import InvalidInput, NotFound
from scheduler.extensions import current_services, db_session
from scheduler.models import Gathering, User, utcnow
from scheduler.services.gatherings import attendance, lifecycle
from scheduler.services.gatherings.rsvp_links import LinkInvalid, RsvpLinkClaim, read_rsvp_token

bp = Blueprint("rsvp_links", __name__, template_folder="templates")

ANSWER_WORDS = {
    "yes": lazy_gettext("I'm coming"),
    "no": lazy_gettext("I can't come"),
    "maybe": lazy_gettext("Maybe"),
}


def _claim_and_rows(token: str) -> tuple[RsvpLinkClaim, Gathering, User]:
    claim = read_rsvp_token(current_services().config, token)
    session = db_session()
    gathering = session.get(Gathering, claim.gathering_id)
    if gathering is None:
        raise NotFound("This gathering no longer exists.")
    user = session.get(User, claim.user_id)
    if user is None:
        raise LinkInvalid("This link belongs to an account that no longer exists.")
    return claim, gathering, user


def _local_start(gathering: Gathering) -> datetime | None:
    if gathering.starts_at is None:
        return None
    return gathering.starts_at.astimezone(ZoneInfo(gathering.timezone))


@bp.get("/r/<string:token>")
def confirm(token: str) -> str:
    """Ask the person to confirm the answer the link stands for."""
    claim, gathering, user = _claim_and_rows(token)
    current = attendance.get_rsvp(db_session(), gathering.id, user.id)
    return render_template(
        "rsvp_confirm.html",
        gathering=gathering,
        user=user,
        response=claim.response,
        answer=str(ANSWER_WORDS[claim.response]),
        local_start=_local_start(gathering),
        current=current,
        status=lifecycle.effective_status(gathering, utcnow()),
    )


@bp.post("/r/<string:token>")
def record(token: str) -> str | tuple[str, int]:
    """Record the answer (the same link twice changes nothing) and show where it leaves them."""
    claim, gathering, user = _claim_and_rows(token)
    session = db_session()
    try:
        outcome = attendance.set_rsvp(session, gathering.id, user.id, claim.response, now=utcnow())
    except InvalidInput as exc:
        if not (exc.field or "").startswith("answers."):
            raise
        # a required question: a link cannot answer it, the gathering's page can
        session.rollback()
        page = url_for("gathering_pages.show", gathering_id=claim.gathering_id)
        return render_template(
            "rsvp_done.html",
            gathering=gathering,
            user=user,
            outcome=None,
            answer_first=page,
            local_start=_local_start(gathering),
        ), 422
    session.commit()
    return render_template(
        "rsvp_done.html",
        gathering=gathering,
        user=user,
        outcome=outcome,
        local_start=_local_start(gathering),
    )
