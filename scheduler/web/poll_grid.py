"""The weekly-style availability grid of a poll page: days as columns, times of day as rows.

Cells are fixed spans from the window start (the candidate step, at least 15 minutes, coarser
for very long windows); the page paints them and posts `c<index>` fields back. The heatmap
counts, per cell, who can make the whole cell, using the same domain coverage engine the
ranking uses (with the cell as the "duration").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.domain.slots import Interval, PollWindow, heatmap_counts

MIN_CELL_MINUTES = 15
MAX_CELLS = 2000
# above this many participants the hover text names nobody (counts only), to stay fast
MAX_NAMED_PARTICIPANTS = 200


def cell_minutes_for(window_start: datetime, window_end: datetime, step_minutes: int) -> int:
    """The painted cell size: the step, at least 15 minutes, coarser until the grid is small."""
    minutes = max(step_minutes, MIN_CELL_MINUTES)
    span = (window_end - window_start).total_seconds() / 60
    while span / minutes > MAX_CELLS:
        minutes *= 2
    return minutes


@dataclass(frozen=True)
class Cell:
    """One paintable span."""

    index: int
    start: datetime
    end: datetime
    label: str  # "Thursday 4 June, 18:00-18:30"
    mine: str  # "", "yes" or "ifneedbe"
    count: int
    preferred: int
    names: tuple[str, ...]


@dataclass(frozen=True)
class Grid:
    """Columns (local dates) by rows (local times of day); a missing cell is outside the window."""

    cell_minutes: int
    cell_count: int
    days: list[date]
    times: list[str]
    cells: dict[tuple[date, str], Cell]
    participants: int

    def cell(self, day: date, time_of_day: str) -> Cell | None:
        """The cell at that day and time, if the window has one."""
        return self.cells.get((day, time_of_day))


def _covered(
    window: PollWindow, intervals: Mapping[int, Sequence[Interval]]
) -> list[tuple[int, int]]:
    return [
        (cell.available_count, cell.preferred_count) for cell in heatmap_counts(window, intervals)
    ]


def build_grid(
    *,
    window_start: datetime,
    window_end: datetime,
    step_minutes: int,
    tz: ZoneInfo,
    mine: Sequence[tuple[datetime, datetime, str]],
    everyone: Mapping[int, Sequence[Interval]],
    names: Mapping[int, str],
) -> Grid:
    """The grid in `tz`, with my marks and everyone's counts (and names) per cell."""
    minutes = cell_minutes_for(window_start, window_end, step_minutes)
    step = timedelta(minutes=minutes)
    window = PollWindow(window_start, window_end, minutes, minutes, 0)
    count = window.candidate_count
    totals = _covered(window, everyone) if everyone else [(0, 0)] * count
    who: list[list[str]] = [[] for _ in range(count)]
    if 0 < len(everyone) <= MAX_NAMED_PARTICIPANTS:
        for user_id in sorted(everyone, key=lambda uid: names.get(uid, "").lower()):
            for k, (available, _) in enumerate(_covered(window, {user_id: everyone[user_id]})):
                if available:
                    who[k].append(names.get(user_id, "Someone"))
    my_marks = _my_marks(window_start, step, count, mine)
    cells: dict[tuple[date, str], Cell] = {}
    days: set[date] = set()
    times: set[str] = set()
    for k in range(count):
        start = window_start + k * step
        local = start.astimezone(tz)
        local_end = (start + step).astimezone(tz)
        key = (local.date(), f"{local:%H:%M}")
        if key in cells:  # the repeated hour when clocks go back: keep the first
            continue
        days.add(key[0])
        times.add(key[1])
        label = f"{local:%A} {local.day} {local:%B}, {local:%H:%M}\u2013{local_end:%H:%M}"
        cells[key] = Cell(
            k, start, start + step, label, my_marks.get(k, ""), *totals[k], tuple(who[k])
        )
    return Grid(minutes, count, sorted(days), sorted(times), cells, len(everyone))


def _my_marks(
    origin: datetime, step: timedelta, count: int, mine: Sequence[tuple[datetime, datetime, str]]
) -> dict[int, str]:
    """Which cells my stored intervals cover (yes wins over if-need-be where they overlap)."""
    marks: dict[int, str] = {}
    for start, end, preference in mine:
        first = max(0, -((origin - start) // step))  # first cell starting at or after `start`
        k = first
        while k < count and origin + (k + 1) * step <= end:
            if marks.get(k) != "yes":
                marks[k] = preference
            k += 1
    return marks
