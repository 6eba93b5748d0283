"""Poll pages: paint availability, see everyone's heatmap and the best times, schedule one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from scheduler.domain.errors import KindredError
from scheduler.extensions import db_session
from scheduler.models import Gathering, GatheringStatus, User, utcnow
from scheduler.schemas.polls import ScheduleArgsSchema
from scheduler.services.gatherings import lifecycle
from scheduler.services.gatherings.attendance import ANONYMOUS_NAME
from scheduler.services.polls import availability, scheduling, slots
from scheduler.web.auth import csrf_token, login_required, page_user, protect, require_user
from scheduler.web.display import iso_utc, time_range, tz_or_utc
from scheduler.web.forms import FormState, availability_intervals, load_with
from scheduler.web.poll_grid import Grid, build_grid, cell_minutes_for

bp = protect(Blueprint("poll_pages", __name__))

BEST_SLOTS = 5


def _names(
    session: Any, user_ids: list[int], viewer: User | None, organizer_id: int
) -> dict[int, str]:
    """Display names: people who chose not to share theirs appear anonymously to others."""
    if not user_ids:
        return {}
    names: dict[int, str] = {}
    for user in session.scalars(select(User).where(User.id.in_(user_ids))):
        shown = user.share_name or (viewer is not None and viewer.id in (user.id, organizer_id))
        names[user.id] = user.name if shown else ANONYMOUS_NAME
    return names


def _grid_and_ranking(
    gathering: Gathering, viewer: User
) -> tuple[Grid, slots.SlotsView, dict[int, str]]:
    session = db_session()
    poll = slots.require_poll(gathering)
    everyone = slots.load_availability(session, gathering.id)
    ranking = slots.ranking_view(gathering, limit=BEST_SLOTS)
    ids = set(everyone)
    for slot in ranking.slots:
        ids.update(slot["available"])
    names = _names(session, sorted(ids), viewer, gathering.organizer_id)
    mine = availability.get_availability(session, gathering, viewer)
    grid = build_grid(
        window_start=poll.window_start,
        window_end=poll.window_end,
        step_minutes=poll.step_minutes,
        tz=tz_or_utc(viewer.timezone),
        mine=[(span.start, span.end, span.preference) for span in mine.intervals],
        everyone=everyone,
        names=names,
    )
    return grid, ranking, names


def _slot_rows(
    ranking: slots.SlotsView, names: dict[int, str], tz_name: str
) -> list[dict[str, Any]]:
    preferred_word = "prefer it"
    rows = []
    for slot in ranking.slots:
        available = [names.get(uid, ANONYMOUS_NAME) for uid in slot["available"]]
        rows.append(
            {
                "start": iso_utc(slot["start"]),
                "label": time_range(slot["start"], slot["end"], tz_name),
                "available_count": len(slot["available"]),
                "preferred_count": len(slot["preferred"]),
                "summary": f"{len(slot['available'])} can come, {len(slot['preferred'])} {preferred_word}",
                "names": ", ".join(available),
            }
        )
    return rows


def render_poll(gathering: Gathering) -> Any:
    """The poll page (also what /g/<id> shows while the gathering is polling)."""
    user = page_user()
    poll = slots.require_poll(gathering)
    context: dict[str, Any] = {
        "gathering": gathering,
        "poll": poll,
        "user": user,
        "is_organizer": user is not None and user.id == gathering.organizer_id,
        "is_open": gathering.status == GatheringStatus.POLLING
        and (poll.deadline is None or poll.deadline > utcnow()),
        "my_tz": user.timezone if user else gathering.timezone,
    }
    if user is not None:
        grid, ranking, names = _grid_and_ranking(gathering, user)
        context.update(
            grid=grid,
            ranking=ranking,
            best=_slot_rows(ranking, names, user.timezone),
            levels=_levels(grid),
        )
        if context["is_organizer"]:
            context["participation"] = availability.participation(db_session(), gathering)
    return render_template("poll.html", **context)


def _levels(grid: Grid) -> dict[int, int]:
    """A colour level 0..5 per cell index, by share of the busiest cell."""
    top = max((cell.count for cell in grid.cells.values()), default=0)
    if top == 0:
        return {}
    return {cell.index: -(-cell.count * 5 // top) for cell in grid.cells.values()}


@bp.get("/g/<int:gathering_id>/poll")
def show(gathering_id: int) -> Any:
    """The poll page, also after the poll closed (it then says when it was scheduled)."""
    gathering = lifecycle.get_gathering(db_session(), gathering_id)
    return render_poll(gathering)


@bp.post("/g/<int:gathering_id>/availability")
@login_required
def save_availability(gathering_id: int) -> Any:
    """Replace my availability with the painted cells (JSON answer for the painting script)."""
    session = db_session()
    gathering = lifecycle.get_gathering(session, gathering_id)
    poll = slots.require_poll(gathering)
    minutes = cell_minutes_for(poll.window_start, poll.window_end, poll.step_minutes)
    count = int((poll.window_end - poll.window_start).total_seconds() // (minutes * 60))
    intervals = availability_intervals(request.form, poll.window_start, minutes, count)
    wants_json = request.accept_mimetypes.best == "application/json"
    try:
        answer = availability.set_availability(
            session, gathering_id, require_user(), intervals, now=utcnow()
        )
        session.commit()
    except KindredError as exc:
        session.rollback()
        if wants_json:
            return jsonify({"message": exc.message}), exc.status
        flash(exc.message, "error")
        return redirect(url_for("gathering_pages.show", gathering_id=gathering_id))
    if wants_json:
        return jsonify({"revision": answer.revision, "intervals": len(answer.intervals)})
    flash("Your availability is saved.", "success")
    return redirect(url_for("gathering_pages.show", gathering_id=gathering_id) + "#best")


@bp.get("/g/<int:gathering_id>/slots.json")
@login_required
def slots_json(gathering_id: int) -> Response:
    """The ranking's progress, the best slots and the heatmap, for the page to refresh itself."""
    session = db_session()
    gathering = lifecycle.get_gathering(session, gathering_id)
    if gathering.poll is None:
        return jsonify({"message": "This gathering has no poll."}), 404  # type: ignore[return-value]
    user = require_user()
    grid, ranking, names = _grid_and_ranking(gathering, user)
    levels = _levels(grid)
    return jsonify(
        {
            "status": ranking.status,
            "gathering_status": gathering.status,
            "participants": grid.participants,
            "slots": _slot_rows(ranking, names, user.timezone),
            "cells": [
                {
                    "i": cell.index,
                    "count": cell.count,
                    "level": levels.get(cell.index, 0),
                    "names": list(cell.names),
                    "label": cell.label,
                }
                for cell in grid.cells.values()
            ],
            "csrf_token": csrf_token(),
        }
    )


@bp.post("/g/<int:gathering_id>/schedule")
@login_required
def schedule(gathering_id: int) -> Response:
    """Fix the gathering at the chosen slot (organizer only); invites go out."""
    session = db_session()
    state = FormState()
    args = load_with(ScheduleArgsSchema(), {"start": request.form.get("start", "")}, state)
    if args is None:
        flash(next(iter(state.errors.values())), "error")
        return redirect(url_for("gathering_pages.show", gathering_id=gathering_id))
    try:
        scheduling.schedule_poll(session, gathering_id, require_user(), args["start"], now=utcnow())
        session.commit()
    except KindredError as exc:
        session.rollback()
        if exc.status in (403, 404):
            raise
        flash(exc.message, "error")
    else:
        flash("Scheduled! Everyone who answered gets an invitation.", "success")
    return redirect(url_for("gathering_pages.show", gathering_id=gathering_id))
