"""Slot ranking: hand-worked examples, then a property test against a brute-force oracle."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain.slots import (
    HeatmapCell,
    Interval,
    PollWindow,
    RankedSlot,
    candidate_starts,
    heatmap_counts,
    rank_slots,
    rank_slots_with_heatmap,
    who_is_available,
)

IST = timezone(timedelta(hours=5, minutes=30))


def utc(hour: int, minute: int = 0, day: int = 2) -> datetime:
    """A UTC time on 2025-06-<day>."""
    return datetime(2025, 6, day, hour, minute, tzinfo=UTC)


def yes(start: datetime, end: datetime) -> Interval:
    return Interval(start, end, preferred=True)


def ifneedbe(start: datetime, end: datetime) -> Interval:
    return Interval(start, end, preferred=False)


def window(
    start: datetime, end: datetime, step: int = 30, duration: int = 60, min_attendees: int = 1
) -> PollWindow:
    return PollWindow(start, end, step, duration, min_attendees)


def summary(slots: list[RankedSlot[int]]) -> list[tuple[datetime, list[int], list[int]]]:
    return [(s.start, s.available, s.preferred) for s in slots]


# --- candidate generation ---------------------------------------------------------------


def test_candidates_step_from_window_start_while_the_duration_fits() -> None:
    starts = candidate_starts(utc(9), utc(11), timedelta(minutes=30), timedelta(minutes=60))
    assert starts == [utc(9), utc(9, 30), utc(10)]


def test_duration_equal_to_window_gives_exactly_one_candidate() -> None:
    assert candidate_starts(utc(9), utc(10), timedelta(minutes=15), timedelta(hours=1)) == [utc(9)]


def test_duration_longer_than_window_gives_no_candidates() -> None:
    assert candidate_starts(utc(9), utc(10), timedelta(minutes=15), timedelta(minutes=61)) == []
    w = window(utc(9), utc(10), step=15, duration=61)
    assert w.candidate_count == 0
    assert rank_slots(w, {1: [yes(utc(0), utc(23))]}) == []
    assert heatmap_counts(w, {1: [yes(utc(0), utc(23))]}) == []


def test_step_that_does_not_divide_the_window_stops_at_the_last_fit() -> None:
    starts = candidate_starts(utc(9), utc(10, 50), timedelta(minutes=45), timedelta(minutes=30))
    assert starts == [utc(9), utc(9, 45)]  # 10:30 + 30 min would end after 10:50


def test_candidates_are_in_utc_whatever_the_window_offset() -> None:
    starts = candidate_starts(
        datetime(2025, 6, 2, 14, 30, tzinfo=IST),
        datetime(2025, 6, 2, 16, 0, tzinfo=IST),
        timedelta(minutes=30),
        timedelta(minutes=60),
    )
    assert starts == [utc(9), utc(9, 30)]
    assert all(s.tzinfo is UTC for s in starts)


def test_window_across_a_dst_change_counts_real_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2025-03-30 02:00 CET jumps to 03:00 CEST: 00:00 to 06:00 local is 5 real hours.
    w = PollWindow(
        datetime(2025, 3, 30, 0, 0, tzinfo=berlin),
        datetime(2025, 3, 30, 6, 0, tzinfo=berlin),
        step_minutes=60,
        duration_minutes=60,
    )
    assert w.candidate_count == 5
    slots = rank_slots(w, {1: [yes(w.window_start, w.window_end)]})
    assert [s.start for s in slots] == [
        datetime(2025, 3, 29, 23, 0, tzinfo=UTC) + timedelta(hours=h) for h in range(5)
    ]


# --- coverage rules ---------------------------------------------------------------------


def test_touching_intervals_union_covers_a_slot_neither_covers_alone() -> None:
    w = window(utc(10), utc(12))
    slots = rank_slots(w, {1: [yes(utc(10), utc(11)), yes(utc(11), utc(12))]})
    assert summary(slots) == [
        (utc(10), [1], [1]),
        (utc(10, 30), [1], [1]),
        (utc(11), [1], [1]),
    ]


def test_gap_of_one_microsecond_breaks_the_union() -> None:
    w = window(utc(10), utc(12))
    gap = timedelta(microseconds=1)
    slots = rank_slots(w, {1: [yes(utc(10), utc(11)), yes(utc(11) + gap, utc(12))]})
    assert [s.start for s in slots] == [utc(10)]  # 11:00 starts 1 us before the second


def test_ifneedbe_makes_available_but_only_yes_makes_preferred() -> None:
    w = window(utc(10), utc(12))
    availability = {
        1: [yes(utc(10), utc(11)), ifneedbe(utc(11), utc(12))],
        2: [ifneedbe(utc(10), utc(12))],
    }
    slots = rank_slots(w, availability)
    assert summary(slots) == [
        (utc(10), [1, 2], [1]),  # 1's yes covers 10:00-11:00
        (utc(10, 30), [1, 2], []),  # needs 1's ifneedbe half: available, not preferred
        (utc(11), [1, 2], []),
    ]
    assert slots[0].available_count == 2
    assert slots[0].preferred_count == 1
    assert slots[0].end == utc(11)


def test_overlapping_yes_and_ifneedbe_union_separately() -> None:
    w = window(utc(10), utc(12), step=60)
    # The yes intervals alone cover 10-12 only together; ifneedbe overlaps them.
    availability = {
        1: [
            yes(utc(10), utc(10, 40)),
            ifneedbe(utc(10, 20), utc(11, 50)),
            yes(utc(10, 40), utc(12)),
        ]
    }
    assert summary(rank_slots(w, availability)) == [(utc(10), [1], [1]), (utc(11), [1], [1])]


def test_partial_cover_is_not_available() -> None:
    w = window(utc(10), utc(11), step=15, duration=60)
    assert rank_slots(w, {1: [yes(utc(10), utc(10, 59))]}) == []


def test_intervals_outside_the_window_are_ignored_and_straddling_ones_clipped() -> None:
    w = window(utc(10), utc(12), step=60)
    availability = {
        1: [yes(utc(7), utc(9)), yes(utc(13), utc(15))],
        2: [yes(utc(8), utc(11))],
        3: [],
    }
    assert summary(rank_slots(w, availability)) == [(utc(10), [2], [2])]


def test_min_attendees_drops_thin_slots() -> None:
    w = window(utc(10), utc(12), step=60, min_attendees=2)
    availability = {1: [yes(utc(10), utc(12))], 2: [yes(utc(11), utc(12))]}
    assert summary(rank_slots(w, availability)) == [(utc(11), [1, 2], [1, 2])]
    w3 = window(utc(10), utc(12), step=60, min_attendees=3)
    assert rank_slots(w3, availability) == []


def test_min_attendees_zero_keeps_empty_slots() -> None:
    w = window(utc(10), utc(12), step=60, min_attendees=0)
    assert summary(rank_slots(w, {})) == [(utc(10), [], []), (utc(11), [], [])]


def test_order_is_available_then_preferred_then_earlier_start() -> None:
    w = window(utc(9), utc(13), step=60)
    availability = {
        1: [yes(utc(9), utc(13))],
        2: [ifneedbe(utc(9), utc(10)), yes(utc(10), utc(11)), ifneedbe(utc(11), utc(13))],
        3: [yes(utc(12), utc(13))],
    }
    slots = rank_slots(w, availability)
    assert summary(slots) == [
        (utc(12), [1, 2, 3], [1, 3]),  # most available
        (utc(10), [1, 2], [1, 2]),  # then most preferred
        (utc(9), [1, 2], [1]),  # then earlier start
        (utc(11), [1, 2], [1]),
    ]


def test_limit_caps_the_list_and_keeps_the_best() -> None:
    w = window(utc(9), utc(13), step=60)
    availability = {1: [yes(utc(9), utc(13))], 2: [yes(utc(11), utc(12))]}
    full = rank_slots(w, availability)
    assert [s.start for s in full] == [utc(11), utc(9), utc(10), utc(12)]
    assert rank_slots(w, availability, limit=2) == full[:2]
    assert rank_slots(w, availability, limit=0) == []
    assert rank_slots(w, availability, limit=99) == full
    with pytest.raises(ValueError):
        rank_slots(w, availability, limit=-1)


def test_offsets_in_input_are_compared_in_real_time_and_output_is_utc() -> None:
    w = window(datetime(2025, 6, 2, 15, 30, tzinfo=IST), utc(12), step=60)  # 10:00 UTC
    availability = {
        7: [
            yes(datetime(2025, 6, 2, 15, 30, tzinfo=IST), datetime(2025, 6, 2, 16, 30, tzinfo=IST))
        ],
        3: [ifneedbe(datetime(2025, 6, 2, 6, 0, tzinfo=timezone(timedelta(hours=-4))), utc(11))],
        5: [yes(datetime(2025, 6, 2, 12, 0, tzinfo=ZoneInfo("Europe/Paris")), utc(12))],
    }
    slots = rank_slots(w, availability)
    assert summary(slots) == [(utc(10), [3, 5, 7], [5, 7]), (utc(11), [5], [5])]
    assert all(s.start.tzinfo is UTC and s.end.tzinfo is UTC for s in slots)


def test_repeated_fall_back_hour_is_compared_in_real_time() -> None:
    new_york = ZoneInfo("America/New_York")
    # 2025-11-02: 01:00-02:00 happens twice in New York (EDT = UTC-4, then EST = UTC-5).
    first_0120 = datetime(2025, 11, 2, 1, 20, tzinfo=new_york)  # 05:20 UTC
    first_0140 = datetime(2025, 11, 2, 1, 40, tzinfo=new_york)  # 05:40 UTC
    second_0105 = datetime(2025, 11, 2, 1, 5, tzinfo=new_york, fold=1)  # 06:05 UTC
    second_0130 = datetime(2025, 11, 2, 1, 30, tzinfo=new_york, fold=1)  # 06:30 UTC
    w = PollWindow(utc(5, day=2).replace(month=11), utc(7, day=2).replace(month=11), 10, 20)
    availability = {
        1: [
            yes(utc(5, day=2).replace(month=11), utc(5, 5, day=2).replace(month=11)),
            yes(first_0120, first_0140),
            yes(second_0105, second_0130),
        ]
    }
    # By wall clock the last two would overlap (01:05 < 01:40); in real time there is a gap.
    starts = [s.start for s in rank_slots(w, availability)]
    assert starts == [
        datetime(2025, 11, 2, 5, 20, tzinfo=UTC),
        datetime(2025, 11, 2, 6, 10, tzinfo=UTC),
    ]


def test_interval_keeps_fixed_offsets_and_stores_dst_zones_as_utc() -> None:
    start = datetime(2025, 6, 2, 15, 30, tzinfo=IST)
    paris = datetime(2025, 6, 2, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    iv = Interval(start, paris)
    assert iv.start.tzinfo is IST
    assert iv.end == paris
    assert iv.end.tzinfo is UTC
    with pytest.raises(ValueError):
        Interval(datetime(2025, 6, 2, 10), utc(11))


def test_sub_minute_boundaries_round_the_right_way() -> None:
    w = window(utc(10), utc(12), step=30)
    late = timedelta(microseconds=1)
    # Starting 1 us after 10:00 misses the 10:00 candidate; ending 1 us early misses 11:00.
    availability = {1: [yes(utc(10) + late, utc(12) - late)]}
    assert [s.start for s in rank_slots(w, availability)] == [utc(10, 30)]


def test_string_ids_are_sorted() -> None:
    w = window(utc(10), utc(11), step=60)
    availability = {"zoe": [yes(utc(10), utc(11))], "amir": [ifneedbe(utc(10), utc(11))]}
    [slot] = rank_slots(w, availability)
    assert (slot.available, slot.preferred) == (["amir", "zoe"], ["zoe"])


def test_heatmap_counts_every_candidate_and_who_is_available_names_them() -> None:
    w = window(utc(10), utc(12), step=30)
    availability = {
        1: [yes(utc(10), utc(11)), ifneedbe(utc(11), utc(12))],
        2: [yes(utc(11), utc(12))],
    }
    assert heatmap_counts(w, availability) == [
        HeatmapCell(utc(10), 1, 1),
        HeatmapCell(utc(10, 30), 1, 0),
        HeatmapCell(utc(11), 2, 1),
    ]
    assert who_is_available(w, availability, utc(11)) == ([1, 2], [2])
    assert who_is_available(w, availability, datetime(2025, 6, 2, 16, 0, tzinfo=IST)) == ([1], [])
    for not_a_candidate in (utc(10, 10), utc(11, 30), utc(9, 30)):
        with pytest.raises(ValueError):
            who_is_available(w, availability, not_a_candidate)


def test_poll_window_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        PollWindow(datetime(2025, 6, 2, 10), utc(12), 30, 60)  # naive
    with pytest.raises(ValueError):
        PollWindow(utc(10), utc(12), 0, 60)
    with pytest.raises(ValueError):
        PollWindow(utc(10), utc(12), 30, 0)
    with pytest.raises(ValueError):
        PollWindow(utc(10), utc(12), 30, 60, min_attendees=-1)
    with pytest.raises(TypeError):
        PollWindow(utc(10), utc(12), 7.5, 60)  # type: ignore[arg-type]


def test_many_slots_and_few_slots_name_the_same_people() -> None:
    # rank_slots names attendees one way for a short list and another for a long one.
    w = window(utc(0), utc(0, day=4), step=15, duration=45)
    availability = {
        pid: [
            Interval(
                utc(0) + timedelta(minutes=37 * pid + 90 * i),
                utc(0) + timedelta(minutes=37 * pid + 90 * i + 60 + 15 * (i % 4)),
                preferred=(pid + i) % 3 > 0,
            )
            for i in range(30)
        ]
        for pid in range(12)
    }
    full = rank_slots(w, availability)
    assert len(full) > 100
    for limit in (1, 3, 10):
        assert rank_slots(w, availability, limit=limit) == full[:limit]
    assert summary(full) == oracle(w, availability)
    for limit in (None, 0, 5, 100):
        assert rank_slots_with_heatmap(w, availability, limit) == (
            rank_slots(w, availability, limit),
            heatmap_counts(w, availability),
        )


# --- property test against a brute-force oracle -----------------------------------------


def _covered(intervals: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    """Does the union of ``intervals`` contain [start, end)? (Sweep in start order.)"""
    reach = start
    for a, b in sorted(intervals):
        if a <= reach < b:
            reach = b
    return reach >= end


def oracle(
    w: PollWindow, availability: Mapping[int, Iterable[Interval]], limit: int | None = None
) -> list[tuple[datetime, list[int], list[int]]]:
    """The rules of API.md, transcribed as directly as possible."""
    origin = w.window_start.astimezone(UTC)
    window_end = w.window_end.astimezone(UTC)
    step, duration = timedelta(minutes=w.step_minutes), timedelta(minutes=w.duration_minutes)
    rows = []
    k = 0
    while origin + k * step + duration <= window_end:
        start = origin + k * step
        end = start + duration
        available, preferred = [], []
        for pid in sorted(availability):
            spans = [
                (iv.start.astimezone(UTC), iv.end.astimezone(UTC), iv.preferred)
                for iv in availability[pid]
            ]
            if _covered([(a, b) for a, b, _ in spans], start, end):
                available.append(pid)
            if _covered([(a, b) for a, b, p in spans if p], start, end):
                preferred.append(pid)
        if len(available) >= w.min_attendees:
            rows.append((start, available, preferred))
        k += 1
    rows.sort(key=lambda row: (-len(row[1]), -len(row[2]), row[0]))
    return rows if limit is None else rows[:limit]


OFFSETS = [
    UTC,
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=-8)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-3, minutes=-30)),
    ZoneInfo("America/New_York"),
]
BASE = datetime(2025, 3, 8, 22, 0, tzinfo=UTC)  # near New York's DST change


@st.composite
def polls(draw: st.DrawFn) -> tuple[PollWindow, dict[int, list[Interval]], int | None]:
    step = draw(st.sampled_from([5, 10, 15, 30, 60]))
    duration = draw(st.integers(1, 240))
    start = BASE + timedelta(minutes=draw(st.integers(0, 600)))
    length = timedelta(minutes=draw(st.integers(0, 12 * 60)))
    w = PollWindow(
        start.astimezone(draw(st.sampled_from(OFFSETS))),
        (start + length).astimezone(draw(st.sampled_from(OFFSETS))),
        step,
        duration,
        draw(st.integers(0, 4)),
    )
    # Endpoints often on a quarter-hour grid (so intervals touch and candidates sit exactly
    # on edges), else to the minute, second or microsecond; some far outside the window.
    # Lengths include zero and, rarely, negative (such intervals cover nothing).
    offset = st.one_of(
        st.integers(-12, 60).map(lambda q: timedelta(minutes=15 * q)),
        st.integers(-180, 15 * 60).map(lambda m: timedelta(minutes=m)),
        st.integers(-180 * 60_000_000, 15 * 3600 * 1_000_000).map(
            lambda us: timedelta(microseconds=us)
        ),
    )
    length_of = st.one_of(
        st.integers(0, 16).map(lambda q: timedelta(minutes=15 * q)),
        st.integers(0, 300).map(lambda m: timedelta(minutes=m)),
        st.sampled_from([timedelta(minutes=-5), timedelta(microseconds=1), timedelta(days=3)]),
    )
    availability: dict[int, list[Interval]] = {}
    for pid in draw(st.sets(st.integers(1, 40), max_size=8)):
        tz = draw(st.sampled_from(OFFSETS))
        intervals = []
        b = start
        for _ in range(draw(st.integers(0, 6))):
            # Sometimes pick up exactly where the previous interval ended.
            a = b if intervals and draw(st.booleans()) else start + draw(offset)
            b = a + draw(length_of)
            # Each endpoint may carry its own offset, as if parsed separately.
            intervals.append(
                Interval(
                    a.astimezone(draw(st.sampled_from([tz, *OFFSETS]))),
                    b.astimezone(tz),
                    draw(st.booleans()),
                )
            )
        availability[pid] = intervals
    limit = draw(st.one_of(st.none(), st.integers(0, 12)))
    return w, availability, limit


@settings(max_examples=200, deadline=None)
@given(polls())
def test_rank_slots_matches_the_brute_force_oracle(
    poll: tuple[PollWindow, dict[int, list[Interval]], int | None],
) -> None:
    w, availability, limit = poll
    slots = rank_slots(w, availability, limit=limit)
    assert summary(slots) == oracle(w, availability, limit)
    for s in slots:
        assert s.end - s.start == timedelta(minutes=w.duration_minutes)
        assert s.start.tzinfo is UTC


@settings(max_examples=100, deadline=None)
@given(polls())
def test_heatmap_and_hover_match_the_oracle(
    poll: tuple[PollWindow, dict[int, list[Interval]], int | None],
) -> None:
    w, availability, _ = poll
    everything = PollWindow(w.window_start, w.window_end, w.step_minutes, w.duration_minutes, 0)
    expected = sorted(oracle(everything, availability))
    cells = heatmap_counts(w, availability)
    assert cells == [HeatmapCell(s, len(a), len(p)) for s, a, p in expected]
    for start, available, preferred in expected[:5]:
        assert who_is_available(w, availability, start) == (available, preferred)
