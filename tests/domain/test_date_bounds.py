"""The years Kindred keeps (1970-2200): input times, ICS text and series stay inside them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from marshmallow import ValidationError

from scheduler.domain.date_bounds import EARLIEST, LATEST, OUT_OF_RANGE, is_within_bounds
from scheduler.domain.errors import InvalidInput
from scheduler.domain.ical import EventSpec, assemble_feed, build_event_fragment, build_feed
from scheduler.domain.recurrence import RecurrenceError, expand, parse_rule
from scheduler.domain.timezones import known_timezones, zone
from scheduler.schemas.common import ArgsSchema, UTCDateTimeField

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


class _When(ArgsSchema):
    at = UTCDateTimeField(required=True)


def load_time(text: str) -> datetime:
    return _When().load({"at": text})["at"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", EARLIEST),
        ("2200-12-31T23:59:59Z", LATEST),
        ("2201-01-01T00:59:59+01:00", LATEST),  # the same instant, written in Berlin
        ("2026-12-01T18:00:00+01:00", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
    ],
)
def test_times_inside_the_years_are_accepted(text: str, expected: datetime) -> None:
    assert load_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1969-12-31T23:59:59Z",
        "2201-01-01T00:00:00Z",
        "2200-12-31T23:30:00-01:00",  # 2201 in UTC
        "9999-12-31T23:00:00Z",
        "9999-12-31T18:00:00-12:00",  # past the year 9999 in UTC
        "0001-01-01T00:30:00+01:00",  # before the year 1 in UTC
    ],
)
def test_times_outside_the_years_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_time(text)
    assert caught.value.messages == {"at": [OUT_OF_RANGE]}


def test_the_bounds_are_1970_to_2200_inclusive() -> None:
    assert is_within_bounds(datetime(1970, 1, 1, tzinfo=UTC))
    assert is_within_bounds(datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert not is_within_bounds(datetime(1970, 1, 1, tzinfo=UTC) - timedelta(microseconds=1))
    assert not is_within_bounds(datetime(2201, 1, 1, tzinfo=UTC))


def spec(starts_at: datetime, **changes: object) -> EventSpec:
    values: dict[str, object] = {
        "uid": "g-1@kindred.test",
        "sequence": 0,
        "summary": "Hack night",
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(hours=2),
        "timezone": "Europe/Berlin",
        **changes,
    }
    return EventSpec(**values)  # type: ignore[arg-type]


def test_an_event_at_the_last_accepted_time_renders_and_parses() -> None:
    start = datetime(2200, 12, 31, 20, 0, tzinfo=UTC)  # 21:00 in Berlin, ends in 2201 there
    body = build_feed("Far future", [spec(start)], NOW)
    event = icalendar.Calendar.from_ical(body).walk("VEVENT")[0]
    assert event.decoded("DTSTART") == start
    parsed = vobject.readOne(body.decode("utf-8"))
    assert parsed.vevent.dtstart.value == start
    assert parsed.vevent.dtstart.value.utcoffset() == timedelta(hours=1)


def test_an_event_far_outside_the_years_is_refused_by_the_renderer() -> None:
    with pytest.raises(ValueError, match="outside the years Kindred keeps"):
        spec(datetime(9999, 12, 31, 18, 0, tzinfo=UTC) - timedelta(hours=3))


def test_a_fragment_with_an_impossible_year_cannot_break_the_feed() -> None:
    """A fragment holding 9999 (from a cache or an older version) once made the VTIMEZONE
    builder reach the year 10000; its zones now stop at the years Kindred keeps."""
    good = build_event_fragment(spec(datetime(2027, 3, 4, 18, 0, tzinfo=UTC)), NOW)
    bad = good.replace("DTSTART;TZID=Europe/Berlin:20270304", "DTSTART;TZID=Europe/Berlin:99991231")
    assert bad != good
    body = assemble_feed("Feed", [good, bad]).decode("utf-8")
    years = {int(y) for y in re.findall(r"^(?:DTSTART|RDATE):(\d{4})", body, re.MULTILINE)}
    assert max(years) <= 2201
    assert min(years) >= 1969


def test_a_zone_the_host_only_has_as_a_file_is_no_zone() -> None:
    """`localtime` is this machine's own zone file, a different zone on every host."""
    assert "localtime" not in known_timezones()
    assert "Europe/Berlin" in known_timezones() and "UTC" in known_timezones()
    with pytest.raises(InvalidInput) as caught:
        zone("localtime")
    assert caught.value.field == "timezone"
    with pytest.raises(ValueError, match="unknown time zone"):
        spec(datetime(2027, 3, 4, 18, 0, tzinfo=UTC), timezone="localtime")


@pytest.mark.parametrize("until", ["UNTIL=22010101", "UNTIL=99991231T000000Z", "UNTIL=19691231"])
def test_until_outside_the_years_is_refused(until: str) -> None:
    with pytest.raises(RecurrenceError) as caught:
        parse_rule(f"FREQ=WEEKLY;{until}")
    assert "use a year from 1970 to 2200" in caught.value.message
    assert caught.value.field == "recurrence"


def test_until_in_the_last_year_is_accepted() -> None:
    rule = parse_rule("FREQ=YEARLY;UNTIL=22001231", "Europe/Berlin")
    starts = expand(rule, datetime(2198, 6, 1, 18, 0), "Europe/Berlin")
    assert [s.year for s in starts] == [2198, 2199, 2200]


def test_a_bounded_series_that_runs_past_the_years_is_refused() -> None:
    rule = parse_rule("FREQ=YEARLY;INTERVAL=1000;COUNT=3")
    with pytest.raises(RecurrenceError) as caught:
        expand(rule, datetime(2027, 6, 1, 18, 0), "Europe/Berlin")
    assert "after 2200-12-31" in caught.value.message
    assert caught.value.field == "recurrence"


def test_an_unbounded_series_stops_at_the_last_accepted_time() -> None:
    rule = parse_rule("FREQ=DAILY")
    starts = expand(
        rule, datetime(2200, 12, 29, 18, 0), "Europe/Berlin", until=datetime.max.replace(tzinfo=UTC)
    )
    assert [s.astimezone(BERLIN).day for s in starts] == [29, 30, 31]
    assert starts[-1] <= LATEST
