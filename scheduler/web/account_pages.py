"""Account pages: mailed links (verify, sign in, reset, new address), asking for them, and the
profile's account actions (sessions, tokens, password, address, export, erase).

A link opened with GET only shows a page with a button (checked, not spent): mail scanners
that open links must not sign anyone in or confirm anything. The button's POST spends it. A
bad link (altered, made for something else, expired, used) gets a page that says so, with a
4xx status, and signs nobody in.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from werkzeug.wrappers import Response

from scheduler.config import Config
from scheduler.domain.errors import KindredError
from scheduler.extensions import current_services, db_session
from scheduler.models import utcnow
from scheduler.services.accounts import identity, links, recovery, sessions
from scheduler.services.accounts.links import Purpose
from scheduler.services.self_service import account_links, your_data
from scheduler.web.auth import (
    log_in,
    log_out,
    login_required,
    protect,
    require_user,
    safe_next,
    session_token,
)
from scheduler.web.forms import FormState
from scheduler.web.language import error_text

bp = protect(Blueprint("account_pages", __name__))

CHECK_YOUR_MAIL = lazy_gettext(
    "If an account has this address, a mail with a link is on its way. The link works once."
)
_LINK_PAGES = {
    Purpose.VERIFY: (lazy_gettext("Confirm your address"), lazy_gettext("Confirm my address")),
    Purpose.SIGN_IN: (lazy_gettext("Sign in to Kindred"), lazy_gettext("Sign in")),
    Purpose.PASSWORD_RESET: (
        lazy_gettext("Choose a new password"),
        lazy_gettext("Save the new password"),
    ),
    Purpose.EMAIL_CHANGE: (
        lazy_gettext("Confirm your new address"),
        lazy_gettext("Use this address"),
    ),
}


def _config() -> Config:
    return current_services().config


def _link_refused(exc: KindredError) -> tuple[str, int]:
    db_session().rollback()
    return (
        render_template(
            "account_message.html",
            title=_("This link does not work"),
            message=error_text(exc),
            offer_links=True,
        ),
        exc.status,
    )


def _link_page(purpose: str, token: str, state: FormState | None = None) -> Any:
    """GET of a mailed link: check it (spend nothing) and show its button."""
    try:
        links.check(db_session(), _config().secret_key, purpose, token, now=utcnow())
    except KindredError as exc:
        return _link_refused(exc)
    title, button = _LINK_PAGES[purpose]
    status = 422 if state and state.errors else 200
    return (
        render_template(
            "account_link.html",
            title=str(title),
            button=str(button),
            purpose=purpose,
            form=state or FormState(),
        ),
        status,
    )


@bp.route("/account/verify/<token>", methods=["GET", "POST"])
def verify(token: str) -> Any:
    """Confirm an address from the link mailed to it."""
    if request.method == "GET":
        return _link_page(Purpose.VERIFY, token)
    session = db_session()
    try:
        account_links.verify_address(session, _config(), token, now=utcnow())
        session.commit()
    except KindredError as exc:
        return _link_refused(exc)
    flash(_("Your address is confirmed: invites and reminders will reach you."), "success")
    return redirect(url_for("pages.home"))


@bp.route("/account/sign-in/<token>", methods=["GET", "POST"])
def sign_in(token: str) -> Any:
    """Sign in from a one-time link (an "answer this poll" link leads on to the poll)."""
    if request.method == "GET":
        return _link_page(Purpose.SIGN_IN, token)
    session = db_session()
    try:
        user, next_path = account_links.sign_in_with_link(session, _config(), token, now=utcnow())
        session.commit()
    except KindredError as exc:
        return _link_refused(exc)
    log_in(user)
    flash(_("Welcome back, %(name)s!", name=user.name), "success")
    return redirect(safe_next(next_path))


@bp.route("/account/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> Any:
    """Choose a new password from a one-time link; every other session and token ends."""
    if request.method == "GET":
        return _link_page(Purpose.PASSWORD_RESET, token)
    session = db_session()
    try:
        user = account_links.reset_password(
            session, _config(), token, request.form.get("password", "")[:1024], now=utcnow()
        )
        session.commit()
    except KindredError as exc:
        if exc.field == "password":
            session.rollback()
            state = FormState()
            state.add_error(exc)
            return _link_page(Purpose.PASSWORD_RESET, token, state)
        return _link_refused(exc)
    log_in(user)
    flash(
        _("Your new password is set; every other browser and API token is signed out."),
        "success",
    )
    return redirect(url_for("pages.home"))


@bp.route("/account/email/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> Any:
    """Move the account to the address this link was mailed to."""
    if request.method == "GET":
        return _link_page(Purpose.EMAIL_CHANGE, token)
    session = db_session()
    try:
        user = account_links.confirm_email_change(session, _config(), token, now=utcnow())
        session.commit()
    except KindredError as exc:
        return _link_refused(exc)
    flash(_("Your address is now %(email)s.", email=user.email), "success")
    return redirect(url_for("pages.home"))


def _request_form(kind: str) -> Any:
    """Ask for a mailed link by address (the same answer whether an account has it)."""
    state = FormState(values={"email": request.args.get("email", "")})
    next_path = links.local_path(request.args.get("next"))
    if request.method == "POST":
        email = request.form.get("email", "").strip()[:254]
        state.values = {"email": email}
        if not email:
            state.add("email", _("Enter your email address."))
        else:
            session = db_session()
            try:
                if kind == Purpose.SIGN_IN:
                    account_links.request_sign_in_link(
                        session, _config(), email, now=utcnow(), next_path=next_path
                    )
                else:
                    account_links.request_password_reset(session, _config(), email, now=utcnow())
                session.commit()
            except KindredError as exc:
                session.rollback()
                state.add_error(exc, "email")
            else:
                return render_template(
                    "account_message.html", title=_("Check your mail"), message=str(CHECK_YOUR_MAIL)
                ), 202
    title = _("Sign in by mail") if kind == Purpose.SIGN_IN else _("Forgot your password?")
    status = 422 if state.errors else 200
    return render_template(
        "account_request.html", title=title, kind=kind, form=state, next_path=next_path
    ), status


@bp.route("/account/sign-in-link", methods=["GET", "POST"])
def email_link() -> Any:
    """Mail me a sign-in link: no password needed."""
    return _request_form(Purpose.SIGN_IN)


@bp.route("/account/forgot-password", methods=["GET", "POST"])
def password_reset() -> Any:
    """Mail me a link to choose a new password."""
    return _request_form(Purpose.PASSWORD_RESET)


# --- the profile's account actions -----------------------------------------------------------


@bp.post("/profile/verify-email")
@login_required
def resend_verify() -> Response:
    """Send the verify link again."""
    session = db_session()
    try:
        account_links.resend_verification(session, _config(), require_user(), now=utcnow())
        session.commit()
    except KindredError as exc:
        session.rollback()
        flash(error_text(exc), "info")
    else:
        flash(_("A new link is on its way to your address."), "success")
    return redirect(url_for("pages.profile"))


@bp.post("/profile/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> Response:
    """End every session of the account, this one included."""
    session = db_session()
    sessions.end_sessions(session, require_user())
    session.commit()
    log_out()
    flash(_("You are signed out everywhere."), "info")
    return redirect(url_for("pages.login"))


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Response:
    """Revoke one of my API tokens."""
    session = db_session()
    try:
        identity.revoke_api_token(session, require_user(), token_id)
        session.commit()
    except KindredError as exc:
        session.rollback()
        flash(error_text(exc), "error")
    else:
        flash(_("The token is revoked."), "success")
    return redirect(url_for("pages.profile") + "#tokens")


@bp.post("/profile/password")
@login_required
def change_password() -> Any:
    """Change my password; every other browser is signed out."""
    session = db_session()
    try:
        recovery.change_password(
            session,
            require_user(),
            current=request.form.get("current_password", "")[:1024],
            new=request.form.get("new_password", "")[:1024],
            policy=account_links.policy(_config()),
            now=utcnow(),
            keep_session=session_token(),
        )
        session.commit()
    except KindredError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for("pages.profile") + "#password")
    flash(_("Password changed; every other browser is signed out."), "success")
    return redirect(url_for("pages.profile"))


@bp.post("/profile/email")
@login_required
def change_email() -> Any:
    """Move to a new address (once the link mailed there is followed)."""
    session = db_session()
    try:
        account_links.request_email_change(
            session,
            _config(),
            require_user(),
            email=request.form.get("email", "")[:254],
            password=request.form.get("password", "")[:1024],
            now=utcnow(),
        )
        session.commit()
    except KindredError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for("pages.profile") + "#email")
    flash(_("Follow the link we mailed to the new address to start using it."), "success")
    return redirect(url_for("pages.profile"))


@bp.get("/profile/export")
@login_required
def export() -> Response:
    """Download everything stored about me, as JSON."""
    response = jsonify(your_data.export(db_session(), require_user()))
    response.headers["Content-Disposition"] = 'attachment; filename="kindred-export.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/profile/delete")
@login_required
def delete_account() -> Any:
    """Erase my account (the password confirms it)."""
    session = db_session()
    try:
        your_data.erase(
            session,
            require_user(),
            password=request.form.get("password", "")[:1024],
            policy=account_links.policy(_config()),
            now=utcnow(),
        )
        session.commit()
    except KindredError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for("pages.profile") + "#delete")
    log_out()
    flash(_("Your account is deleted. Everything about you is gone from Kindred."), "info")
    return redirect(url_for("pages.home"))
