"""Gathering pages: the new-gathering form, a gathering's page, its edit form, RSVP, cancel."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response

from scheduler.api.errors import flatten_messages
from scheduler.api.exports import attendees_csv_response
from scheduler.domain.errors import Conflict, InvalidInput, KindredError, NotAllowed
from scheduler.domain.questions import questions_of
from scheduler.extensions import current_services, db_session
from scheduler.models import Gathering, GatheringStatus, Group, GroupMember, User, utcnow
from scheduler.models.gathering import DEFAULT_REMINDERS
from scheduler.schemas.gatherings import GatheringArgsSchema, GatheringPatchArgsSchema
from scheduler.schemas.rsvps import RsvpArgsSchema
from scheduler.services.accounts import identity
from scheduler.services.calendars.feed_urls import feed_urls, webcal
from scheduler.services.gatherings import access, attendance, lifecycle, series
from scheduler.services.mail.calendar_mail import TIME_OR_PLACE
from scheduler.services.polls import scheduling
from scheduler.web.auth import login_required, page_user, protect, require_user
from scheduler.web.forms import (
    DURATION_CHOICES,
    SCOPE_CHOICES,
    STEP_CHOICES,
    VISIBILITY_CHOICES,
    FormState,
    changed_args,
    committed,
    duration_choices,
    edit_args,
    edit_values,
    gathering_args,
    labelled,
    load_with,
    question_rows,
    recurrence_labels,
    reminder_choices,
    timezone_choices,
)
from scheduler.web.language import error_text

bp = protect(Blueprint("gathering_pages", __name__))

RSVP_LABELS = {
    "yes": lazy_gettext("Going"),
    "maybe": lazy_gettext("Maybe"),
    "no": lazy_gettext("Can't go"),
}


def supports_recurrence() -> bool:
    """True once the gatherings API takes a `recurrence` rule (the series feature)."""
    return "recurrence" in GatheringArgsSchema._declared_fields


def _my_groups(user: User) -> list[Group]:
    return list(
        db_session().scalars(
            select(Group)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.user_id == user.id, GroupMember.state == "member")
            .order_by(Group.name)
        )
    )


@bp.route("/gatherings/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    """Fixed time or "find a time"; errors next to their fields, input kept."""
    user = require_user()
    state = FormState(
        values={
            "timezone": user.timezone,
            "mode": request.args.get("mode", "fixed"),
            "group_id": request.args.get("group_id", ""),
            "duration_minutes": "120",
            "step_minutes": "30",
            "min_attendees": "1",
            "reminders": [str(m) for m in DEFAULT_REMINDERS],
            "recurrence": "none",
        }
    )
    if request.method == "POST":
        body = gathering_args(request.form, state, supports_recurrence=supports_recurrence())
        had_errors = not state.ok
        args = load_with(GatheringArgsSchema(), body, state)
        if had_errors and state.errors.keys() & {"starts_at", "window_start", "window_end"}:
            # the time itself was unreadable: "give a fixed time or a poll" would only confuse
            state.errors.pop("mode", None)
        if args is not None and state.ok:
            session = db_session()
            try:
                gathering = scheduling.create(
                    session,
                    user,
                    args,
                    now=utcnow(),
                    uid_domain=current_services().config.mail_domain,
                )
                session.commit()
            except NotAllowed as exc:
                session.rollback()
                state.add("group_id", error_text(exc))
            except KindredError as exc:
                session.rollback()
                state.add_error(exc)
            else:
                if gathering.status == GatheringStatus.POLLING:
                    flash(
                        _(
                            "Your poll is open. Share this page so people can paint when "
                            "they can come."
                        ),
                        "success",
                    )
                else:
                    flash(_("Your gathering is on the calendar."), "success")
                return redirect(url_for("gathering_pages.show", gathering_id=gathering.id))
    return (
        render_template(
            "gathering_new.html",
            form=state,
            question_rows=question_rows(state.values),
            my_groups=_my_groups(user),
            timezones=timezone_choices(),
            durations=DURATION_CHOICES,
            steps=STEP_CHOICES,
            reminder_choices=reminder_choices(),
            recurrence_options=recurrence_labels(None),
            recurrence_enabled=supports_recurrence(),
            visibility_choices=labelled(VISIBILITY_CHOICES),
        ),
        422 if state.errors else 200,
    )


@bp.get("/g/<int:gathering_id>")
def show(gathering_id: int) -> Any:
    """When and where (in my zone and the gathering's), RSVP buttons, who is coming, links."""
    session = db_session()
    gathering = lifecycle.get_gathering(session, gathering_id)
    if gathering.status == GatheringStatus.POLLING:
        from scheduler.web.poll_pages import render_poll

        return render_poll(gathering)
    user = page_user()
    rights = access.require_visible(session, gathering, user)
    my_rsvp = attendance.get_rsvp(session, gathering.id, user.id) if user else None
    position = attendance.waitlist_position(session, my_rsvp) if my_rsvp else None
    attendees = None
    if user is not None and rights.see_attendees:
        attendees = attendance.attendees(session, gathering, user)
    return render_template(
        "gathering.html",
        gathering=gathering,
        status=lifecycle.effective_status(gathering, utcnow()),
        user=user,
        my_tz=user.timezone if user else gathering.timezone,
        my_rsvp=my_rsvp,
        waitlist_position=position,
        attendees=attendees,
        seats_left=lifecycle.seats_left(gathering),
        rsvp_labels={value: str(label) for value, label in RSVP_LABELS.items()},
        rights=rights,
        organizer_name=access.organizer_name(gathering, rights, user),
        is_organizer=rights.manage,
        questions=questions_of(gathering.questions),
        online_url=access.online_url_for(session, gathering, user, rights),
        **calendar_links(gathering, user),
    )


@bp.route("/g/<int:gathering_id>/edit", methods=["GET", "POST"])
@login_required
def edit(gathering_id: int) -> Any:
    """Change a gathering (organizer only); only what changed reaches the service.

    A poll's time, zone and length come from the poll, so for a polling gathering only the
    words (title, description, place, interests) can change here.
    """
    session = db_session()
    user = require_user()
    gathering = lifecycle.get_gathering(session, gathering_id)
    lifecycle.require_organizer(gathering, user)  # any organizer of its group, too
    status = lifecycle.effective_status(gathering, utcnow())
    polling = status == GatheringStatus.POLLING
    in_series = gathering.series_id is not None and not polling
    editable = status in (GatheringStatus.SCHEDULED, GatheringStatus.POLLING)
    state = FormState(values=edit_values(gathering))
    code = 200
    if request.method == "POST" and not editable:
        code = 409
    elif request.method == "POST":
        body = edit_args(request.form, state, polling=polling, in_series=in_series)
        args = load_with(GatheringPatchArgsSchema(), body, state)
        if args is not None and state.ok:
            scope = args.pop("scope", "this")
            changes = changed_args(args, gathering)
            if not changes:
                flash(_("Nothing changed."), "info")
                return redirect(url_for("gathering_pages.show", gathering_id=gathering_id))
            try:
                _apply_edit(gathering_id, user, scope, changes)
                session.commit()
            except KindredError as exc:
                session.rollback()
                if exc.status in (403, 404):
                    raise
                code = 409 if isinstance(exc, Conflict) else 422
                state.add_error(exc)
                # the rolled-back session must not show the typed values as if saved
                gathering = lifecycle.get_gathering(session, gathering_id)
            else:
                flash(_saved_message(changes, scheduled=not polling, scope=scope), "success")
                return redirect(url_for("gathering_pages.show", gathering_id=gathering_id))
        if state.errors and code == 200:
            code = 422
    return (
        render_template(
            "gathering_edit.html",
            gathering=gathering,
            question_rows=question_rows(state.values),
            status=status,
            editable=editable,
            polling=polling,
            in_series=in_series,
            form=state,
            timezones=timezone_choices(),
            durations=duration_choices(gathering.duration_minutes),
            reminder_choices=reminder_choices(gathering.reminders),
            scope_choices=labelled(SCOPE_CHOICES),
            visibility_choices=[
                (value, label)
                for value, label in labelled(VISIBILITY_CHOICES)
                if value and (gathering.group_id is not None or value != "members")
            ],
        ),
        code,
    )


def _apply_edit(gathering_id: int, user: User, scope: str, changes: dict[str, Any]) -> None:
    session = db_session()
    if scope == "following":
        series.update_following(
            session,
            gathering_id,
            user,
            changes,
            now=utcnow(),
            uid=lifecycle.new_uid(current_services().config.mail_domain),
        )
    else:
        lifecycle.update_gathering(session, gathering_id, user, changes, now=utcnow())


def _saved_message(changes: dict[str, Any], *, scheduled: bool, scope: str) -> str:
    if scheduled and changes.keys() & TIME_OR_PLACE:
        if scope == "following":
            return _(
                "Saved. Everyone coming to this and the following gatherings will get an "
                "updated invite."
            )
        return _("Saved. Everyone coming to the gathering will get an updated invite.")
    return _("Saved.")


def calendar_links(gathering: Gathering, user: User | None) -> dict[str, str | None]:
    """ "Add to calendar" (.ics) and "Subscribe" (the group's feed, else my personal feed)."""
    config = current_services().config
    ics_url = f"{config.base_url}/gatherings/{gathering.id}.ics"
    subscribe = None
    subscribe_label = None
    if gathering.group_id is not None:
        subscribe = webcal(f"{config.base_url}/groups/{gathering.group_id}.ics")
        subscribe_label = _("Subscribe to the group's calendar")
    elif user is not None:
        token = identity.current_feed_token(user, config.secret_key)
        subscribe = feed_urls(config.base_url, token)["webcal_url"]
        subscribe_label = _("Subscribe to my Kindred calendar")
    return {"ics_url": ics_url, "subscribe_url": subscribe, "subscribe_label": subscribe_label}


@bp.post("/g/<int:gathering_id>/rsvp")
@login_required
def rsvp(gathering_id: int) -> Response:
    """Going / Maybe / Can't go, with guests and answers to the gathering's questions."""
    session = db_session()
    # members-only gatherings are 404 to outsiders; kindred_answer refuses the other answers
    access.require_visible(session, lifecycle.get_gathering(session, gathering_id), require_user())
    try:
        args = _rsvp_args(request.form)
        outcome = attendance.set_rsvp(
            session,
            gathering_id,
            require_user().id,
            args["response"],
            now=utcnow(),
            guests=args["guests"],
            answers=args["answers"],
        )
        session.commit()
    except KindredError as exc:
        session.rollback()
        if exc.status == 404:
            raise
        flash(error_text(exc), "error")
    else:
        if outcome.state == attendance.RsvpState.WAITLISTED:
            flash(
                _(
                    "It's full: you are number %(position)s on the waitlist. "
                    "We'll email you if a seat frees up.",
                    position=outcome.waitlist_position,
                ),
                "info",
            )
        elif outcome.state == attendance.RsvpState.GOING:
            flash(_("You're going. See you there!"), "success")
        else:
            flash(_("Thanks, your answer is saved."), "success")
    return redirect(url_for("gathering_pages.show", gathering_id=gathering_id))


def _rsvp_args(form: Any) -> dict[str, Any]:
    """The RSVP form (response, guests, answer_<question id> fields) through the API's schema."""
    body: dict[str, Any] = {"response": form.get("response", "")}
    if form.get("guests", "").strip().isdigit():
        body["guests"] = int(form["guests"])
    answers = {
        name.removeprefix("answer_"): text
        for name, text in form.items()
        if name.startswith("answer_")
    }
    if answers:
        body["answers"] = answers
    try:
        return RsvpArgsSchema().load(body)
    except ValidationError as exc:
        field, messages = next(iter(flatten_messages(exc.messages).items()))
        text = " ".join(messages)  # in the request's language already
        raise InvalidInput(text, field=field) from None


@bp.get("/g/<int:gathering_id>/attendees.csv")
@login_required
def attendees_csv(gathering_id: int) -> Response:
    """The attendee list with guests and answers as CSV (organizers only)."""
    session = db_session()
    gathering = lifecycle.get_gathering(session, gathering_id)
    table = attendance.attendee_table(session, gathering, require_user())
    return attendees_csv_response(table, gathering)


@bp.post("/g/<int:gathering_id>/cancel")
@login_required
def cancel(gathering_id: int) -> Response:
    """Cancel the gathering (organizer only); attendees are told."""
    session = db_session()
    if committed(
        lambda: lifecycle.cancel_gathering(session, gathering_id, require_user(), now=utcnow()),
        error_pages=(403, 404),
    ):
        flash(_("The gathering is cancelled; everyone who answered will be told."), "info")
    return redirect(url_for("gathering_pages.show", gathering_id=gathering_id))
