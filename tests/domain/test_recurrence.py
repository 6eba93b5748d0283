"""Recurrence rules: parsing, expansion across DST, splitting and plain-English descriptions."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain.errors import InvalidInput
from scheduler.domain.recurrence import (
    HORIZON_DAYS,
    MAX_OCCURRENCES,
    ByDay,
    Frequency,
    RecurrenceError,
    RecurrenceRule,
    TooManyOccurrences,
    describe,
    expand,
    parse_rule,
    split_rule,
    weekly_rule,
)

BERLIN = "Europe/Berlin"
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*parts, tzinfo=UTC)


def local_times(instants: list[datetime], tz: str = BERLIN) -> list[str]:
    """Instants as local 'YYYY-MM-DD HH:MM' strings, for readable assertions."""
    return [i.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") for i in instants]


# --------------------------------------------------------------------------- parsing


def test_parse_plain_weekly_rule() -> None:
    rule = parse_rule("RRULE:freq=weekly;interval=2;byday=we,mo;wkst=su;count=8;")

    assert rule.freq is Frequency.WEEKLY
    assert rule.interval == 2
    assert rule.count == 8
    assert rule.until is None
    assert rule.by_day == (ByDay(0), ByDay(2))
    assert rule.wkst == 6
    assert rule.is_bounded
    assert rule.text == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;WKST=SU;COUNT=8"
    assert str(rule) == rule.text


def test_canonical_text_drops_defaults_and_normalises_numbers() -> None:
    rule = parse_rule("FREQ=MONTHLY;INTERVAL=1;BYDAY=+1SA;BYMONTH=12,3,3;WKST=MO")

    assert rule.text == "FREQ=MONTHLY;BYMONTH=3,12;BYDAY=1SA"
    assert rule.by_day == (ByDay(5, 1),)
    assert not rule.is_bounded


def test_canonical_text_round_trips() -> None:
    for text in [
        "FREQ=WEEKLY;BYDAY=TH",
        "FREQ=MONTHLY;BYDAY=1MO,3MO,-1FR;COUNT=5",
        "FREQ=MONTHLY;BYMONTHDAY=1,15,-1;UNTIL=20271231T230000Z",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "FREQ=DAILY;INTERVAL=3;UNTIL=20270401",
    ]:
        rule = parse_rule(text)
        assert rule.text == text
        assert parse_rule(rule.text) == rule


def test_until_in_utc_is_kept_as_an_aware_instant() -> None:
    rule = parse_rule("FREQ=DAILY;UNTIL=20271231T230000z")

    assert rule.until == utc(2027, 12, 31, 23)
    assert rule.text == "FREQ=DAILY;UNTIL=20271231T230000Z"


def test_until_date_stays_a_date_without_a_zone_and_becomes_utc_with_one() -> None:
    assert parse_rule("FREQ=DAILY;UNTIL=20270401").until == date(2027, 4, 1)

    rule = parse_rule("FREQ=DAILY;UNTIL=20270401", timezone=BERLIN)

    # The end of 1 April in Berlin (CEST, UTC+2) is 21:59:59Z.
    assert rule.until == utc(2027, 4, 1, 21, 59, 59)
    assert rule.text == "FREQ=DAILY;UNTIL=20270401T215959Z"


def test_floating_until_is_rejected_with_a_hint() -> None:
    with pytest.raises(RecurrenceError) as caught:
        parse_rule("FREQ=DAILY;UNTIL=20271231T190000")

    assert "UNTIL=20271231T190000 has no time zone" in caught.value.message
    assert "20271231T190000Z" in caught.value.message


def test_recurrence_error_is_a_user_facing_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rule("FREQ=HOURLY")

    assert caught.value.message == (
        "FREQ=HOURLY is not supported; use DAILY, WEEKLY, MONTHLY or YEARLY"
    )
    assert caught.value.field == "recurrence"
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("FREQ=SECONDLY", "FREQ=SECONDLY is not supported"),
        ("FREQ=MINUTELY", "FREQ=MINUTELY is not supported"),
        ("FREQ=HOURLY;COUNT=3", "FREQ=HOURLY is not supported"),
        ("FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY is not a frequency"),
        ("COUNT=3", "FREQ is missing"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1", "BYSETPOS is not supported"),
        ("FREQ=DAILY;BYHOUR=9", "BYHOUR is not supported"),
        ("FREQ=YEARLY;BYWEEKNO=20", "BYWEEKNO is not supported"),
        ("FREQ=DAILY;COLOUR=RED", "unknown part 'COLOUR'"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20271231", "COUNT and UNTIL cannot be used together"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be at least 1"),
        ("FREQ=DAILY;COUNT=-2", "COUNT must be a whole number"),
        ("FREQ=DAILY;COUNT=many", "COUNT must be a whole number"),
        ("FREQ=DAILY;COUNT=1001", "COUNT=1001 is too large"),
        ("FREQ=DAILY;COUNT=99999999999999999999999", "COUNT=99999999999999999999999 is too large"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be at least 1"),
        ("FREQ=DAILY;INTERVAL=1.5", "INTERVAL must be a whole number"),
        ("FREQ=DAILY;INTERVAL=²", "INTERVAL must be a whole number"),
        ("FREQ=WEEKLY;BYDAY=MO,XX", "BYDAY: 'XX' is not a weekday"),
        ("FREQ=WEEKLY;BYDAY=MONDAY", "BYDAY: 'MONDAY' is not a weekday"),
        ("FREQ=WEEKLY;BYDAY=1MO", "numbered weekdays only work with FREQ=MONTHLY or FREQ=YEARLY"),
        ("FREQ=DAILY;BYDAY=-1FR", "BYDAY=-1FR: numbered weekdays only work"),
        ("FREQ=MONTHLY;BYDAY=6SA", "BYDAY=6SA is out of range"),
        ("FREQ=MONTHLY;BYDAY=0SA", "BYDAY=0SA is out of range"),
        ("FREQ=YEARLY;BYMONTH=3;BYDAY=-6SU", "BYDAY=-6SU is out of range"),
        ("FREQ=YEARLY;BYDAY=54MO", "BYDAY=54MO is out of range"),
        ("FREQ=MONTHLY;BYDAY=MO,1FR", "BYDAY cannot mix plain weekdays"),
        ("FREQ=DAILY;BYDAY=+MO", "BYDAY: '+MO' has a sign but no number"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32 is out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0 is out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,x", "BYMONTHDAY must list whole numbers"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY cannot be used with FREQ=WEEKLY"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH=13 is not a month"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30,31", "BYMONTH=2 and BYMONTHDAY=30,31 never match"),
        ("FREQ=MONTHLY;BYMONTH=4,6;BYMONTHDAY=31", "BYMONTH=4,6 and BYMONTHDAY=31 never match"),
        ("FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1", "BYMONTHDAY=1 and BYDAY=5MO never match"),
        ("FREQ=WEEKLY;WKST=XY", "WKST=XY is not a weekday"),
        ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL=TOMORROW is not a date"),
        ("FREQ=DAILY;UNTIL=20270230", "UNTIL=20270230 is not a real date"),
        ("FREQ=DAILY;UNTIL=20270101T250000Z", "UNTIL=20270101T250000Z is not a real date"),
        ("FREQ=DAILY;UNTIL=99991231", "UNTIL=99991231 is out of range"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given more than once"),
        ("FREQ=WEEKLY;BYDAY=MO;BYDAY=TU", "BYDAY is given more than once"),
        ("FREQ=WEEKLY;BYDAY=", "BYDAY has no value"),
        ("FREQ=DAILY;COUNT", "'COUNT' is not a NAME=VALUE part"),
        ("every thursday", "'every thursday' is not a NAME=VALUE part"),
        ("", "the rule is empty"),
        ("RRULE:", "the rule is empty"),
        ("DTSTART:20270101T190000Z\nRRULE:FREQ=DAILY", "single line"),
        ("FREQ=DAILY;" + "X" * 600, "too long"),
    ],
)
def test_bad_rules_say_what_is_wrong(text: str, mentions: str) -> None:
    with pytest.raises(RecurrenceError) as caught:
        parse_rule(text)

    assert mentions in caught.value.message
    assert str(caught.value) == caught.value.message


def test_non_text_is_rejected() -> None:
    with pytest.raises(RecurrenceError, match="must be text"):
        parse_rule(None)  # type: ignore[arg-type]


def test_unknown_zone_when_normalising_until_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        parse_rule("FREQ=DAILY;UNTIL=20270401", timezone="Mars/Olympus")


def test_weekly_rule_helper() -> None:
    rule = weekly_rule([3, 0], interval=2, until=datetime(2027, 6, 1, tzinfo=ZoneInfo(BERLIN)))

    assert rule.text == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20270531T220000Z"
    assert weekly_rule([3], count=4).text == "FREQ=WEEKLY;BYDAY=TH;COUNT=4"
    with pytest.raises(RecurrenceError, match="at least one weekday"):
        weekly_rule([])
    with pytest.raises(RecurrenceError, match="weekday 7"):
        weekly_rule([7])


# --------------------------------------------------------------------------- expansion


def test_weekly_keeps_wall_clock_time_across_both_dst_switches() -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH")

    spring = expand(rule, datetime(2027, 3, 18, 19), BERLIN, until=utc(2027, 4, 2))
    autumn = expand(
        rule, datetime(2027, 3, 18, 19), BERLIN, after=utc(2027, 10, 20), until=utc(2027, 11, 5)
    )

    # Berlin switches on Sunday 28 March and Sunday 31 October 2027.
    assert spring == [utc(2027, 3, 18, 18), utc(2027, 3, 25, 18), utc(2027, 4, 1, 17)]
    assert autumn == [utc(2027, 10, 21, 17), utc(2027, 10, 28, 17), utc(2027, 11, 4, 18)]
    assert {t[-5:] for t in local_times(spring + autumn)} == {"19:00"}
    assert all(i.tzinfo is UTC for i in spring + autumn)


def test_first_start_may_be_aware_in_any_zone() -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH;COUNT=2")
    naive = expand(rule, datetime(2027, 3, 25, 19), BERLIN)

    aware = expand(rule, datetime(2027, 3, 25, 18, tzinfo=UTC), BERLIN)
    fractional = expand(rule, datetime(2027, 3, 25, 19, 0, 0, 250_000), BERLIN)

    assert naive == aware == fractional == [utc(2027, 3, 25, 18), utc(2027, 4, 1, 17)]


def test_monthly_first_saturday() -> None:
    rule = parse_rule("FREQ=MONTHLY;BYDAY=1SA;COUNT=6")

    got = expand(rule, datetime(2027, 1, 2, 10, 30), BERLIN)

    assert local_times(got) == [
        "2027-01-02 10:30",
        "2027-02-06 10:30",
        "2027-03-06 10:30",
        "2027-04-03 10:30",
        "2027-05-01 10:30",
        "2027-06-05 10:30",
    ]


def test_monthly_last_friday() -> None:
    rule = parse_rule("FREQ=MONTHLY;BYDAY=-1FR")

    got = expand(rule, datetime(2027, 1, 29, 18), BERLIN, until=utc(2027, 7, 1))

    assert [i.astimezone(ZoneInfo(BERLIN)).date() for i in got] == [
        date(2027, 1, 29),
        date(2027, 2, 26),
        date(2027, 3, 26),
        date(2027, 4, 30),
        date(2027, 5, 28),
        date(2027, 6, 25),
    ]


def test_yearly_last_sunday_of_march_is_the_dst_day() -> None:
    rule = parse_rule("FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;COUNT=3")

    got = expand(rule, datetime(2027, 3, 1, 12), BERLIN)

    assert local_times(got) == ["2027-03-28 12:00", "2028-03-26 12:00", "2029-03-25 12:00"]


def test_until_given_in_another_zone_is_compared_as_an_instant() -> None:
    new_york = ZoneInfo("America/New_York")
    start = datetime(2027, 3, 18, 19)  # Thursdays 19:00 Berlin; 1 April is 17:00Z

    def until_new_york(hour: int, minute: int) -> str:
        instant = datetime(2027, 4, 1, hour, minute, tzinfo=new_york).astimezone(UTC)
        return f"FREQ=WEEKLY;BYDAY=TH;UNTIL={instant:%Y%m%dT%H%M%SZ}"

    # 13:00 in New York (EDT) is 17:00Z, exactly the 1 April occurrence: included.
    at = parse_rule(until_new_york(13, 0))
    # One minute earlier excludes it, although 12:59 "looks" earlier than 19:00 either way.
    before = parse_rule(until_new_york(12, 59))

    assert at.text.endswith("UNTIL=20270401T170000Z")
    assert expand(at, start, BERLIN)[-1] == utc(2027, 4, 1, 17)
    assert len(expand(at, start, BERLIN)) == 3
    assert expand(before, start, BERLIN)[-1] == utc(2027, 3, 25, 18)


def test_until_as_a_date_means_through_that_local_day() -> None:
    # 00:30 on 2 April in Berlin is still 1 April in UTC (22:30Z), and must be excluded.
    late = parse_rule("FREQ=DAILY;UNTIL=20270401")
    normalised = parse_rule("FREQ=DAILY;UNTIL=20270401", timezone=BERLIN)

    for rule in (late, normalised):
        got = expand(rule, datetime(2027, 3, 30, 23, 30), BERLIN)
        assert local_times(got) == ["2027-03-30 23:30", "2027-03-31 23:30", "2027-04-01 23:30"]
        after_midnight = expand(rule, datetime(2027, 3, 31, 0, 30), BERLIN)
        assert local_times(after_midnight)[-1] == "2027-04-01 00:30"


def test_spring_forward_gap_shifts_forward_by_the_gap() -> None:
    rule = parse_rule("FREQ=DAILY;COUNT=4")

    got = expand(rule, datetime(2027, 3, 26, 2, 30), BERLIN)

    # 02:30 on 28 March does not exist in Berlin: it becomes 03:30 CEST (01:30Z).
    assert got == [
        utc(2027, 3, 26, 1, 30),
        utc(2027, 3, 27, 1, 30),
        utc(2027, 3, 28, 1, 30),
        utc(2027, 3, 29, 0, 30),
    ]
    assert local_times(got) == [
        "2027-03-26 02:30",
        "2027-03-27 02:30",
        "2027-03-28 03:30",
        "2027-03-29 02:30",
    ]
    assert expand(rule, datetime(2027, 3, 26, 2, 30), BERLIN) == got  # deterministic


def test_fall_back_ambiguity_takes_the_first_occurrence() -> None:
    rule = parse_rule("FREQ=DAILY;COUNT=3")

    got = expand(rule, datetime(2027, 10, 30, 2, 30), BERLIN)

    # 02:30 on 31 October happens twice; the first (still CEST, 00:30Z) is used.
    assert got == [utc(2027, 10, 30, 0, 30), utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)]


def test_count_one_gives_the_first_start_only() -> None:
    rule = parse_rule("FREQ=WEEKLY;COUNT=1")

    assert expand(rule, datetime(2027, 5, 6, 19), BERLIN) == [utc(2027, 5, 6, 17)]


def test_interval_two_skips_every_other_week() -> None:
    rule = parse_rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=6")

    got = expand(rule, datetime(2027, 1, 4, 18), BERLIN)

    assert [i.date().isoformat() for i in got] == [
        "2027-01-04",
        "2027-01-06",
        "2027-01-18",
        "2027-01-20",
        "2027-02-01",
        "2027-02-03",
    ]


def test_month_day_31_skips_short_months() -> None:
    rule = parse_rule("FREQ=MONTHLY;BYMONTHDAY=31")

    got = expand(rule, datetime(2027, 1, 31, 20), BERLIN, until=utc(2028, 1, 1))

    assert [i.astimezone(ZoneInfo(BERLIN)).month for i in got] == [1, 3, 5, 7, 8, 10, 12]


def test_first_start_that_does_not_match_the_rule_is_not_an_occurrence() -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH;COUNT=2")

    got = expand(rule, datetime(2027, 5, 3, 19), BERLIN)  # a Monday

    assert local_times(got) == ["2027-05-06 19:00", "2027-05-13 19:00"]


def test_horizon_and_after_materialise_a_rolling_window() -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH")
    start = datetime(2027, 1, 7, 19)
    now = utc(2027, 2, 4, 18)  # exactly the 4 February occurrence

    first = expand(rule, start, BERLIN, until=now + timedelta(days=HORIZON_DAYS))
    later = expand(rule, start, BERLIN, after=now, until=now + timedelta(days=HORIZON_DAYS + 28))

    assert first[0] == utc(2027, 1, 7, 18)
    assert first[-1] == utc(2027, 4, 29, 17)  # 90 days after 4 February is 5 May
    assert later[0] == utc(2027, 2, 11, 18)  # strictly after `now`
    assert later[-1] == utc(2027, 5, 27, 17)
    tail = [i for i in first if i > now]
    assert later[: len(tail)] == tail


def test_horizon_bounds_are_inclusive_and_may_empty_the_window() -> None:
    rule = parse_rule("FREQ=DAILY")

    assert expand(rule, datetime(2027, 1, 1, 12), BERLIN, until=utc(2027, 1, 2, 11)) == [
        utc(2027, 1, 1, 11),
        utc(2027, 1, 2, 11),
    ]
    assert expand(rule, datetime(2027, 1, 1, 12), BERLIN, until=utc(2026, 1, 1)) == []


def test_unbounded_rule_needs_a_horizon() -> None:
    with pytest.raises(ValueError, match="until horizon"):
        expand(parse_rule("FREQ=DAILY"), datetime(2027, 1, 1, 12), BERLIN)


def test_naive_horizon_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expand(parse_rule("FREQ=DAILY"), datetime(2027, 1, 1), BERLIN, until=datetime(2028, 1, 1))


def test_runaway_rules_hit_the_hard_cap() -> None:
    rule = parse_rule("FREQ=DAILY;UNTIL=20401231")

    with pytest.raises(TooManyOccurrences, match=f"more than {MAX_OCCURRENCES} occurrences"):
        expand(rule, datetime(2027, 1, 1, 19), BERLIN)
    with pytest.raises(TooManyOccurrences):
        expand(parse_rule("FREQ=DAILY"), datetime(2027, 1, 1, 19), BERLIN, until=FAR, limit=10)
    assert len(expand(rule, datetime(2027, 1, 1, 19), BERLIN, until=utc(2027, 1, 10, 18))) == 10


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("FREQ=DAILY;INTERVAL=7;BYDAY=MO", datetime(2027, 1, 5, 19)),  # only ever Tuesdays
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTH=3", datetime(2027, 1, 5, 19)),  # only ever January
        ("FREQ=YEARLY;BYMONTH=2", datetime(2027, 1, 31, 19)),  # 31 February
        ("FREQ=MONTHLY;INTERVAL=2;BYMONTH=4,6", datetime(2027, 1, 31, 19)),  # odd months only
    ],
)
def test_rules_that_never_occur_from_their_start_fail_fast(text: str, start: datetime) -> None:
    began = time.perf_counter()

    with pytest.raises(RecurrenceError, match="never occurs"):
        expand(parse_rule(text), start, BERLIN, until=FAR)

    assert time.perf_counter() - began < 0.5  # dateutil alone would search until 9999


def test_leap_day_rules_are_sparse_but_valid() -> None:
    rule = parse_rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=2")

    assert local_times(expand(rule, datetime(2027, 2, 1, 12), BERLIN)) == [
        "2028-02-29 12:00",
        "2032-02-29 12:00",
    ]


# --------------------------------------------------------------------------- splitting


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;BYDAY=TH;COUNT=10",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20270601T000000Z",
        "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20280101",
        "FREQ=DAILY;INTERVAL=3",
    ],
)
def test_split_preserves_the_sequence_of_instants(text: str) -> None:
    rule = parse_rule(text)
    start = datetime(2027, 1, 7, 19)
    horizon = utc(2028, 1, 1)
    whole = expand(rule, start, BERLIN, until=horizon)

    split = split_rule(rule, start, BERLIN, whole[4])

    assert split.before is not None
    first_part = expand(split.before, start, BERLIN, until=horizon)
    second_part = expand(split.after, split.after_first_start_local, BERLIN, until=horizon)
    assert first_part == whole[:4]
    assert second_part == whole[4:]
    assert split.before.is_bounded


def test_split_ends_a_counted_original_with_until_and_counts_the_rest() -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH;COUNT=10")
    start = datetime(2027, 1, 7, 19)

    before, after, after_start = split_rule(rule, start, BERLIN, utc(2027, 2, 4, 18))

    assert before is not None
    assert before.text == "FREQ=WEEKLY;BYDAY=TH;UNTIL=20270128T180000Z"
    assert after.text == "FREQ=WEEKLY;BYDAY=TH;COUNT=6"
    assert after_start == datetime(2027, 2, 4, 19)


def test_split_ends_the_original_at_the_previous_occurrence() -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH")
    start = datetime(2027, 3, 18, 19)

    split = split_rule(rule, start, BERLIN, utc(2027, 4, 8, 17))

    assert split.before is not None
    assert split.before.text == "FREQ=WEEKLY;BYDAY=TH;UNTIL=20270401T170000Z"
    assert split.after == rule
    assert not split.after.is_bounded


def test_split_at_the_first_occurrence_replaces_the_whole_series() -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH;COUNT=3")

    split = split_rule(rule, datetime(2027, 3, 18, 19), BERLIN, utc(2027, 3, 18, 18))

    assert split.before is None
    assert split.after == rule


def test_split_at_a_shifted_dst_occurrence_keeps_the_nominal_time() -> None:
    rule = parse_rule("FREQ=DAILY;COUNT=4")
    start = datetime(2027, 3, 26, 2, 30)
    whole = expand(rule, start, BERLIN)

    split = split_rule(rule, start, BERLIN, whole[2])  # 28 March, shown as 03:30

    assert split.after_first_start_local == datetime(2027, 3, 28, 2, 30)
    assert expand(split.after, split.after_first_start_local, BERLIN) == whole[2:]


def test_split_at_a_non_occurrence_is_refused() -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH;COUNT=3")

    with pytest.raises(RecurrenceError, match="20270319T180000Z is not an occurrence"):
        split_rule(rule, datetime(2027, 3, 18, 19), BERLIN, utc(2027, 3, 19, 18))


# --------------------------------------------------------------------------- describing


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("FREQ=WEEKLY;BYDAY=TH", "every week on Thursday"),
        ("FREQ=MONTHLY;BYDAY=1SA", "on the first Saturday of every month"),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=8",
            "every 2 weeks on Monday and Wednesday, 8 times",
        ),
        ("FREQ=MONTHLY;BYDAY=-1FR;COUNT=1", "on the last Friday of every month, once"),
        ("FREQ=MONTHLY;INTERVAL=3;BYDAY=2TU", "on the second Tuesday of every 3 months"),
        ("FREQ=MONTHLY;BYDAY=-2MO", "on the second to last Monday of every month"),
        ("FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "on the last Sunday of March every year"),
        ("FREQ=YEARLY;BYDAY=20MO", "on the 20th Monday of every year"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15,-1", "on the 1st, 15th and last day of every month"),
        ("FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR", "on the 13th of every month, when it is a Friday"),
        ("FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=21", "on the 21st of June every year"),
        ("FREQ=DAILY", "every day"),
        ("FREQ=DAILY;INTERVAL=3;UNTIL=20271231", "every 3 days, until 31 December 2027"),
        ("FREQ=DAILY;BYDAY=MO,FR", "every day, only on Monday and Friday"),
        (
            "FREQ=WEEKLY;BYDAY=TH;BYMONTH=6,7,8;UNTIL=20270901T120000Z",
            "every week on Thursday, in June, July and August, until 1 September 2027 12:00 UTC",
        ),
        ("FREQ=YEARLY;BYMONTH=12", "every year in December"),
        ("FREQ=MONTHLY;INTERVAL=2", "every 2 months"),
    ],
)
def test_describe_in_plain_english(text: str, words: str) -> None:
    assert describe(parse_rule(text)) == words


def test_rules_are_frozen_values() -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH")

    assert rule == RecurrenceRule(freq=Frequency.WEEKLY, by_day=(ByDay(3),))
    assert hash(rule) == hash(parse_rule("RRULE:FREQ=WEEKLY;BYDAY=TH"))
    with pytest.raises(AttributeError):
        rule.interval = 2  # type: ignore[misc]


# --------------------------------------------------------------------------- properties

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "UTC"]


@st.composite
def series(draw: st.DrawFn) -> tuple[RecurrenceRule, datetime, str]:
    """A random supported rule with a start and a zone."""
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 4))}"]
    if freq != "DAILY" and draw(st.booleans()):
        days = draw(
            st.lists(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1)
        )
        ordinal = draw(st.sampled_from(["", "", "1", "2", "-1"])) if freq == "MONTHLY" else ""
        parts.append("BYDAY=" + ",".join(ordinal + day for day in days))
    elif freq == "MONTHLY" and draw(st.booleans()):
        parts.append(f"BYMONTHDAY={draw(st.sampled_from([1, 15, 29, 30, 31, -1]))}")
    bound = draw(st.sampled_from(["count", "until", "none"]))
    if bound == "count":
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    elif bound == "until":
        parts.append("UNTIL=20290101T000000Z")
    start = draw(st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31))).replace(
        minute=draw(st.sampled_from([0, 30])), second=0, microsecond=0
    )
    return parse_rule(";".join(parts)), start, draw(st.sampled_from(ZONES))


@settings(max_examples=150, deadline=None)
@given(series(), st.integers(0, 1000))
def test_expansion_keeps_wall_clock_and_splits_losslessly(
    drawn: tuple[RecurrenceRule, datetime, str], pick: int
) -> None:
    rule, start, tz_name = drawn
    tz = ZoneInfo(tz_name)
    try:
        whole = expand(rule, start, tz_name, until=utc(2029, 6, 1))
    except RecurrenceError:
        return  # e.g. MONTHLY;INTERVAL=2;BYMONTHDAY=31 from a 30-day month: never occurs
    assert whole == sorted(set(whole))
    for instant in whole:
        local = instant.astimezone(tz)
        if local.time() != start.time():
            # Only a nonexistent wall time may move, and it moves forward.
            nominal = datetime.combine(local.date(), start.time(), tzinfo=tz)
            assert nominal.astimezone(UTC).astimezone(tz).time() != start.time()
            assert local.replace(tzinfo=None) > nominal.replace(tzinfo=None)
    if not whole:
        return
    at = whole[pick % len(whole)]
    split = split_rule(rule, start, tz_name, at)
    first = expand(split.before, start, tz_name, until=utc(2029, 6, 1)) if split.before else []
    rest = expand(split.after, split.after_first_start_local, tz_name, until=utc(2029, 6, 1))
    assert first + rest == whole
