"""Slot ranking: which candidate start times suit the most participants of a poll.

Pure Python (stdlib only). The rules are those of API.md, "Slot ranking":

- candidates are ``window_start + k * step`` with ``start + duration <= window_end``;
- a participant is *available* for a candidate when ``[start, start + duration)`` is covered
  by the union of all their intervals, *preferred* when covered by the union of their ``yes``
  intervals alone;
- candidates with fewer than ``min_attendees`` available are left out;
- order: more available, then more preferred, then earlier start; ``limit`` caps the list.

The engine never scans candidates per person. Each person's intervals are merged once; a
merged interval ``[a, b)`` covers exactly the candidate indices ``ceil(a / step)`` to
``floor((b - duration) / step)`` (offsets from ``window_start``), which a difference array
over candidate indices accumulates for everyone. Merged intervals of one person are disjoint
and ``duration > 0``, so their index ranges are disjoint too and nobody is counted twice.
Names are looked up only for the slots returned.

Datetimes must be timezone-aware; any offset or zone works and results are in UTC. It is
fastest when each participant's datetimes share one ``datetime.timezone`` object (e.g. all
``datetime.UTC``); an ``Interval`` stores endpoints in zones with DST as UTC instants.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate, chain, islice, repeat
from operator import attrgetter, sub
from typing import Generic, NamedTuple, TypeVar

__all__ = [
    "HeatmapCell",
    "Interval",
    "PollWindow",
    "RankedSlot",
    "candidate_starts",
    "heatmap_counts",
    "rank_slots",
    "rank_slots_with_heatmap",
    "who_is_available",
]

P = TypeVar("P", bound=Hashable)
"""A participant id: an int in the app; anything hashable and mutually sortable works."""

_ZERO = timedelta(0)
_MICROSECOND = timedelta(microseconds=1)
_start_of = attrgetter("start")
_end_of = attrgetter("end")
_preferred_of = attrgetter("preferred")


@dataclass(frozen=True, slots=True)
class Interval:
    """A span a participant can make: ``preferred`` is ``yes``, otherwise ``ifneedbe``."""

    start: datetime
    end: datetime
    preferred: bool = True

    def __post_init__(self) -> None:
        # Two datetimes sharing a tzinfo compare by wall clock, which is wrong across a DST
        # change; fixed offsets (datetime.timezone, incl. UTC) are safe and stay as given,
        # any other zone becomes the same instant in UTC.
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if type(value.tzinfo) is not timezone:
                if value.utcoffset() is None:
                    raise ValueError(f"Interval.{name} must be a timezone-aware datetime")
                object.__setattr__(self, name, value.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class PollWindow:
    """The poll's search space: window, candidate step and meeting length, all aware/minutes."""

    window_start: datetime
    window_end: datetime
    step_minutes: int
    duration_minutes: int
    min_attendees: int = 1

    def __post_init__(self) -> None:
        for name in ("window_start", "window_end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be a timezone-aware datetime")
        for name in ("step_minutes", "duration_minutes", "min_attendees"):
            if not isinstance(getattr(self, name), int):
                raise TypeError(f"{name} must be an int")
        if self.step_minutes <= 0:
            raise ValueError("step_minutes must be positive")
        if self.duration_minutes <= 0:
            raise ValueError("duration_minutes must be positive")
        if self.min_attendees < 0:
            raise ValueError("min_attendees must not be negative")

    @property
    def step(self) -> timedelta:
        """The distance between consecutive candidate starts."""
        return timedelta(minutes=self.step_minutes)

    @property
    def duration(self) -> timedelta:
        """The length of the gathering."""
        return timedelta(minutes=self.duration_minutes)

    @property
    def candidate_count(self) -> int:
        """How many candidate starts the window holds."""
        return _candidate_count(self.window_start, self.window_end, self.step, self.duration)


@dataclass(frozen=True, slots=True)
class RankedSlot(Generic[P]):
    """One candidate with who can make it; ``available`` and ``preferred`` are sorted ids."""

    start: datetime
    end: datetime
    available: list[P] = field(default_factory=list)
    preferred: list[P] = field(default_factory=list)

    @property
    def available_count(self) -> int:
        """How many participants can make this slot (yes or ifneedbe)."""
        return len(self.available)

    @property
    def preferred_count(self) -> int:
        """How many participants said yes to the whole slot."""
        return len(self.preferred)


class HeatmapCell(NamedTuple):
    """Counts for one candidate start, for the organizer's heatmap."""

    start: datetime
    available_count: int
    preferred_count: int


def _candidate_count(
    window_start: datetime, window_end: datetime, step: timedelta, duration: timedelta
) -> int:
    # Via UTC: two datetimes sharing a DST zone would subtract by wall clock.
    span = window_end.astimezone(UTC) - window_start.astimezone(UTC)
    if span < duration:
        return 0
    return (span - duration) // step + 1


def candidate_starts(
    window_start: datetime, window_end: datetime, step: timedelta, duration: timedelta
) -> list[datetime]:
    """Every ``window_start + k * step`` whose ``duration`` fits before ``window_end``, in UTC."""
    if step <= _ZERO or duration <= _ZERO:
        raise ValueError("step and duration must be positive")
    origin = window_start.astimezone(UTC)
    count = _candidate_count(window_start, window_end, step, duration)
    return [origin + k * step for k in range(count)]


@dataclass(slots=True)
class _Coverage(Generic[P]):
    """Scores per candidate, plus everyone's covered index ranges for naming attendees."""

    count: int
    # Each score is ``available * weight + preferred``; preferred <= people < weight, so
    # ordering by score is "more available, then more preferred".
    weight: int
    scores: list[int]
    # Participants (ids ascending) who can make at least one candidate. Their half-open
    # candidate index ranges [lo, hi) are stored flat: person i owns entries
    # avail_end[i - 1] .. avail_end[i] - 1 of avail_lo / avail_hi (likewise for yes).
    # Ranges are sorted and disjoint per person, and not clipped to the window.
    people: list[P]
    avail_lo: list[int]
    avail_hi: list[int]
    avail_end: list[int]
    yes_lo: list[int]
    yes_hi: list[int]
    yes_end: list[int]


def _coverage(window: PollWindow, availability: Mapping[P, Iterable[Interval]]) -> _Coverage[P]:
    """Merge everyone's intervals once and count coverage per candidate (difference array)."""
    step, duration = window.step, window.duration
    count = _candidate_count(window.window_start, window.window_end, step, duration)
    weight = len(availability) + 1
    coverage: _Coverage[P] = _Coverage(count, weight, [], [], [], [], [], [], [], [])
    if count == 0:
        return coverage
    people = coverage.people
    avail_lo, avail_hi, avail_end = coverage.avail_lo, coverage.avail_hi, coverage.avail_end
    yes_lo, yes_hi, yes_end = coverage.yes_lo, coverage.yes_hi, coverage.yes_end
    step_s = window.step_minutes * 60
    # A merged span [a, b) covers the candidates k with ceil((a - w0) / step) <= k and
    # k < floor((b - dur - w0) / step) + 1. Datetimes are whole microseconds, so that ceiling
    # is a floor measured from w0 - step + 1us, and the "+ 1" a floor measured from
    # w0 + dur - step. The step is whole seconds, so flooring a timedelta's whole seconds
    # (days * 86400 + seconds, microseconds dropped) is exact, and cheaper than td // td.
    origin = window.window_start.astimezone(UTC)
    utc_lo = origin - step + _MICROSECOND
    utc_hi = origin + duration - step
    lo_origin, hi_origin = utc_lo, utc_hi
    # Pass 1: each person's intervals sorted by start, flattened into one list so that the
    # costly datetime -> index conversion below runs as a few bulk operations.
    owners: list[P] = []
    bounds: list[int] = []
    flat: list[Interval] = []
    person_origins: list[tuple[datetime, datetime]] = []
    for pid in sorted(availability):  # type: ignore[type-var]
        ordered = sorted(availability[pid], key=_start_of)
        if not ordered:
            continue
        # Datetimes sharing one tzinfo object subtract without calling utcoffset(), which
        # is much faster; Interval keeps only fixed offsets, so measuring each person from
        # their first interval's offset is exact.
        tz = ordered[0].start.tzinfo
        if tz is not lo_origin.tzinfo:
            lo_origin, hi_origin = utc_lo.astimezone(tz), utc_hi.astimezone(tz)
        flat.extend(ordered)
        owners.append(pid)
        bounds.append(len(flat))
        person_origins.append((lo_origin, hi_origin))
    starts = list(map(_start_of, flat))
    ends = list(map(_end_of, flat))
    preferences = list(map(_preferred_of, flat))
    lo_origins: Iterable[datetime]
    hi_origins: Iterable[datetime]
    if all(o is person_origins[0][0] for o, _ in person_origins):
        lo_origins, hi_origins = repeat(lo_origin), repeat(hi_origin)
    else:
        sizes = [stop - begin for begin, stop in zip([0, *bounds], bounds, strict=False)]
        lo_origins = chain.from_iterable(map(repeat, [o for o, _ in person_origins], sizes))
        hi_origins = chain.from_iterable(map(repeat, [o for _, o in person_origins], sizes))
    if 86400 % step_s == 0:
        # The usual steps divide a day: floor the days and the seconds separately.
        per_day = 86400 // step_s
        los = [x.days * per_day + x.seconds // step_s for x in map(sub, starts, lo_origins)]
        his = [x.days * per_day + x.seconds // step_s for x in map(sub, ends, hi_origins)]
    else:
        los = [(x.days * 86400 + x.seconds) // step_s for x in map(sub, starts, lo_origins)]
        his = [(x.days * 86400 + x.seconds) // step_s for x in map(sub, ends, hi_origins)]

    # Pass 2: one loop per person merges both unions. A run takes its lo from its first
    # interval and its hi from the one reaching furthest. Empty or inverted intervals need
    # no special case: they never extend a run, and a run they start has lo >= hi.
    rows = zip(starts, ends, los, his, preferences, strict=True)
    begin = 0
    for pid, stop in zip(owners, bounds, strict=True):
        run_end = ends[begin]
        run_lo = los[begin]
        run_hi = his[begin]
        yes_run_end: datetime | None = None
        yes_run_lo = yes_run_hi = 0
        for start, end, lo, hi, yes in islice(rows, stop - begin):
            if start <= run_end:
                if end > run_end:
                    run_end = end
                    run_hi = hi
            else:
                if run_lo < run_hi:
                    avail_lo.append(run_lo)
                    avail_hi.append(run_hi)
                run_end = end
                run_lo = lo
                run_hi = hi
            if yes:
                if yes_run_end is None:
                    yes_run_end = end
                    yes_run_lo = lo
                    yes_run_hi = hi
                elif start <= yes_run_end:
                    if end > yes_run_end:
                        yes_run_end = end
                        yes_run_hi = hi
                else:
                    if yes_run_lo < yes_run_hi:
                        yes_lo.append(yes_run_lo)
                        yes_hi.append(yes_run_hi)
                    yes_run_end = end
                    yes_run_lo = lo
                    yes_run_hi = hi
        begin = stop
        if run_lo < run_hi:
            avail_lo.append(run_lo)
            avail_hi.append(run_hi)
        if yes_run_lo < yes_run_hi:
            yes_lo.append(yes_run_lo)
            yes_hi.append(yes_run_hi)
        # Yes coverage implies available coverage, so no available range means no ranges.
        if len(avail_lo) > (avail_end[-1] if avail_end else 0):
            people.append(pid)
            avail_end.append(len(avail_lo))
            yes_end.append(len(yes_lo))

    # The difference array, counted in C; indices outside [0, count) are clipped here.
    diff = [0] * count
    for marks, delta in (
        (avail_lo, weight),
        (avail_hi, -weight),
        (yes_lo, 1),
        (yes_hi, -1),
    ):
        for k, times in Counter(marks).items():
            if k < count:
                diff[k if k > 0 else 0] += delta * times
    coverage.scores = list(accumulate(diff))
    return coverage


def _attendees(chosen: list[int], coverage: _Coverage[P]) -> tuple[list[list[P]], list[list[P]]]:
    """Who is available / preferred for each chosen candidate index, ids ascending."""
    people = coverage.people
    avail_lo, avail_hi, avail_end = coverage.avail_lo, coverage.avail_hi, coverage.avail_end
    yes_lo, yes_hi, yes_end = coverage.yes_lo, coverage.yes_hi, coverage.yes_end
    if len(chosen) * len(people) > len(avail_lo) + len(yes_lo):
        return _attendees_by_range(chosen, coverage)
    # Few slots (the usual top 10): bisect each person's ranges for each slot; only those
    # available can be preferred, so only they are looked up again.
    available: list[list[int]] = [[] for _ in chosen]
    begin = 0
    for person, stop in enumerate(avail_end):
        for names, k in zip(available, chosen, strict=True):
            r = bisect_right(avail_lo, k, begin, stop) - 1
            if r >= begin and avail_hi[r] > k:
                names.append(person)
        begin = stop
    preferred: list[list[P]] = []
    for names, k in zip(available, chosen, strict=True):
        yes_names = []
        for person in names:
            begin = yes_end[person - 1] if person else 0
            r = bisect_right(yes_lo, k, begin, yes_end[person]) - 1
            if r >= begin and yes_hi[r] > k:
                yes_names.append(people[person])
        preferred.append(yes_names)
    return [[people[person] for person in names] for names in available], preferred


def _attendees_by_range(
    chosen: list[int], coverage: _Coverage[P]
) -> tuple[list[list[P]], list[list[P]]]:
    """Many slots: walk every range once, handing its person to the chosen slots inside it."""
    order = sorted(range(len(chosen)), key=chosen.__getitem__)
    sorted_ks = [chosen[i] for i in order]
    n = len(order)
    available: list[list[P]] = [[] for _ in chosen]
    preferred: list[list[P]] = [[] for _ in chosen]
    for lows, highs, ends, out in (
        (coverage.avail_lo, coverage.avail_hi, coverage.avail_end, available),
        (coverage.yes_lo, coverage.yes_hi, coverage.yes_end, preferred),
    ):
        begin = 0
        for pid, stop in zip(coverage.people, ends, strict=True):
            for r in range(begin, stop):
                hi = highs[r]
                i = bisect_left(sorted_ks, lows[r])
                while i < n and sorted_ks[i] < hi:
                    out[order[i]].append(pid)
                    i += 1
            begin = stop
    return available, preferred


def rank_slots(
    window: PollWindow,
    availability: Mapping[P, Iterable[Interval]],
    limit: int | None = None,
) -> list[RankedSlot[P]]:
    """Candidates with at least ``min_attendees`` available, best first (see module doc)."""
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative")
    if limit == 0:
        return []
    return _ranked(window, _coverage(window, availability), limit)


def heatmap_counts(
    window: PollWindow, availability: Mapping[P, Iterable[Interval]]
) -> list[HeatmapCell]:
    """(start, available_count, preferred_count) for every candidate, in start order."""
    return _heatmap(window, _coverage(window, availability))


def rank_slots_with_heatmap(
    window: PollWindow,
    availability: Mapping[P, Iterable[Interval]],
    limit: int | None = None,
) -> tuple[list[RankedSlot[P]], list[HeatmapCell]]:
    """``rank_slots`` and ``heatmap_counts`` together, merging everyone's intervals once."""
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative")
    coverage = _coverage(window, availability)
    ranked = _ranked(window, coverage, limit) if limit != 0 else []
    return ranked, _heatmap(window, coverage)


def _ranked(window: PollWindow, coverage: _Coverage[P], limit: int | None) -> list[RankedSlot[P]]:
    scores, count = coverage.scores, coverage.count
    threshold = window.min_attendees * coverage.weight
    eligible = [k for k, score in enumerate(scores) if score >= threshold]

    def rank_key(k: int) -> int:
        # (-score, k) packed into one int, since 0 <= k < count.
        return k - scores[k] * count

    if limit is not None and limit < len(eligible):
        chosen = heapq.nsmallest(limit, eligible, key=rank_key)
    else:
        chosen = sorted(eligible, key=rank_key)
    available, preferred = _attendees(chosen, coverage)
    origin = window.window_start.astimezone(UTC)
    step, duration = window.step, window.duration
    result: list[RankedSlot[P]] = []
    for k, avail, pref in zip(chosen, available, preferred, strict=True):
        start = origin + k * step
        result.append(RankedSlot(start, start + duration, avail, pref))
    return result


def _heatmap(window: PollWindow, coverage: _Coverage[P]) -> list[HeatmapCell]:
    weight = coverage.weight
    origin = window.window_start.astimezone(UTC)
    step = window.step
    return [
        HeatmapCell(origin + k * step, *divmod(score, weight))
        for k, score in enumerate(coverage.scores)
    ]


def who_is_available(
    window: PollWindow, availability: Mapping[P, Iterable[Interval]], start: datetime
) -> tuple[list[P], list[P]]:
    """(available, preferred) participant ids for one candidate start (heatmap hover)."""
    offset = start.astimezone(UTC) - window.window_start.astimezone(UTC)
    k, remainder = divmod(offset, window.step)
    if remainder or not 0 <= k < window.candidate_count:
        raise ValueError("start is not a candidate start of this window")
    (available,), (preferred,) = _attendees([k], _coverage(window, availability))
    return available, preferred
