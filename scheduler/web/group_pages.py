"""Group pages: discover by interest, start a group, a group's page, join."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from scheduler.domain.access import MemberRole, MemberState, Relation
from scheduler.domain.errors import KindredError
from scheduler.extensions import current_services, db_session
from scheduler.models import GatheringStatus, utcnow
from scheduler.schemas.groups import GroupArgsSchema
from scheduler.services.calendars.feed_urls import webcal
from scheduler.services.gatherings import access, lifecycle, membership
from scheduler.services.groups import circles
from scheduler.services.groups.access import anonymous_name, group_relation, public_name
from scheduler.services.tribe import nudges
from scheduler.web.auth import login_required, page_user, protect, require_user
from scheduler.web.forms import FormState, committed, load_with, split_interests
from scheduler.web.language import current_locale, error_text

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
        state.values = {
            k: form.get(k, "") for k in ("name", "description", "interests", "join_policy")
        }
        body = {
            "name": form.get("name", "").strip(),
            "description": form.get("description", "").strip(),
            "interests": split_interests(form.get("interests", "")),
            "join_policy": form.get("join_policy", "open") or "open",
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
                flash(_("Your group “%(name)s” is ready.", name=group.name), "success")
                return redirect(url_for("group_pages.show", group_id=group.id))
    return render_template("group_new.html", form=state), 422 if state.errors else 200


@bp.get("/groups/<int:group_id>")
def show(group_id: int) -> str:
    """About, interests, members, upcoming gatherings, join button and the feed link."""
    session = db_session()
    group = circles.get_group(session, group_id)
    user = page_user()
    now = utcnow()
    relation = group_relation(session, group.id, user)
    listed = access.listed_clause(user)
    upcoming = list(
        session.scalars(
            lifecycle.gatherings_query(
                session, group_id=group.id, status=GatheringStatus.SCHEDULED, now=now
            )
            .where(listed)
            .limit(LIST_LIMIT)
        )
    )
    polls = list(
        session.scalars(
            lifecycle.gatherings_query(
                session, group_id=group.id, status=GatheringStatus.POLLING
            ).where(listed)
        )
    )
    rights = access.access_many(session, [*upcoming, *polls], user)
    feed_url = f"{current_services().config.base_url}/groups/{group.id}.ics"
    organizer = group.organizer
    return render_template(
        "group.html",
        group=group,
        member_count=circles.member_counts(session, [group.id]).get(group.id, 0),
        relation=relation,
        is_member=relation in (Relation.MEMBER, Relation.ORGANIZER),
        is_organizer=relation == Relation.ORGANIZER,
        members=circles.members(session, group.id) if relation == Relation.ORGANIZER else [],
        organizer_name=public_name(organizer, current_locale()),
        anonymous_name=anonymous_name(current_locale()),
        upcoming=upcoming,
        polls=polls,
        rights=rights,
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
    member, created = circles.join_group(session, group, require_user())
    session.commit()
    if created and member.state == MemberState.PENDING:
        flash(
            _("You asked to join %(name)s: an organizer will approve it.", name=group.name), "info"
        )
    elif created:
        flash(_("You joined %(name)s.", name=group.name), "success")
    return redirect(url_for("group_pages.show", group_id=group.id))


@bp.post("/groups/<int:group_id>/leave")
@login_required
def leave(group_id: int) -> Response:
    """Leave the group (or withdraw a request); the last organizer stays."""
    session = db_session()
    group = circles.get_group(session, group_id)
    user = require_user()
    try:
        membership.remove_from_group(session, group.id, user, user.id, now=utcnow())
        session.commit()
    except KindredError as exc:
        session.rollback()
        flash(error_text(exc), "error")
    else:
        flash(_("You left %(name)s.", name=group.name), "info")
    return redirect(url_for("group_pages.show", group_id=group_id))


# what each button on the members list does (organizers only; the service checks)
MEMBER_ACTIONS: dict[str, dict[str, str]] = {
    "approve": {"state": MemberState.MEMBER.value},
    "promote": {"role": MemberRole.ORGANIZER.value},
    "demote": {"role": MemberRole.MEMBER.value},
}


@bp.post("/groups/<int:group_id>/members/<int:user_id>")
@login_required
def member(group_id: int, user_id: int) -> Response:
    """An organizer approves, promotes, demotes or removes a member."""
    session = db_session()
    action = request.form.get("action", "")
    actor = require_user()
    circles.require_organizer(session, circles.get_group(session, group_id), actor)
    if action == "remove":
        run = partial(membership.remove_from_group, session, group_id, actor, user_id, now=utcnow())
    elif action in MEMBER_ACTIONS:
        run = partial(
            circles.change_member, session, group_id, actor, user_id, **MEMBER_ACTIONS[action]
        )
    else:
        flash(_("Choose approve, make organizer, make member or remove."), "error")
        return redirect(url_for("group_pages.show", group_id=group_id))
    if committed(run, error_pages=(403, 404)):
        flash(_("Saved."), "success")
    return redirect(url_for("group_pages.show", group_id=group_id) + "#members")


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
        is_organizer=group_relation(session, group.id, user) == Relation.ORGANIZER,
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
    flash(_("A poll for the next get-together is open: share it with the group."), "success")
    return redirect(url_for("gathering_pages.show", gathering_id=gathering.id))
