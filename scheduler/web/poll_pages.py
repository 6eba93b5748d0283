"""Poll pages: paint availability, see everyone's heatmap and the best times, schedule one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import ARRAY, Integer, bindparam, func, select
from werkzeug.wrappers import Response

from scheduler.domain.access import GatheringAccess, shown_name
from scheduler.domain.errors import InvalidInput, KindredError
from scheduler.extensions import db_session
from scheduler.models import Gathering, GatheringStatus, User, utcnow
from scheduler.schemas.polls import ScheduleArgsSchema
from scheduler.services.calendars import busy
from scheduler.services.gatherings import access, lifecycle
from scheduler.services.gatherings.access import ANONYMOUS_NAME
from scheduler.services.polls import availability, scheduling, slots
from scheduler.web.auth import csrf_token, login_required, page_user, protect, require_user
from scheduler.web.display import iso_utc, number, time_range, tz_or_utc
from scheduler.web.forms import FormState, availability_intervals, committed, load_with
from scheduler.web.language import current_locale, error_text
from scheduler.web.poll_grid import (
    Grid,
    GridPage,
    build_grid,
    cell_minutes_for,
    grid_page,
    parse_start,
    repainted,
    some_of,
    window_cell_count,
)

bp = protect(Blueprint("poll_pages", __name__))

BEST_SLOTS = 5
# The options of a painted cell's <select> (the grid without JavaScript), by language and the
# cell's mark: written out once rather than hundreds of times per page, and kept per language
# so that a page never shows another language's words.
_PAINT_OPTIONS: dict[str, dict[str, Markup]] = {}


def paint_options(locale: str) -> dict[str, Markup]:
    """The <option>s of a painted cell by its mark, in the request's language `locale`."""
    options = _PAINT_OPTIONS.get(locale)
    if options is None:
        words = (("", "\u2013"), ("yes", _("yes")), ("ifneedbe", _("if need be")))
        options = _PAINT_OPTIONS[locale] = {
            mark: Markup(
                "".join(
                    f'<option value="{value}"{" selected" if value == mark else ""}>'
                    f"{escape(text)}</option>"
                    for value, text in words
                )
            )
            for mark in ("", "yes", "ifneedbe")
        }
    return options


def _names(
    session: Any, user_ids: set[int], viewer: User | None, rights: GatheringAccess
) -> dict[int, str]:
    """Display names: people who chose not to share theirs appear anonymously to others
    (its organizers see them)."""
    if not user_ids:
        return {}
    names: dict[int, str] = {}
    # one array parameter, not hundreds of bound values
    rows = session.execute(
        select(User.id, User.name, User.share_name).where(
            User.id == func.any(bindparam("user_ids", sorted(user_ids), type_=ARRAY(Integer)))
        )
    )
    anonymous = _(ANONYMOUS_NAME)
    for user_id, name, share_name in rows:
        names[user_id] = shown_name(
            name,
            shares_name=share_name,
            is_viewer=viewer is not None and viewer.id == user_id,
            viewer_manages=rights.manage,
            anonymous=anonymous,
        )
    return names


def _page(gathering: Gathering, viewer: User) -> GridPage:
    """The part of the grid this request shows (`?start=`), in the viewer's time zone."""
    poll = slots.require_poll(gathering)
    tz = tz_or_utc(viewer.timezone)
    return grid_page(
        window_start=poll.window_start,
        window_end=poll.window_end,
        step_minutes=poll.step_minutes,
        tz=tz,
        start=parse_start(request.args.get("start")),
        today=utcnow().astimezone(tz).date(),
    )


def _grid_and_ranking(
    gathering: Gathering, viewer: User, page: GridPage, rights: GatheringAccess
) -> tuple[Grid, slots.SlotsView, dict[int, str]]:
    session = db_session()
    poll = slots.require_poll(gathering)
    heat = slots.heatmap_page(session, gathering, cells=page.cells, cell_minutes=page.cell_minutes)
    ranking = slots.ranking_view(gathering, limit=BEST_SLOTS)
    ids = {uid for named in heat.named for uid in named}
    for slot in ranking.slots:
        ids.update(slot["available"][: slots.NAMED_PER_CELL])
    names = _names(session, ids, viewer, rights)
    mine = availability.get_availability(session, gathering, viewer)
    grid = build_grid(
        window_start=poll.window_start,
        window_end=poll.window_end,
        page=page,
        tz=tz_or_utc(viewer.timezone),
        mine=[(span.start, span.end, span.preference) for span in mine.intervals],
        heat=heat,
        names=names,
        locale=current_locale(),
    )
    return grid, ranking, names


def _busy_cells(gathering: Gathering, viewer: User, grid: Grid) -> set[int]:
    """The cells of the page that the viewer's own calendars say they are busy in."""
    intervals = busy.busy_for_poll(db_session(), gathering, viewer)
    if not intervals:
        return set()
    return {
        cell.index
        for cell in grid.cells.values()
        if any(start < cell.end and cell.start < end for start, end in intervals)
    }


def _some_names(user_ids: list[int], names: dict[int, str]) -> str:
    """ "Ann, Bob" or "Ann, Bob and 40 more": at most NAMED_PER_CELL names, as in the grid."""
    anonymous = _(ANONYMOUS_NAME)
    shown = [names.get(uid, anonymous) for uid in user_ids[: slots.NAMED_PER_CELL]]
    return some_of(sorted(shown, key=str.lower), len(user_ids), current_locale())


def _slot_rows(
    ranking: slots.SlotsView, names: dict[int, str], tz_name: str
) -> list[dict[str, Any]]:
    rows = []
    for slot in ranking.slots:
        rows.append(
            {
                "start": iso_utc(slot["start"]),
                "label": time_range(slot["start"], slot["end"], tz_name),
                "available_count": len(slot["available"]),
                "preferred_count": len(slot["preferred"]),
                "summary": _(
                    "%(available)s can come, %(preferred)s prefer it",
                    available=number(len(slot["available"])),
                    preferred=number(len(slot["preferred"])),
                ),
                "names": _some_names(slot["available"], names),
            }
        )
    return rows


def _page_links(gathering: Gathering, page: GridPage) -> dict[str, str | None]:
    """Where the previous and next pages of the grid are, and this page's refresh URL."""

    def poll_page(day: Any) -> str | None:
        if day is None:
            return None
        return url_for("poll_pages.show", gathering_id=gathering.id, start=day.isoformat())

    return {
        "previous_url": poll_page(page.previous_day),
        "next_url": poll_page(page.next_day),
        "slots_url": url_for(
            "poll_pages.slots_json", gathering_id=gathering.id, start=page.first_day.isoformat()
        ),
    }


def render_poll(gathering: Gathering) -> Any:
    """The poll page (also what /g/<id> shows while the gathering is polling): one week of
    the grid, from `?start=YYYY-MM-DD`."""
    user = page_user()
    rights = access.require_visible(db_session(), gathering, user)
    poll = slots.require_poll(gathering)
    context: dict[str, Any] = {
        "gathering": gathering,
        "poll": poll,
        "user": user,
        "rights": rights,
        "organizer_name": access.organizer_name(gathering, rights, user),
        "is_organizer": rights.manage,
        "is_open": gathering.status == GatheringStatus.POLLING
        and (poll.deadline is None or poll.deadline > utcnow()),
        "my_tz": user.timezone if user else gathering.timezone,
    }
    if user is not None and gathering.status == GatheringStatus.POLLING and rights.answer:
        page = _page(gathering, user)
        grid, ranking, names = _grid_and_ranking(gathering, user, page, rights)
        context.update(
            grid=grid,
            page=page,
            ranking=ranking,
            best=_slot_rows(ranking, names, user.timezone),
            paint_options=paint_options(current_locale()),
            busy_cells=_busy_cells(gathering, user, grid),
            has_calendars=bool(busy.calendars_of(db_session(), user)),
            **_page_links(gathering, page),
        )
        if context["is_organizer"]:
            context["participation"] = availability.participation(db_session(), gathering)
    return render_template("poll.html", **context)


@bp.get("/g/<int:gathering_id>/poll")
def show(gathering_id: int) -> Any:
    """The poll page, also after the poll closed (it then says when it was scheduled)."""
    gathering = lifecycle.get_gathering(db_session(), gathering_id)
    return render_poll(gathering)


@bp.post("/g/<int:gathering_id>/availability")
@login_required
def save_availability(gathering_id: int) -> Any:
    """Replace my availability with the painted cells (JSON answer for the painting script).

    A page shows part of the grid and says which (`first_cell`, `end_cell`: indices from the
    window start, end exclusive): only that part is replaced. Without them, the whole window.
    """
    session = db_session()
    gathering = lifecycle.get_gathering(session, gathering_id)
    user = require_user()
    access.require_visible(session, gathering, user)  # members-only polls: 404 to outsiders
    poll = slots.require_poll(gathering)
    minutes = cell_minutes_for(poll.step_minutes)
    count = window_cell_count(poll.window_start, poll.window_end, minutes)
    shown = _shown_cells(request.form, count)
    painted = availability_intervals(request.form, poll.window_start, minutes, count)
    cell = timedelta(minutes=minutes)
    since, until = poll.window_start + shown.start * cell, poll.window_start + shown.stop * cell
    kept = availability.get_availability(session, gathering, user).intervals
    intervals = repainted(
        [(span.start, span.end, span.preference) for span in kept], painted, since, until
    )
    wants_json = request.accept_mimetypes.best == "application/json"
    # back to the week that was painted
    back = url_for(
        "gathering_pages.show", gathering_id=gathering_id, start=request.args.get("start") or None
    )
    try:
        answer = availability.set_availability(session, gathering_id, user, intervals, now=utcnow())
        session.commit()
    except KindredError as exc:
        session.rollback()
        if wants_json:
            return jsonify({"message": error_text(exc)}), exc.status
        flash(error_text(exc), "error")
        return redirect(back)
    if wants_json:
        return jsonify({"revision": answer.revision, "intervals": len(answer.intervals)})
    flash(_("Your availability is saved."), "success")
    return redirect(back + "#best")


@bp.get("/g/<int:gathering_id>/slots.json")
@login_required
def slots_json(gathering_id: int) -> Response:
    """The ranking's progress, the best slots and the heatmap, for the page to refresh itself."""
    session = db_session()
    gathering = lifecycle.get_gathering(session, gathering_id)
    if gathering.poll is None:
        return jsonify({"message": _("This gathering has no poll.")}), 404  # type: ignore[return-value]
    user = require_user()
    rights = access.require_visible(session, gathering, user)
    if not rights.see_availability:
        message = _(
            "Who is available when is shown to the group's members (or, outside a group, to people who answered)."
        )
        return jsonify({"message": message}), 403  # type: ignore[return-value]
    page = _page(gathering, user)
    grid, ranking, names = _grid_and_ranking(gathering, user, page, rights)
    return jsonify(
        {
            "status": ranking.status,
            "gathering_status": gathering.status,
            "participants": grid.participants,
            "start": page.first_day.isoformat(),
            "slots": _slot_rows(ranking, names, user.timezone),
            # this page's cells only; the page has their labels already
            "cells": [
                {
                    "i": cell.index,
                    "count": cell.count,
                    "level": cell.level,
                    "names": cell.who,
                }
                for cell in grid.cells.values()
            ],
            "csrf_token": csrf_token(),
        }
    )


def _shown_cells(form: Any, count: int) -> range:
    """The cells the posting page showed (`first_cell`, `end_cell`), the whole window if not
    said; InvalidInput naming the field for numbers that are not a range of the window's."""
    bounds = []
    for field, default in (("first_cell", 0), ("end_cell", count)):
        text = form.get(field, "")
        if text == "":
            bounds.append(default)
            continue
        if not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise InvalidInput("Must be a cell number of this poll's grid.", field=field)
        bounds.append(int(text))
    first, end = bounds
    if not 0 <= first <= end <= count:
        raise InvalidInput("The grid has cells 0 to %(last)s.", field="end_cell", last=count - 1)
    return range(first, end)


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
    if committed(
        lambda: scheduling.schedule_poll(
            session, gathering_id, require_user(), args["start"], now=utcnow()
        ),
        error_pages=(403, 404),
    ):
        flash(_("Scheduled! Everyone who answered gets an invitation."), "success")
    return redirect(url_for("gathering_pages.show", gathering_id=gathering_id))
