"""Recommendation scoring with hand-built cases whose right order is obvious."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from scheduler.domain.interests import apply_aliases
from scheduler.domain.recommend import (
    Candidate,
    UsualSlot,
    interest_weights,
    iso_week,
    proposed_window,
    quiet_period,
    rank,
    usual_slot,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SOON = NOW + timedelta(days=3)
# 1,000 things carry tags; "coding" is everywhere, "radio astronomy" almost nowhere
WEIGHTS = interest_weights({"coding": 400, "radio astronomy": 3, "hiking": 60}, 1000)


def order(candidates: list[Candidate]) -> list[int]:
    return [s.candidate.id for s in rank(candidates, WEIGHTS, now=NOW)]


def test_rare_shared_interest_beats_common_one():
    common = Candidate(id=1, shared_interests=["coding"], starts_at=SOON)
    rare = Candidate(id=2, shared_interests=["radio astronomy"], starts_at=SOON)
    assert order([common, rare]) == [2, 1]


def test_one_rare_interest_beats_two_common_ones():
    two_common = Candidate(id=1, shared_interests=["coding", "hiking"], starts_at=SOON)
    rare = Candidate(id=2, shared_interests=["radio astronomy"], starts_at=SOON)
    assert order([two_common, rare]) == [2, 1]


def test_people_i_met_going_boost_an_otherwise_equal_gathering():
    strangers = Candidate(id=1, shared_interests=["hiking"], starts_at=SOON)
    friends = Candidate(id=2, shared_interests=["hiking"], met_count=3, starts_at=SOON)
    ranked = rank([strangers, friends], WEIGHTS, now=NOW)
    assert [s.candidate.id for s in ranked] == [2, 1]
    assert "3 people you've met are going" in ranked[0].reasons


def test_full_with_long_waitlist_sinks_below_a_weak_open_match():
    full = Candidate(
        id=1,
        shared_interests=["radio astronomy", "hiking"],
        capacity=10,
        going_count=10,
        waitlist_length=12,
        starts_at=SOON,
    )
    open_ = Candidate(id=2, shared_interests=["coding"], capacity=10, going_count=2, starts_at=SOON)
    ranked = rank([full, open_], WEIGHTS, now=NOW)
    assert [s.candidate.id for s in ranked] == [2, 1]
    assert "full, 12 people on the waitlist" in ranked[1].reasons
    assert "8 seats left" in ranked[0].reasons


def test_past_and_cancelled_gatherings_are_not_recommended():
    past = Candidate(id=1, shared_interests=["radio astronomy"], starts_at=NOW - timedelta(hours=1))
    cancelled = Candidate(
        id=2, shared_interests=["radio astronomy"], starts_at=SOON, cancelled=True
    )
    fine = Candidate(id=3, shared_interests=["coding"], starts_at=SOON)
    assert order([past, cancelled, fine]) == [3]


def test_reasons_name_the_rare_interest_first():
    scored = rank(
        [Candidate(id=1, shared_interests=["coding", "radio astronomy"], starts_at=SOON)],
        WEIGHTS,
        now=NOW,
    )[0]
    assert scored.shared_interests == ["radio astronomy", "coding"]
    assert scored.reasons[0] == "shares the rare interest 'radio astronomy'"
    assert scored.reasons[1] == "also shares your interest 'coding'"


def test_ties_go_to_the_sooner_gathering():
    later = Candidate(id=1, shared_interests=["hiking"], starts_at=SOON + timedelta(days=1))
    sooner = Candidate(id=2, shared_interests=["hiking"], starts_at=SOON)
    assert order([later, sooner]) == [2, 1]


def test_aliases_map_short_names_and_deduplicate():
    assert apply_aliases(["astro", "astronomy", "ml"]) == ["astronomy", "machine learning"]
    assert apply_aliases(["cryo"], {"cryo": "cryptography"}) == ["cryptography"]


def test_usual_slot_is_the_most_common_local_weekday_and_time():
    berlin_tuesday_7pm_winter = datetime(2026, 1, 13, 18, 0, tzinfo=UTC)  # 19:00 CET
    berlin_tuesday_7pm_summer = datetime(2026, 6, 16, 17, 0, tzinfo=UTC)  # 19:00 CEST
    odd_friday = datetime(2026, 2, 6, 17, 0, tzinfo=UTC)
    slot = usual_slot(
        [
            (berlin_tuesday_7pm_winter, 120, "Europe/Berlin"),
            (berlin_tuesday_7pm_summer, 90, "Europe/Berlin"),
            (odd_friday, 60, "Europe/Berlin"),
        ]
    )
    assert slot == UsualSlot(
        weekday=1, start=time(19, 0), duration_minutes=90, timezone="Europe/Berlin"
    )
    assert usual_slot([]) is None


def test_proposed_window_lands_on_the_usual_day_about_a_week_ahead():
    slot = UsualSlot(weekday=1, start=time(19, 0), duration_minutes=120, timezone="Europe/Berlin")
    start, end = proposed_window(slot, now=NOW)  # NOW is a Monday
    assert start == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # Tue 17:00 CET
    assert end == datetime(2026, 3, 10, 22, 0, tzinfo=UTC)  # Tue 23:00 CET
    assert start.tzinfo is not None and start > NOW + timedelta(days=6)


def test_periods():
    assert iso_week(datetime(2026, 12, 31, tzinfo=UTC)) == "2026-W53"
    assert quiet_period(NOW - timedelta(weeks=3, days=6), NOW, 4) == 0
    assert quiet_period(NOW - timedelta(weeks=4), NOW, 4) == 1
    assert quiet_period(NOW - timedelta(weeks=9), NOW, 4) == 2


def test_reasons_are_in_the_readers_language():
    item = Candidate(id=1, shared_interests=["coding"], met_count=1, capacity=4, going_count=1)
    scored = rank([item], WEIGHTS, now=NOW, locale="de")[0]
    assert scored.reasons == [
        "teilt dein Interesse 'coding'",
        "1 Person, die du getroffen hast, ist dabei",
        "3 Plätze frei",
    ]
    group = rank([item], WEIGHTS, now=NOW, groups=True)[0]
    assert "1 person you've met is in it" in group.reasons
