"""Group pages: discover by interest, start a group, a group's page, join."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from scheduler.domain.errors import KindredError
from scheduler.extensions import current_services, db_session
from scheduler.models import GatheringStatus, utcnow
from scheduler.schemas.groups import GroupArgsSchema
from scheduler.services.calendars.feed_urls import webcal
from scheduler.services.gatherings import lifecycle
from scheduler.services.groups import circles
from scheduler.services.tribe import nudges
from scheduler.web.auth import login_required, page_user, protect, require_user
from scheduler.web.forms import FormState, load_with, split_interests

bp = protect(Blueprint("group_pages", __name__))

LIST_LIMIT = 50


@bp.get("/groups")
def index() -> str:
    """Groups, newest first, or those tagged with `?interest=`."""
    session = db_session()
    interest = request.args.get("interest", "").strip()[:120]
    rows = list(session.scalars(circles.groups_query(session, interest=interest).limit(LIST_LIMIT)))
    return render_template(
        "groups.html",
        groups=rows,
        counts=circles.member_counts(session, [g.id for g in rows]),
        interest=interest,
    )


@bp.route("/groups/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    """Start a group; its creator organizes it."""
    state = FormState()
    if request.method == "POST":
        form = request.form
        state.values = {k: form.get(k, "") for k in ("name", "description", "interests")}
        body = {
            "name": form.get("name", "").strip(),
            "description": form.get("description", "").strip(),
            "interests": split_interests(form.get("interests", "")),
        }
        args = load_with(GroupArgsSchema(), body, state)
        if args is not None:
            session = db_session()
            try:
                group = circles.create_group(session, require_user(), **args)
                session.commit()
            except KindredError as exc:
                session.rollback()
                state.add_error(exc, "name")
            else:
                flash(f"Your group “{group.name}” is ready.", "success")
                return redirect(url_for("group_pages.show", group_id=group.id))
    return render_template("group_new.html", form=state), 422 if state.errors else 200


@bp.get("/groups/<int:group_id>")
def show(group_id: int) -> str:
    """About, interests, members, upcoming gatherings, join button and the feed link."""
    session = db_session()
    group = circles.get_group(session, group_id)
    user = page_user()
    now = utcnow()
    upcoming = list(
        session.scalars(
            lifecycle.gatherings_query(
                session, group_id=group.id, status=GatheringStatus.SCHEDULED, now=now
            ).limit(LIST_LIMIT)
        )
    )
    polls = list(
        session.scalars(
            lifecycle.gatherings_query(session, group_id=group.id, status=GatheringStatus.POLLING)
        )
    )
    feed_url = f"{current_services().config.base_url}/groups/{group.id}.ics"
    member = user is not None and circles.membership(session, group.id, user.id) is not None
    return render_template(
        "group.html",
        group=group,
        member_count=circles.member_counts(session, [group.id]).get(group.id, 0),
        is_member=member,
        upcoming=upcoming,
        polls=polls,
        feed_url=feed_url,
        webcal_url=webcal(feed_url),
        user=user,
    )


@bp.post("/groups/<int:group_id>/join")
@login_required
def join(group_id: int) -> Response:
    """Join the group (joining twice is harmless)."""
    session = db_session()
    group = circles.get_group(session, group_id)
    _, created = circles.join_group(session, group, require_user())
    session.commit()
    if created:
        flash(f"You joined {group.name}.", "success")
    return redirect(url_for("group_pages.show", group_id=group.id))


@bp.get("/groups/<int:group_id>/propose")
@login_required
def propose(group_id: int) -> str:
    """The nudge's and follow-up's "propose the next one" link: confirm before creating a poll."""
    session = db_session()
    group = circles.get_group(session, group_id)
    user = require_user()
    proposal = nudges.proposal_for(session, group, now=utcnow())
    return render_template(
        "group_propose.html",
        group=group,
        proposal=proposal,
        window_start=datetime.fromisoformat(proposal["poll"]["window_start"]),
        window_end=datetime.fromisoformat(proposal["poll"]["window_end"]),
        is_organizer=group.organizer_id == user.id,
    )


@bp.post("/groups/<int:group_id>/propose")
@login_required
def propose_post(group_id: int) -> Response:
    """Start the poll for the group's next gathering and open it."""
    session = db_session()
    group = circles.get_group(session, group_id)
    config = current_services().config
    gathering = nudges.propose_next(
        session, group, require_user(), now=utcnow(), uid_domain=config.mail_domain
    )
    session.commit()
    flash("A poll for the next get-together is open: share it with the group.", "success")
    return redirect(url_for("gathering_pages.show", gathering_id=gathering.id))
