"""The start page and account pages: sign up, log in, log out, profile."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from scheduler.domain.errors import KindredError
from scheduler.extensions import current_services, db_session
from scheduler.models import Gathering, GatheringStatus, Group, GroupMember, Rsvp, User, utcnow
from scheduler.schemas.accounts import ProfileArgsSchema, UserArgsSchema
from scheduler.services.accounts import identity, sessions
from scheduler.services.calendars import busy
from scheduler.services.calendars.feed_urls import feed_urls
from scheduler.services.groups import circles
from scheduler.services.self_service import account_links
from scheduler.services.tribe import recommendations
from scheduler.web.auth import (
    log_in,
    log_out,
    login_required,
    page_user,
    protect,
    require_user,
    safe_next,
)
from scheduler.web.forms import FormState, load_with, split_interests, timezone_choices
from scheduler.web.language import browser_locale, current_locale, error_text, use_locale

bp = protect(Blueprint("pages", __name__))

HOME_LIMIT = 12


def _policy() -> identity.PasswordPolicy:
    config = current_services().config
    return identity.PasswordPolicy(config.password_time_cost, config.password_memory_cost)


@bp.get("/")
def home() -> str:
    """Signed out: what Kindred is. Signed in: what's next for me and what to discover."""
    user = page_user()
    if user is None:
        return render_template("home.html")
    session = db_session()
    now = utcnow()
    my_groups = list(
        session.scalars(
            select(Group)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.user_id == user.id, GroupMember.state == "member")
            .order_by(Group.name)
        )
    )
    upcoming, polls = _my_gatherings(session, user, [g.id for g in my_groups], now)
    recommended = recommendations.recommend(session, user, now=now, page_size=6)
    return render_template(
        "dashboard.html",
        user=user,
        my_groups=my_groups,
        counts=circles.member_counts(session, [g.id for g in my_groups]),
        upcoming=upcoming,
        polls=polls,
        recommended=recommended,
    )


def _my_gatherings(
    session: Session, user: User, group_ids: list[int], now: datetime
) -> tuple[list[Gathering], list[Gathering]]:
    """Upcoming gatherings and open polls from my groups, that I organize or said yes/maybe to."""
    answered = select(Rsvp.gathering_id).where(
        Rsvp.user_id == user.id, Rsvp.response.in_(("yes", "maybe"))
    )
    mine = or_(
        Gathering.group_id.in_(group_ids),
        Gathering.organizer_id == user.id,
        Gathering.id.in_(answered),
    )
    upcoming = list(
        session.scalars(
            select(Gathering)
            .where(mine, Gathering.status == GatheringStatus.SCHEDULED, Gathering.ends_at > now)
            .order_by(Gathering.starts_at, Gathering.id)
            .limit(HOME_LIMIT)
        )
    )
    polls = list(
        session.scalars(
            select(Gathering)
            .where(mine, Gathering.status == GatheringStatus.POLLING)
            .order_by(Gathering.created_at.desc(), Gathering.id.desc())
            .limit(HOME_LIMIT)
        )
    )
    return upcoming, polls


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Any:
    """Create an account and sign in."""
    state = FormState(values={"timezone": "UTC"})
    if request.method == "POST":
        # decided before anything is written: a refused target is the start page, not an error
        target = safe_next(request.args.get("next"))
        form = request.form
        state.values = {k: form.get(k, "") for k in ("email", "name", "timezone", "interests")}
        body = {
            "email": form.get("email", "").strip(),
            "name": form.get("name", "").strip(),
            "password": form.get("password", ""),
            "timezone": form.get("timezone", "UTC").strip() or "UTC",
            "interests": split_interests(form.get("interests", "")),
            "locale": browser_locale(),
        }
        args = load_with(UserArgsSchema(), body, state)
        if args is not None:
            session = db_session()
            try:
                outcome = account_links.sign_up(
                    session, current_services().config, now=utcnow(), **args
                )
                session.commit()
            except KindredError as exc:
                session.rollback()
                state.add_error(exc, "email")
            else:
                if outcome.user is None:  # an unconfirmed account held it: its owner is mailed
                    return render_template(
                        "account_message.html",
                        title=_("Check your mail"),
                        message=_("We mailed this address a link: follow it to sign in."),
                    ), 202
                log_in(outcome.user)
                flash(
                    _(
                        "Welcome to Kindred, %(name)s! We mailed you a link to confirm your "
                        "address: until you follow it, Kindred sends you nothing else.",
                        name=outcome.user.name,
                    ),
                    "success",
                )
                return redirect(target)
    return _render_form("signup.html", state)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in with email and password."""
    state = FormState()
    if request.method == "POST":
        target = safe_next(request.args.get("next"))
        state.values = {"email": request.form.get("email", "")}
        session = db_session()
        try:
            user = identity.authenticate(
                session,
                email=request.form.get("email", "")[:254],
                password=request.form.get("password", "")[:1024],
                policy=_policy(),
            )
            session.commit()
        except KindredError as exc:
            session.rollback()
            state.add("password", error_text(exc))
        else:
            log_in(user)
            return redirect(target)
    return _render_form("login.html", state)


@bp.post("/logout")
def logout() -> Response:
    """Sign out."""
    log_out()
    flash(_("You are signed out."), "info")
    return redirect(url_for("pages.home"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile() -> Any:
    """Name, time zone, interests and mail preferences; the personal calendar feed."""
    user = require_user()
    state = FormState(
        values={
            "name": user.name,
            "timezone": user.timezone,
            "interests": ", ".join(i.name for i in user.interests),
            "share_name": user.share_name,
            "reminders_enabled": user.reminders_enabled,
            "announcements": user.announcements,
            "organizer_updates": user.organizer_updates,
            "locale": user.locale,
        }
    )
    if request.method == "POST":
        form = request.form
        state.values = {k: form.get(k, "") for k in ("name", "timezone", "interests")}
        state.values["share_name"] = "share_name" in form
        state.values["reminders_enabled"] = "reminders_enabled" in form
        state.values["announcements"] = form.get("announcements", "each")
        state.values["organizer_updates"] = "organizer_updates" in form
        state.values["locale"] = form.get("locale", user.locale)
        body = {
            "name": form.get("name", "").strip(),
            "timezone": form.get("timezone", "").strip(),
            "interests": split_interests(form.get("interests", "")),
            "share_name": "share_name" in form,
            "reminders_enabled": "reminders_enabled" in form,
            "announcements": form.get("announcements", "each"),
            "organizer_updates": "organizer_updates" in form,
            "locale": form.get("locale", user.locale),
        }
        args = load_with(ProfileArgsSchema(), body, state)
        if args is not None:
            session = db_session()
            try:
                identity.update_profile(session, user, **args)
                session.commit()
            except KindredError as exc:
                session.rollback()
                state.add_error(exc)
            else:
                use_locale(user.locale)  # "saved" in the language just chosen
                flash(_("Profile saved."), "success")
                return redirect(url_for("pages.profile"))
    config = current_services().config
    urls = feed_urls(config.base_url, identity.current_feed_token(user, config.secret_key))
    session = db_session()
    return _render_form(
        "profile.html",
        state,
        user=user,
        urls=urls,
        has_password=identity.has_password(user),
        tokens=identity.list_api_tokens(session, user),
        web_sessions=sessions.list_sessions(session, user),
        calendars=[
            (calendar, busy.error_text(calendar, current_locale()))
            for calendar in busy.calendars_of(session, user)
        ],
    )


def _render_form(template: str, state: FormState, **context: Any) -> tuple[str, int]:
    status = 422 if state.errors else 200
    return (
        render_template(template, form=state, timezones=timezone_choices(), **context),
        status,
    )
