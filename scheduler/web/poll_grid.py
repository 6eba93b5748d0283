"""The availability grid of a poll page: days as columns, times of day as rows, a week a page.

Cells are fixed spans from the window start (the candidate step, at least 15 minutes). A page
shows the cells that start on DAYS_PER_PAGE local days from its first day, so a page costs
the same whether the window spans an evening or 90 days; `?start=YYYY-MM-DD` picks the page.
The page paints its cells and posts `c<index>` fields back together with the range of cells
it showed: painting replaces my availability inside that range and keeps the rest. The
heatmap counts, per cell, who can make the whole cell (services/polls/slots.heatmap_page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton

from scheduler.domain import language
from scheduler.domain.errors import InvalidInput
from scheduler.services.polls.slots import HeatmapPage

MIN_CELL_MINUTES = 15
DAYS_PER_PAGE = 7


def cell_minutes_for(step_minutes: int) -> int:
    """The painted cell size: the candidate step, at least 15 minutes."""
    return max(step_minutes, MIN_CELL_MINUTES)


def window_cell_count(window_start: datetime, window_end: datetime, cell_minutes: int) -> int:
    """How many whole cells the window holds."""
    return (window_end - window_start) // timedelta(minutes=cell_minutes)


def parse_start(text: str | None) -> date | None:
    """The `start` day of a poll page (YYYY-MM-DD; None when not given), or InvalidInput."""
    if text is None or text == "":
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("Give the first day to show as YYYY-MM-DD.", field="start") from exc


@dataclass(frozen=True)
class GridPage:
    """Which part of the grid one page shows: cells `cells` (indices from the window start),
    starting on local days `first_day` to `first_day + DAYS_PER_PAGE - 1`."""

    first_day: date
    cells: range
    cell_minutes: int
    window_first_day: date
    window_last_day: date
    previous_day: date | None
    next_day: date | None

    @property
    def last_day(self) -> date:
        """The last local day the page can show (the window may end sooner)."""
        return min(self.first_day + timedelta(days=DAYS_PER_PAGE - 1), self.window_last_day)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def grid_page(
    *,
    window_start: datetime,
    window_end: datetime,
    step_minutes: int,
    tz: ZoneInfo,
    start: date | None,
    today: date,
) -> GridPage:
    """The page of the grid from local day `start` (default: today while the window runs,
    else its first day); InvalidInput naming `start` for a day outside the window."""
    minutes = cell_minutes_for(step_minutes)
    step = timedelta(minutes=minutes)
    count = window_cell_count(window_start, window_end, minutes)
    first = window_start.astimezone(tz).date()
    last = (window_start + max(count - 1, 0) * step).astimezone(tz).date()
    if start is None:
        start = today if first <= today <= last else first
    elif not first <= start <= last:
        raise InvalidInput(
            "The poll runs from %(first)s to %(last)s; pick a day in between.",
            field="start",
            first=first.isoformat(),
            last=last.isoformat(),
        )

    def first_cell_at_or_after(moment: datetime) -> int:
        return min(max(-((window_start - moment) // step), 0), count)

    cells = range(
        first_cell_at_or_after(_local_midnight(start, tz)),
        first_cell_at_or_after(_local_midnight(start + timedelta(days=DAYS_PER_PAGE), tz)),
    )
    week = timedelta(days=DAYS_PER_PAGE)
    return GridPage(
        first_day=start,
        cells=cells,
        cell_minutes=minutes,
        window_first_day=first,
        window_last_day=last,
        previous_day=max(start - week, first) if start > first else None,
        next_day=start + week if start + week <= last else None,
    )


def some_of(names: Sequence[str], count: int, locale: str = language.DEFAULT_LOCALE) -> str:
    """ "Ann, Bob" or "Ann, Bob and 12 more": some names of `count` people, the rest counted."""
    text = ", ".join(names)
    left_out = count - len(names)
    if left_out > 0 and names:
        return language.translate_plural(
            locale, "%(names)s and %(num)s more", "%(names)s and %(num)s more", left_out, names=text
        )
    return text


class DayHeading(NamedTuple):
    """A column of the grid: 'Mon' over '1 Jun', and 'Monday 1 June' in full."""

    weekday: str
    date: str
    full: str


def day_heading(day: date, locale: str) -> DayHeading:
    """The column heading of a local day, as the viewer's language writes it."""
    cldr = "en_GB" if locale == language.DEFAULT_LOCALE else locale
    return DayHeading(
        format_date(day, "EEE", locale=cldr),
        format_skeleton("MMMd", day, locale=cldr),
        language.format_day(day, locale),
    )


class Cell(NamedTuple):
    """One paintable span."""

    index: int
    start: datetime
    end: datetime
    label: str  # "Thursday 4 June, 18:00-18:30", in the viewer's language
    mine: str  # "", "yes" or "ifneedbe"
    count: int
    preferred: int
    names: tuple[str, ...]  # some of those who can make it (see NAMED_PER_CELL), by name
    level: int  # heatmap colour 0..5, by share of the page's busiest cell
    who: str  # "Ann, Bob" or "Ann, Bob and 12 more"


@dataclass(frozen=True)
class Grid:
    """Columns (local dates) by rows (local times of day) of one page; a missing cell is
    outside the window. Headings and times are written in the viewer's language."""

    cell_minutes: int
    cell_count: int
    days: list[date]
    times: list[str]
    cells: dict[tuple[date, str], Cell]
    participants: int
    headings: list[DayHeading]
    clock: dict[str, str]  # "18:00" (a row's key) → the time of day as the language writes it

    @property
    def rows(self) -> list[tuple[str, list[Cell | None]]]:
        """(time of day, the cell of each day or None) for every row, for the templates."""
        return [
            (self.clock.get(t, t), [self.cells.get((day, t)) for day in self.days])
            for t in self.times
        ]


def build_grid(
    *,
    window_start: datetime,
    window_end: datetime,
    page: GridPage,
    tz: ZoneInfo,
    mine: Sequence[tuple[datetime, datetime, str]],
    heat: HeatmapPage,
    names: Mapping[int, str],
    locale: str = language.DEFAULT_LOCALE,
) -> Grid:
    """The page's cells in `tz`, with my marks and everyone's counts (and some names), labelled
    in `locale`."""
    step = timedelta(minutes=page.cell_minutes)
    cell_count = window_cell_count(window_start, window_end, page.cell_minutes)
    my_marks = _my_marks(window_start, step, page.cells, mine)
    cells: dict[tuple[date, str], Cell] = {}
    days: dict[date, str] = {}  # local date → "Thursday 4 June"
    clock: dict[tuple[int, int], str] = {}  # (18, 0) → the locale's "18:00" (starts and ends)

    def written(moment: datetime) -> str:
        key = (moment.hour, moment.minute)
        text = clock.get(key)
        if text is None:
            text = clock[key] = language.format_clock(moment, locale, tz)
        return text

    someone = language.translate(locale, "Someone")
    times: set[str] = set()
    top = max(heat.available, default=0) or 1
    start = window_start + page.cells.start * step
    local = start.astimezone(tz)
    for k in page.cells:
        end = start + step
        local_end = end.astimezone(tz)
        day = local.date()
        time_of_day = f"{local:%H:%M}"
        key = (day, time_of_day)
        if key not in cells:  # the repeated hour when clocks go back: keep the first
            day_label = days.get(day)
            if day_label is None:
                day_label = days[day] = language.format_day(day, locale)
            times.add(time_of_day)
            offset = k - heat.first_index
            who = sorted([names.get(uid, someone) for uid in heat.named[offset]], key=str.lower)
            count = heat.available[offset]
            cells[key] = Cell(
                k,
                start,
                end,
                f"{day_label}, {written(local)}\u2013{written(local_end)}",
                my_marks.get(k, ""),
                count,
                heat.preferred[offset],
                tuple(who),
                -(-count * 5 // top),
                some_of(who, count, locale),
            )
        start, local = end, local_end
    return Grid(
        page.cell_minutes,
        cell_count,
        sorted(days),
        sorted(times),
        cells,
        heat.participants,
        [day_heading(day, locale) for day in sorted(days)],
        clock,
    )


def _my_marks(
    origin: datetime,
    step: timedelta,
    shown: range,
    mine: Sequence[tuple[datetime, datetime, str]],
) -> dict[int, str]:
    """Which shown cells my stored intervals cover (yes wins over if-need-be where they overlap)."""
    marks: dict[int, str] = {}
    for start, end, preference in mine:
        # the first cell starting at or after `start`, and no earlier than the page
        k = max(shown.start, -((origin - start) // step))
        while k < shown.stop and origin + (k + 1) * step <= end:
            if marks.get(k) != "yes":
                marks[k] = preference
            k += 1
    return marks


def repainted(
    kept: Sequence[tuple[datetime, datetime, str]],
    painted: Sequence[Mapping[str, Any]],
    since: datetime,
    until: datetime,
) -> list[dict[str, Any]]:
    """My availability after painting [since, until): what I had outside it, plus the painted
    intervals inside it (adjacent spans of one preference joined, so as to stay few)."""
    spans: list[tuple[datetime, datetime, str]] = []
    for start, end, preference in kept:
        if start < since:
            spans.append((start, min(end, since), preference))
        if end > until:
            spans.append((max(start, until), end, preference))
    spans.extend(
        (max(p["start"], since), min(p["end"], until), p.get("preference", "yes"))
        for p in painted
        if p["start"] < until and p["end"] > since
    )
    joined: list[dict[str, Any]] = []
    for start, end, preference in sorted(spans):
        last = joined[-1] if joined else None
        if last and last["preference"] == preference and start <= last["end"]:
            last["end"] = max(last["end"], end)
        else:
            joined.append({"start": start, "end": end, "preference": preference})
    return joined
