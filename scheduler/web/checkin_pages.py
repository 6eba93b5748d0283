"""Pages for check-ins: the people you've met (ask for a check-in), your check-ins (accept,
decline, stop), and the one-click answer links from the request mail (GET asks to confirm,
POST answers; the signed token is the credential, as with RSVP links)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from scheduler.domain.errors import KindredError, NotFound
from scheduler.extensions import current_services, db_session
from scheduler.models import Checkin, User, utcnow
from scheduler.services.accounts import identity
from scheduler.services.mail.checkin_mail import DECLINE, read_checkin_token
from scheduler.services.tribe import checkins, people
from scheduler.web.auth import login_required, require_user
from scheduler.web.language import error_text

bp = Blueprint("checkin_pages", __name__)


@bp.get("/people")
@login_required
def met() -> str:
    """People I went to past gatherings with, each with "Ask for a check-in"; my check-ins."""
    user = require_user()
    session = db_session()
    return render_template(
        "people.html",
        people=people.people_met(session, user, now=utcnow()),
        checkins=checkins.my_checkins(session, user),
        next_date=checkins.next_date,
        user=user,
    )


def _form_int(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


@bp.post("/people/settings")
@login_required
def settings() -> Response:
    """Whether people met may ask me for check-ins, and the monthly catch-up nudge."""
    user = require_user()
    session = db_session()
    identity.update_profile(
        session,
        user,
        allow_checkins="allow_checkins" in request.form,
        checkin_nudges="checkin_nudges" in request.form,
    )
    session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("checkin_pages.met") + "#settings")


@bp.post("/checkins/ask")
@login_required
def ask() -> Response:
    """Ask someone met for a check-in (every_weeks optional)."""
    user = require_user()
    session = db_session()
    invitee_id = _form_int("with")
    try:
        if invitee_id is None:
            raise NotFound("Choose someone you have met.")
        checkin = checkins.ask(
            session, user, invitee_id, every_weeks=_form_int("every_weeks"), now=utcnow()
        )
        session.commit()
    except KindredError as exc:
        session.rollback()
        flash(error_text(exc), "error")
    else:
        flash(
            _(
                "Asked %(name)s for a check-in: we mailed them some times.",
                name=checkin.invitee.name,
            ),
            "success",
        )
    return redirect(url_for("checkin_pages.met"))


@bp.post("/checkins/<int:checkin_id>/<any(accept, decline, stop):action>")
@login_required
def act(checkin_id: int, action: str) -> Response:
    """Accept a proposed time, decline, or stop a habit, from the people page."""
    user = require_user()
    session = db_session()
    now = utcnow()
    try:
        if action == "accept":
            choice = _form_int("choice")
            checkins.accept(
                session,
                checkin_id,
                user,
                -1 if choice is None else choice,
                now=now,
                uid_domain=current_services().config.mail_domain,
            )
            message = _("It's in both your calendars: invites are on their way.")
        elif action == "decline":
            checkins.decline(session, checkin_id, user, now=now)
            message = _("Declined.")
        else:
            checkins.stop(session, checkin_id, user, now=now)
            message = _("Stopped: no more check-ins will be proposed.")
        session.commit()
    except KindredError as exc:
        session.rollback()
        flash(error_text(exc), "error")
    else:
        flash(message, "success")
    return redirect(url_for("checkin_pages.met"))


def _claimed(token: str) -> tuple[Any, Checkin, User]:
    claim = read_checkin_token(current_services().config, token)
    session = db_session()
    checkin = session.get(Checkin, claim.checkin_id)
    user = session.get(User, claim.user_id)
    if checkin is None or user is None or checkin.invitee_id != user.id:
        raise NotFound("This check-in is gone.")
    return claim, checkin, user


@bp.get("/checkins/answer/<string:token>")
def answer_link(token: str) -> str:
    """Confirm the answer the mailed link stands for (a prefetch changes nothing)."""
    claim, checkin, user = _claimed(token)
    return render_template(
        "checkin_answer.html", claim=claim, checkin=checkin, user=user, decline=DECLINE
    )


@bp.post("/checkins/answer/<string:token>")
def answer_link_post(token: str) -> str:
    """Accept the linked time (both are sent an invite), or decline."""
    claim, checkin, user = _claimed(token)
    session = db_session()
    now = utcnow()
    error = None
    try:
        if claim.choice == DECLINE:
            checkins.decline(session, checkin.id, user, now=now)
        else:
            checkins.accept(
                session,
                checkin.id,
                user,
                claim.choice,
                now=now,
                uid_domain=current_services().config.mail_domain,
            )
        session.commit()
    except KindredError as exc:
        session.rollback()
        error = error_text(exc)
    return render_template(
        "checkin_answer.html",
        claim=claim,
        checkin=checkin,
        user=user,
        decline=DECLINE,
        done=error is None,
        error=error,
    )
