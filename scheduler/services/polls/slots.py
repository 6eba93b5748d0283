"""Slot rankings of polls: load the answers, run the engine, keep the result on the poll.

Recomputation is event-driven and coalesced. An answer bumps `poll.availability_revision` and,
after its commit, asks for a recompute: a Redis flag (SET NX with a TTL) lets only the first
ask of a burst enqueue a job. The job clears the flag *before* it reads the revision, so an
answer committed after that read raises the flag again and gets its own job, while answers
committed before it are already in what the job reads. The stored result records the
revision it reflects; a result is only ever replaced by one of a later revision.

Poll pages show one page (a week) of the grid at a time. Its heatmap (who can make each
cell) is computed from the answers overlapping that page only, and kept in Redis under the
poll's availability revision: every viewer of the same page and revision shares one
computation, and the next answer simply makes the old entries unused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from scheduler.domain.errors import InvalidInput, NotFound
from scheduler.domain.slots import (
    Interval,
    PollWindow,
    heatmap_counts,
    rank_slots,
    who_is_available,
)
from scheduler.extensions import Services, after_commit
from scheduler.models import Gathering, GatheringStatus, Poll
from scheduler.queues import SLOTS

log = logging.getLogger(__name__)

RECOMPUTE_JOB = "workers.slots.recompute_slots"
# Longer than a queued job normally waits; if an enqueue is lost, the sweep retries after this.
FLAG_TTL_SECONDS = 30
# The most `GET .../slots?limit=` can ask for: the stored ranking keeps this many.
STORED_SLOTS = 100
# Who can make a heatmap cell is named up to this many people (the rest are counted): a
# hover text of 300 names helps nobody, and it would make a big poll's page megabytes.
NAMED_PER_CELL = 10
# A page's heatmap is kept this long; a new answer makes it unused before that anyway.
HEATMAP_TTL_SECONDS = 600
# The API's heatmap answers a week of candidates at a time, like the poll pages: the whole
# 90-day window at 15-minute steps was 8,640 cells, 636 kB and ~70 ms of CPU per request.
HEATMAP_PAGE = timedelta(days=7)


def recompute_flag_key(gathering_id: int) -> str:
    """The Redis key that says "a recompute for this gathering is queued"."""
    return f"kindred:slots:queued:{gathering_id}"


def request_recompute(services: Services, gathering_id: int) -> bool:
    """Enqueue a recompute unless one is already queued; True when this call enqueued it."""
    return services.enqueue_once(
        RECOMPUTE_JOB,
        gathering_id,
        queue=SLOTS,
        flag=recompute_flag_key(gathering_id),
        ttl_seconds=FLAG_TTL_SECONDS,
    )


def request_recompute_after_commit(session: Session, gathering_id: int) -> None:
    """Ask for a recompute once the answer is committed (the worker must see it)."""
    services: Services = session.info["services"]
    after_commit(session, lambda: request_recompute(services, gathering_id))


def clear_recompute_flag(services: Services, gathering_id: int) -> None:
    """A recompute job has started: later answers must enqueue a new one."""
    services.clear_flag(recompute_flag_key(gathering_id))


def poll_window(
    gathering: Gathering, poll: Poll, *, first_start: datetime | None = None
) -> PollWindow:
    """The engine's view of a poll; `first_start` drops candidates before it (grid kept)."""
    window_start = poll.window_start
    if first_start is not None and first_start > window_start:
        step = timedelta(minutes=poll.step_minutes)
        skipped = -((window_start - first_start) // step)  # ceil: the first candidate >= it
        window_start = window_start + skipped * step
    return PollWindow(
        window_start=window_start,
        window_end=max(poll.window_end, window_start),
        step_minutes=poll.step_minutes,
        duration_minutes=gathering.duration_minutes,
        min_attendees=poll.min_attendees,
    )


_INTERVALS_SQL = text(
    "SELECT user_id, starts_at, ends_at, preferred FROM availability_intervals"
    " WHERE gathering_id = :gathering_id"
)
_INTERVALS_OVERLAPPING_SQL = text(
    "SELECT user_id, starts_at, ends_at, preferred FROM availability_intervals"
    " WHERE gathering_id = :gathering_id AND starts_at < :until AND ends_at > :since"
)
_PARTICIPANTS_SQL = text(
    "SELECT count(DISTINCT user_id) FROM availability_intervals WHERE gathering_id = :gathering_id"
)


def _utc(value: datetime) -> datetime:
    """A driver datetime as aware UTC (sessions run in UTC, so usually already)."""
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def load_availability(
    session: Session, gathering_id: int, *, overlapping: tuple[datetime, datetime] | None = None
) -> dict[int, list[Interval]]:
    """Everyone's intervals for the poll (only those overlapping [since, until) if given), in
    one query.

    Plain SQL, fetched at once: going around the ORM's and the cursor's per-row work makes
    loading thousands of answers fast.
    """
    availability: dict[int, list[Interval]] = {}
    if overlapping is None:
        rows = session.execute(_INTERVALS_SQL, {"gathering_id": gathering_id}).all()
    else:
        since, until = overlapping
        rows = session.execute(
            _INTERVALS_OVERLAPPING_SQL,
            {"gathering_id": gathering_id, "since": since, "until": until},
        ).all()
    for user_id, starts_at, ends_at, preferred in rows:
        interval = Interval(_utc(starts_at), _utc(ends_at), bool(preferred))
        availability.setdefault(user_id, []).append(interval)
    return availability


def candidate_index(poll: Poll, duration_minutes: int, start: datetime) -> int:
    """The index of `start` among the poll's candidates, or InvalidInput naming `start`."""
    step = timedelta(minutes=poll.step_minutes)
    k, remainder = divmod(start - poll.window_start, step)
    # compared as window_end - duration: start + duration could overflow for year 9999
    if remainder or k < 0 or start > poll.window_end - timedelta(minutes=duration_minutes):
        raise InvalidInput(
            "Not a candidate start: candidates are every %(count)s minutes from "
            "window_start, and the gathering must end by window_end.",
            count=poll.step_minutes,
            field="start",
        )
    return int(k)


@dataclass(frozen=True)
class PollSnapshot:
    """What a recompute works from: the answers as of at least `revision`."""

    gathering_id: int
    revision: int
    window: PollWindow
    availability: dict[int, list[Interval]]


def take_snapshot(session: Session, gathering_id: int) -> PollSnapshot | None:
    """The poll's answers, or None when the stored result is already up to date."""
    gathering = session.get(Gathering, gathering_id)
    if gathering is None or gathering.poll is None:
        return None
    poll = gathering.poll
    # The revision is read before the intervals: they reflect at least this revision.
    revision = poll.availability_revision
    if poll.computed_revision >= revision:
        return None
    return PollSnapshot(
        gathering_id,
        revision,
        poll_window(gathering, poll),
        load_availability(session, gathering_id),
    )


def _utc_text(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def rank_snapshot(snapshot: PollSnapshot) -> dict[str, Any]:
    """The stored form of a ranking: the top slots with names, and counts for every candidate."""
    top = rank_slots(snapshot.window, snapshot.availability, limit=STORED_SLOTS)
    cells = heatmap_counts(snapshot.window, snapshot.availability)
    return {
        "revision": snapshot.revision,
        "participants": len(snapshot.availability),
        "slots": [
            {
                "start": _utc_text(slot.start),
                "end": _utc_text(slot.end),
                "available": slot.available,
                "preferred": slot.preferred,
            }
            for slot in top
        ],
        "available_counts": [cell.available_count for cell in cells],
        "preferred_counts": [cell.preferred_count for cell in cells],
    }


def store_result(
    session: Session, gathering_id: int, revision: int, result: dict[str, Any], *, now: datetime
) -> Poll | None:
    """Keep `result` unless a result of the same or a later revision is already stored."""
    poll = session.scalars(
        select(Poll)
        .where(Poll.gathering_id == gathering_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if poll is None:
        return None
    if revision > poll.computed_revision:
        poll.result = result
        poll.computed_revision = revision
        poll.computed_at = now
        session.flush()
    return poll


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class SlotsView:
    """What `GET .../slots` shows: progress, the ranking and (for organizers) the heatmap."""

    status: str
    revision: int
    computed_revision: int
    computed_at: datetime | None
    participants: int
    slots: list[dict[str, Any]]
    candidates: list[dict[str, Any]] | None = None
    next_since: datetime | None = None


def _progress(poll: Poll) -> tuple[str, int]:
    # Revision 0 means nobody has answered: the (empty) ranking is trivially up to date.
    computed = max(poll.computed_revision, 0)
    return ("ready" if computed >= poll.availability_revision else "pending"), computed


def require_poll(gathering: Gathering) -> Poll:
    """The gathering's poll, or NotFound for a fixed-time gathering."""
    if gathering.poll is None:
        raise NotFound(
            "Gathering %(id)s has no poll (it was created with a fixed time).", id=gathering.id
        )
    return gathering.poll


def ranking_view(gathering: Gathering, *, limit: int) -> SlotsView:
    """The stored ranking, best first; `pending` while answers are not reflected yet."""
    poll = require_poll(gathering)
    status, computed = _progress(poll)
    result = poll.result or {}
    slots = [
        {
            "start": _parse(slot["start"]),
            "end": _parse(slot["end"]),
            "available": slot["available"],
            "preferred": slot["preferred"],
        }
        for slot in result.get("slots", [])[:limit]
    ]
    return SlotsView(
        status,
        poll.availability_revision,
        computed,
        poll.computed_at,
        result.get("participants", 0),
        slots,
    )


def heatmap_view(
    gathering: Gathering, *, since: datetime | None = None, page: timedelta = HEATMAP_PAGE
) -> SlotsView:
    """Counts for the candidate starts of one page (`page` long from `since`, by default the
    window start), from the stored result, for the organizer's heatmap; `next_since` starts
    the next page."""
    poll = require_poll(gathering)
    view = ranking_view(gathering, limit=0)
    result = poll.result or {}
    available = result.get("available_counts", [])
    preferred = result.get("preferred_counts", [])
    step = timedelta(minutes=poll.step_minutes)
    first = 0
    if since is not None:
        if not poll.window_start <= since <= poll.window_end:
            raise InvalidInput("Give a time within the poll's window.", field="since")
        first = -((poll.window_start - since) // step)  # ceil: the first candidate >= since
    stop = min(first + page // step, len(available))
    candidates = [
        {
            "start": poll.window_start + k * step,
            "available_count": available[k],
            "preferred_count": preferred[k],
        }
        for k in range(first, stop)
    ]
    return SlotsView(
        view.status,
        view.revision,
        view.computed_revision,
        view.computed_at,
        view.participants,
        [],
        candidates,
        next_since=poll.window_start + stop * step if stop < len(available) else None,
    )


def candidate_view(session: Session, gathering: Gathering, start: datetime) -> SlotsView:
    """Who can make one candidate start, computed now from the current answers."""
    poll = require_poll(gathering)
    candidate_index(poll, gathering.duration_minutes, start)
    revision = poll.availability_revision
    availability = load_availability(session, gathering.id)
    available, preferred = who_is_available(poll_window(gathering, poll), availability, start)
    duration = timedelta(minutes=gathering.duration_minutes)
    slot = {"start": start, "end": start + duration, "available": available, "preferred": preferred}
    return SlotsView("ready", revision, revision, None, len(availability), [slot])


@dataclass(frozen=True)
class HeatmapPage:
    """Who can make each cell of one page of a poll's grid, as of `revision`.

    Cells are `cell_minutes` long from the window start; this page holds cells
    `first_index` up to (not including) `first_index + len(available)`. `named` lists, per
    cell, the ids (ascending) of at most NAMED_PER_CELL of the people who can make it.
    """

    revision: int
    participants: int
    first_index: int
    available: list[int]
    preferred: list[int]
    named: list[list[int]]


def heatmap_key(poll: Poll, cells: range, cell_minutes: int) -> str:
    """The Redis key of a page's heatmap at the poll's availability revision (and window, so
    that cell indices always mean the same times)."""
    origin = int(poll.window_start.timestamp())
    return (
        f"kindred:pollgrid:{poll.gathering_id}:{poll.availability_revision}:{origin}:"
        f"{cells.start}:{cells.stop}:{cell_minutes}"
    )


def heatmap_page(
    session: Session, gathering: Gathering, *, cells: range, cell_minutes: int
) -> HeatmapPage:
    """The heatmap of cells `cells` (indices from the window start): from Redis when this
    revision's is there, else computed from the answers overlapping the page (and kept)."""
    poll = require_poll(gathering)
    # read before the answers: what is computed reflects at least this revision
    revision = poll.availability_revision
    key = heatmap_key(poll, cells, cell_minutes)
    cache: redis.Redis | None = session.info["services"].redis
    try:
        cached = cache.get(key) if cache is not None else None
    except redis.RedisError:
        log.warning("poll heatmap cache unavailable", exc_info=True)
        cache = cached = None
    if cached is not None:
        return HeatmapPage(revision=revision, first_index=cells.start, **json.loads(cached))
    page = _compute_heatmap_page(session, gathering, revision, cells, cell_minutes)
    if cache is not None:
        value = {
            "participants": page.participants,
            "available": page.available,
            "preferred": page.preferred,
            "named": page.named,
        }
        try:
            cache.set(key, json.dumps(value, separators=(",", ":")), ex=HEATMAP_TTL_SECONDS)
        except redis.RedisError:
            log.warning("could not keep a poll heatmap", exc_info=True)
    return page


def _compute_heatmap_page(
    session: Session, gathering: Gathering, revision: int, cells: range, cell_minutes: int
) -> HeatmapPage:
    poll = require_poll(gathering)
    cell = timedelta(minutes=cell_minutes)
    since = poll.window_start + cells.start * cell
    until = poll.window_start + cells.stop * cell
    participants = session.scalar(_PARTICIPANTS_SQL, {"gathering_id": gathering.id}) or 0
    available = [0] * len(cells)
    preferred = [0] * len(cells)
    named: list[list[int]] = [[] for _ in cells]
    if cells:
        # Each cell is a candidate as long as itself: the ranking engine's coverage rule,
        # with min_attendees 0 so that every cell comes back with who can make it.
        window = PollWindow(since, until, cell_minutes, cell_minutes, 0)
        answers = load_availability(session, gathering.id, overlapping=(since, until))
        for slot in rank_slots(window, answers):
            k = (slot.start - since) // cell
            available[k] = len(slot.available)
            preferred[k] = len(slot.preferred)
            named[k] = slot.available[:NAMED_PER_CELL]
    return HeatmapPage(revision, participants, cells.start, available, preferred, named)


def stale_polls(session: Session) -> list[int]:
    """Gatherings whose stored ranking lags behind their answers."""
    return list(
        session.scalars(
            select(Poll.gathering_id)
            .join(Gathering, Gathering.id == Poll.gathering_id)
            .where(
                Poll.computed_revision < Poll.availability_revision,
                Gathering.status == GatheringStatus.POLLING,
            )
        )
    )
