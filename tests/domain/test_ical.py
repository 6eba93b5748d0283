"""ICS text from scheduler.domain.ical, parsed back with both icalendar and vobject."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from dateutil.tz import tzical
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain.ical import (
    UNBOUNDED_SERIES_YEARS,
    VTIMEZONE_YEARS,
    AttendeeSpec,
    EventSpec,
    OrganizerSpec,
    assemble_feed,
    build_event_fragment,
    build_feed,
    build_invite,
    irregular_start,
    vtimezone_text,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
UID = "gathering-42@kindred.test"
HOSTILE = "Semi; comma, back\\slash \\n, CRLF\r\nATTENDEE:mailto:evil@x lone\rCR LF\nend 😀"


def spec(**changes: object) -> EventSpec:
    """A plain one-off gathering in Berlin; keyword arguments override fields."""
    base = EventSpec(
        uid=UID,
        sequence=0,
        summary="Board games",
        description="Bring a game.",
        location="Café Kreuzberg, Berlin",
        url="https://kindred.test/gatherings/42",
        starts_at=datetime(2026, 12, 3, 18, 0, tzinfo=BERLIN),
        ends_at=datetime(2026, 12, 3, 20, 0, tzinfo=BERLIN),
        timezone="Europe/Berlin",
        organizer=OrganizerSpec("Ann Organizer", "ann@kindred.test"),
        attendees=[
            AttendeeSpec("Bob", "bob@kindred.test", "ACCEPTED"),
            AttendeeSpec("Cyd", "cyd@kindred.test", "TENTATIVE"),
        ],
        categories=["board games", "strategy"],
    )
    return replace(base, **changes)


def normalised(text: str) -> str:
    """What a TEXT value reads as after the trip: every kind of line break is one newline."""
    return re.sub("\r\n|[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]", "\n", text)


def assert_wire_format(ics: bytes) -> None:
    """CRLF everywhere, every physical line <= 75 octets and valid UTF-8 on its own."""
    assert ics.endswith(b"\r\n")
    lines = ics.split(b"\r\n")[:-1]
    assert b"\r" not in b"".join(lines) and b"\n" not in b"".join(lines)
    for line in lines:
        assert len(line) <= 75, line
        line.decode("utf-8")  # a fold never splits a multibyte character


def parse_both(ics: bytes) -> tuple[icalendar.Calendar, vobject.base.Component]:
    """Parse with icalendar and vobject after checking the wire format."""
    assert_wire_format(ics)
    return icalendar.Calendar.from_ical(ics), vobject.readOne(ics.decode("utf-8"))


def vevents(calendar: icalendar.Calendar) -> list[icalendar.Event]:
    """The VEVENTs of a parsed calendar."""
    return calendar.walk("VEVENT")


class TestInviteFlow:
    """Create → reschedule → cancel keeps one UID, raises SEQUENCE, then cancels."""

    def test_create_reschedule_cancel(self) -> None:
        created = build_invite("REQUEST", [spec()], NOW)
        moved_spec = spec(
            sequence=1,
            starts_at=datetime(2026, 12, 4, 19, 30, tzinfo=BERLIN),
            ends_at=datetime(2026, 12, 4, 21, 30, tzinfo=BERLIN),
        )
        moved = build_invite("REQUEST", [moved_spec], NOW + timedelta(hours=1))
        cancelled = build_invite("CANCEL", [replace(moved_spec, sequence=2)], NOW + timedelta(2))

        seen = []
        for ics, method in ((created, "REQUEST"), (moved, "REQUEST"), (cancelled, "CANCEL")):
            ical, vcal = parse_both(ics)
            assert ical["METHOD"] == method
            assert vcal.method.value == method
            assert ical["VERSION"] == "2.0" and "PRODID" in ical
            (event,) = vevents(ical)
            assert str(event["UID"]) == UID == vcal.vevent.uid.value
            assert [tz.tz_name for tz in ical.timezones] == ["Europe/Berlin"]
            assert ical.get_missing_tzids() == set()
            assert vcal.vtimezone.tzid.value == "Europe/Berlin"
            assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
            assert event["DTSTAMP"].dt.utcoffset() == timedelta(0)
            assert b"DTSTAMP:" in ics and b"Z\r\n" in ics
            seen.append(
                (
                    int(event["SEQUENCE"]),
                    str(event["STATUS"]),
                    vcal.vevent.dtstart.value,
                    int(vcal.vevent.sequence.value),
                )
            )
        assert [s[0] for s in seen] == [0, 1, 2] == [s[3] for s in seen]
        assert [s[1] for s in seen] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
        assert seen[0][2] == datetime(2026, 12, 3, 18, 0, tzinfo=BERLIN)
        assert seen[1][2] == datetime(2026, 12, 4, 19, 30, tzinfo=BERLIN)
        assert seen[1][2].utcoffset() == timedelta(hours=1)

    def test_request_carries_organizer_and_attendees(self) -> None:
        ical, vcal = parse_both(build_invite("REQUEST", [spec()], NOW))
        (event,) = vevents(ical)
        assert str(event["ORGANIZER"]) == "mailto:ann@kindred.test"
        assert event["ORGANIZER"].params["CN"] == "Ann Organizer"
        attendees = event["ATTENDEE"]
        assert [str(a) for a in attendees] == ["mailto:bob@kindred.test", "mailto:cyd@kindred.test"]
        assert [a.params["PARTSTAT"] for a in attendees] == ["ACCEPTED", "TENTATIVE"]
        assert {a.params["ROLE"] for a in attendees} == {"REQ-PARTICIPANT"}
        assert {a.params["RSVP"] for a in attendees} == {"TRUE"}
        assert [a.value for a in vcal.vevent.attendee_list] == [
            "mailto:bob@kindred.test",
            "mailto:cyd@kindred.test",
        ]
        assert vcal.vevent.attendee.params["CN"] == ["Bob"]
        assert event.categories == ["board games", "strategy"]
        assert str(event["URL"]) == "https://kindred.test/gatherings/42"
        assert vcal.vevent.location.value == "Café Kreuzberg, Berlin"

    def test_utc_gathering_has_no_tzid_or_vtimezone(self) -> None:
        start = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
        event = spec(timezone="UTC", starts_at=start, ends_at=start + timedelta(hours=2))
        ics = build_invite("REQUEST", [event], NOW)
        _, vcal = parse_both(ics)
        assert b"TZID" not in ics and b"VTIMEZONE" not in ics
        assert b"DTSTART:20261203T170000Z\r\n" in ics
        assert vcal.vevent.dtstart.value == start

    def test_start_is_rendered_in_the_gatherings_zone(self) -> None:
        start = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)  # given in UTC, shown in Berlin
        ics = build_invite("REQUEST", [spec(starts_at=start, ends_at=start)], NOW)
        assert b"DTSTART;TZID=Europe/Berlin:20261203T180000\r\n" in ics

    def test_cancel_forces_cancelled_status_on_every_event(self) -> None:
        ics = build_invite("CANCEL", [spec(status="CONFIRMED")], NOW)
        ical, _ = parse_both(ics)
        assert [str(e["STATUS"]) for e in vevents(ical)] == ["CANCELLED"]
        assert ics.count(b"STATUS:") == 1

    @pytest.mark.parametrize("method", ["ADD", "request", "", "REQUEST\r\nX:1"])
    def test_unknown_method_is_refused(self, method: str) -> None:
        with pytest.raises(ValueError):
            build_invite(method, [spec()], NOW)

    def test_invite_needs_an_event(self) -> None:
        with pytest.raises(ValueError):
            build_invite("REQUEST", [], NOW)


class TestHostileText:
    """User text cannot break the format or create properties, and reads back as written."""

    def test_special_characters_round_trip(self) -> None:
        event = spec(summary=HOSTILE, description=HOSTILE, location=HOSTILE, categories=["a,b;c"])
        ics = build_invite("REQUEST", [event], NOW)
        ical, vcal = parse_both(ics)
        (parsed,) = vevents(ical)
        for name in ("SUMMARY", "DESCRIPTION", "LOCATION"):
            assert str(parsed[name]) == normalised(HOSTILE)
        assert vcal.vevent.summary.value == normalised(HOSTILE)
        assert vcal.vevent.description.value == normalised(HOSTILE)
        assert parsed.categories == ["a,b;c"]
        assert r"Semi\; comma\, back\\slash \\n\, CRLF\nATTENDEE:mailto:evil@x" in ics.decode()

    def test_summary_cannot_inject_a_property(self) -> None:
        event = spec(
            summary="Hi\r\nATTENDEE:mailto:evil@x", description="x\rATTENDEE:mailto:evil@x"
        )
        ics = build_invite("REQUEST", [event], NOW)
        ical, vcal = parse_both(ics)
        assert len(vevents(ical)[0]["ATTENDEE"]) == 2
        assert len(vcal.vevent.attendee_list) == 2
        assert not re.search(rb"(^|\n)ATTENDEE:mailto:evil", ics)
        assert b"evil@x" not in b"".join(re.findall(rb"(?m)^ATTENDEE[^\r]*", ics))

    @pytest.mark.parametrize(
        "breaker", ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"]
    )
    def test_no_line_break_of_any_kind_survives(self, breaker: str) -> None:
        event = spec(summary=f"a{breaker}STATUS:CANCELLED", location=f"b{breaker}X-EVIL:1")
        ics = build_invite("REQUEST", [event], NOW)
        ical, vcal = parse_both(ics)
        assert ics.decode().splitlines()[-1] == "END:VCALENDAR"
        assert all(
            not line.startswith(("STATUS:CANCELLED", "X-EVIL"))
            for line in ics.decode().splitlines()
        )
        assert str(vevents(ical)[0]["STATUS"]) == "CONFIRMED"
        assert vcal.vevent.status.value == "CONFIRMED"
        assert vcal.vevent.summary.value == "a\nSTATUS:CANCELLED"

    def test_names_cannot_inject_parameters_or_lines(self) -> None:
        event = spec(
            organizer=OrganizerSpec("Ann\r\nBcc: evil@x", "ann@kindred.test"),
            attendees=[
                AttendeeSpec('Bob "Bobby"; ROLE=CHAIR:x', "bob@kindred.test"),
                AttendeeSpec("Cyd\rATTENDEE:mailto:evil@x", "cyd@kindred.test"),
            ],
        )
        ics = build_invite("REQUEST", [event], NOW)
        ical, vcal = parse_both(ics)
        (parsed,) = vevents(ical)
        assert parsed["ORGANIZER"].params["CN"] == "Ann Bcc: evil@x"
        bob, cyd = parsed["ATTENDEE"]
        assert bob.params["CN"] == 'Bob "Bobby"; ROLE=CHAIR:x'
        assert bob.params["ROLE"] == "REQ-PARTICIPANT"
        assert cyd.params["CN"] == "Cyd ATTENDEE:mailto:evil@x"
        assert len(vcal.vevent.attendee_list) == 2
        assert [a.value for a in vcal.vevent.attendee_list] == [str(bob), str(cyd)]
        assert b"\r\nBcc" not in ics

    @pytest.mark.parametrize("name", ["\\", "Bob \\", "a\\;b", "x\\:y"])
    def test_backslashes_in_names(self, name: str) -> None:
        event = spec(attendees=[AttendeeSpec(name, "bob@kindred.test")])
        ics = build_invite("REQUEST", [event], NOW)
        ical, vcal = parse_both(ics)
        assert f'ATTENDEE;CN="{name}";'.encode() in ics  # quoted: no backslash escapes in params
        assert vcal.vevent.attendee.params["CN"] == [name]
        assert vcal.vevent.attendee.value == "mailto:bob@kindred.test"
        # icalendar's reader unescapes backslash pairs inside parameters; the address survives.
        assert str(vevents(ical)[0]["ATTENDEE"]) == "mailto:bob@kindred.test"

    def test_emails_and_urls_cannot_break_lines(self) -> None:
        event = spec(
            url="https://kindred.test/g/42?q=a b\r\nX-EVIL:1",
            organizer=OrganizerSpec("Ann", "ann@kindred.test\r\nX-EVIL:1"),
        )
        ics = build_invite("REQUEST", [event], NOW)
        ical, _ = parse_both(ics)
        (parsed,) = vevents(ical)
        assert str(parsed["URL"]) == "https://kindred.test/g/42?q=a%20b%0D%0AX-EVIL:1"
        assert str(parsed["ORGANIZER"]) == "mailto:ann@kindred.test%0D%0AX-EVIL:1"
        assert "X-EVIL" not in parsed

    @pytest.mark.parametrize("prefix", range(55, 80))
    def test_emoji_on_the_fold_boundary(self, prefix: int) -> None:
        summary = "x" * prefix + "😀é😀" + "y" * 20
        ics = build_invite("REQUEST", [spec(summary=summary)], NOW)
        ical, vcal = parse_both(ics)
        assert str(vevents(ical)[0]["SUMMARY"]) == summary
        assert vcal.vevent.summary.value == summary

    def test_ten_kilobyte_description(self) -> None:
        description = ("Ünïcödé; text, with \\ and 🎲 emoji.\r\n" * 300)[:10_000]
        ics = build_invite("REQUEST", [spec(description=description)], NOW)
        ical, vcal = parse_both(ics)
        assert len(description.encode()) > 10_000
        assert str(vevents(ical)[0]["DESCRIPTION"]) == normalised(description)
        assert vcal.vevent.description.value == normalised(description)

    def test_controls_and_lone_surrogates_do_not_crash(self) -> None:
        event = spec(summary="nul\x00 bell\x07 del\x7f tab\t sur\ud800 ok", location="\x1b[31m")
        ical, vcal = parse_both(build_invite("REQUEST", [event], NOW))
        assert str(vevents(ical)[0]["SUMMARY"]) == "nul bell del tab\t sur? ok"
        assert vcal.vevent.location.value == "[31m"

    @settings(max_examples=60, deadline=None)
    @given(
        text=st.text(
            st.characters(exclude_categories=("Cs", "Cc"))
            | st.sampled_from(["\r", "\n", ";", ",", "\\", ":", '"', "😀", "\u2028"]),
            max_size=200,
        )
    )
    def test_any_text_round_trips(self, text: str) -> None:
        event = spec(summary=text, description=text, location=text, organizer=None, attendees=[])
        ical, vcal = parse_both(build_invite("REQUEST", [event], NOW))
        (parsed,) = vevents(ical)
        expected = normalised(text)
        assert str(parsed.get("SUMMARY", "")) == expected
        assert str(parsed.get("DESCRIPTION", "")) == expected
        assert vcal.vevent.summary.value == expected
        assert set(parsed) <= {
            "UID", "DTSTAMP", "SEQUENCE", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION",
            "LOCATION", "URL", "STATUS", "CATEGORIES",
        }  # fmt: skip

    @settings(max_examples=60, deadline=None)
    @given(
        name=st.text(
            # no backslash: icalendar's reader unescapes it in parameters (see the test above)
            st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\\")
            | st.sampled_from(["\r", "\n", ";", ",", ":", '"', "^", "'", "😀", "\u2028"]),
            max_size=120,
        )
    )
    def test_any_name_stays_one_parameter(self, name: str) -> None:
        event = spec(
            organizer=OrganizerSpec(name, "ann@kindred.test"),
            attendees=[AttendeeSpec(name, "bob@kindred.test", "DECLINED")],
        )
        ical, vcal = parse_both(build_invite("REQUEST", [event], NOW))
        (parsed,) = vevents(ical)
        expected = " ".join(normalised(name).replace("\n", " ").split())
        assert parsed["ORGANIZER"].params.get("CN", "") == expected
        (attendee,) = [parsed["ATTENDEE"]]
        assert attendee.params.get("CN", "") == expected
        assert attendee.params["PARTSTAT"] == "DECLINED"
        assert [a.value for a in vcal.vevent.attendee_list] == ["mailto:bob@kindred.test"]
        assert vcal.vevent.organizer.value == "mailto:ann@kindred.test"


class TestSeries:
    """A weekly series with an EXDATE and a moved occurrence."""

    master = spec(
        summary="Weekly chess",
        starts_at=datetime(2027, 3, 11, 18, 0, tzinfo=BERLIN),
        ends_at=datetime(2027, 3, 11, 20, 0, tzinfo=BERLIN),
        rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=5",
        exdates=[datetime(2027, 3, 25, 18, 0, tzinfo=BERLIN)],
        sequence=1,
    )
    moved = spec(
        summary="Weekly chess (moved)",
        recurrence_id=datetime(2027, 4, 1, 18, 0, tzinfo=BERLIN),
        starts_at=datetime(2027, 4, 2, 19, 0, tzinfo=BERLIN),
        ends_at=datetime(2027, 4, 2, 21, 0, tzinfo=BERLIN),
        sequence=2,
    )

    def test_vobject_expands_the_rule_without_the_exdate(self) -> None:
        ics = build_feed("Series", [self.master, self.moved], NOW)
        _, vcal = parse_both(ics)
        master = next(e for e in vcal.vevent_list if not hasattr(e, "recurrence_id"))
        instants = [d.astimezone(UTC) for d in master.getrruleset()]
        # Wall-clock 18:00 in Berlin: 17:00Z before the DST change on 28 March, 16:00Z after.
        assert instants == [
            datetime(2027, 3, 11, 17, 0, tzinfo=UTC),
            datetime(2027, 3, 18, 17, 0, tzinfo=UTC),
            datetime(2027, 4, 1, 16, 0, tzinfo=UTC),
            datetime(2027, 4, 8, 16, 0, tzinfo=UTC),
        ]
        override = next(e for e in vcal.vevent_list if hasattr(e, "recurrence_id"))
        assert override.uid.value == master.uid.value == UID
        assert override.recurrence_id.value == datetime(2027, 4, 1, 18, 0, tzinfo=BERLIN)
        assert override.recurrence_id.value.astimezone(UTC) in instants
        assert override.dtstart.value.astimezone(UTC) == datetime(2027, 4, 2, 17, 0, tzinfo=UTC)

    def test_icalendar_reads_rule_exdate_and_recurrence_id(self) -> None:
        ics = build_invite("REQUEST", [self.master, self.moved], NOW)
        ical, _ = parse_both(ics)
        master, moved = vevents(ical)
        assert master["RRULE"] == {"FREQ": ["WEEKLY"], "BYDAY": ["TH"], "COUNT": [5]}
        assert [d.dt for d in master["EXDATE"].dts] == [datetime(2027, 3, 25, 18, tzinfo=BERLIN)]
        assert master["EXDATE"].params["TZID"] == "Europe/Berlin"
        assert moved["RECURRENCE-ID"].params["TZID"] == "Europe/Berlin"
        assert moved["RECURRENCE-ID"].dt == datetime(2027, 4, 1, 18, tzinfo=BERLIN)
        assert "RRULE" not in moved
        assert ical.get_missing_tzids() == set()

    def test_local_until_becomes_utc(self) -> None:
        master = replace(self.master, rrule="RRULE:FREQ=WEEKLY;UNTIL=20270408T180000", exdates=[])
        ics = build_feed("Series", [master], NOW)
        assert b"RRULE:FREQ=WEEKLY;UNTIL=20270408T160000Z\r\n" in ics
        _, vcal = parse_both(ics)
        assert len(list(vcal.vevent.getrruleset())) == 5

    def test_vtimezone_covers_every_year_of_an_unbounded_series(self) -> None:
        start = datetime(2045, 1, 5, 18, 0, tzinfo=BERLIN)
        master = replace(self.master, rrule="FREQ=MONTHLY", exdates=[], starts_at=start,
                         ends_at=start + timedelta(hours=2))  # fmt: skip
        ics = build_feed("Series", [master], NOW)
        ical, _ = parse_both(ics)
        (vtimezone,) = ical.timezones
        rdates = vtimezone.daylight[0]["RDATE"]
        assert all(len(rdate.dts) == 1 for rdate in rdates)  # one onset per line, see ical.py
        years = {rdate.dts[0].dt.year for rdate in rdates}
        assert min(years) <= VTIMEZONE_YEARS[0] + 1
        assert max(years) == 2045 + UNBOUNDED_SERIES_YEARS
        # vobject caches zones by TZID process-wide, so read this VTIMEZONE on its own.
        tz = tzical(io.StringIO(vtimezone.to_ical().decode())).get()
        assert datetime(2054, 7, 2, 18, tzinfo=tz).utcoffset() == timedelta(hours=2)
        assert datetime(2054, 12, 2, 18, tzinfo=tz).utcoffset() == timedelta(hours=1)

    def test_vtimezone_is_the_same_text_for_every_feed(self) -> None:
        small = build_feed("A", [spec()], NOW)
        series = build_feed("B", [self.master, self.moved], NOW)
        pattern = re.compile(rb"BEGIN:VTIMEZONE\r\n.*?END:VTIMEZONE\r\n", re.S)
        assert pattern.findall(small) == pattern.findall(series)
        assert len(pattern.findall(small)) == 1

    @pytest.mark.parametrize(
        "rule",
        [
            "FREQ=WEEKLY\r\nATTENDEE:mailto:evil@x",
            "garbage",
            "FREQ=FORTNIGHTLY",
            "FREQ=WEEKLY;COUNT=2;UNTIL=20270101T000000Z",
            "FREQ=WEEKLY;X-EVIL=1",
            "FREQ=WEEKLY;BYDAY=ZZ",
            "FREQ=WEEKLY;COUNT=0",
            "FREQ=WEEKLY;INTERVAL=0",
            "FREQ=DAILY;BYHOUR=25",
            "",
        ],
    )
    def test_bad_rules_are_refused(self, rule: str) -> None:
        with pytest.raises(ValueError):
            build_event_fragment(replace(self.master, rrule=rule or " "), NOW)


class TestFeeds:
    """Subscribable feeds: no METHOD, names and refresh hints, assembled from fragments."""

    events = (
        spec(),
        spec(
            uid="g-2@kindred.test",
            timezone="America/New_York",
            starts_at=datetime(2027, 1, 5, 19, tzinfo=NEW_YORK),
            ends_at=datetime(2027, 1, 5, 21, tzinfo=NEW_YORK),
            status="CANCELLED",
            sequence=4,
        ),
        spec(
            uid="g-3@kindred.test",
            timezone="UTC",
            starts_at=datetime(2027, 2, 1, 9, tzinfo=UTC),
            ends_at=datetime(2027, 2, 1, 10, tzinfo=UTC),
        ),
    )

    def test_feed_headers_and_no_method(self) -> None:
        ics = build_feed("Ann's gatherings, Kindred; \\ feed\r\nMETHOD:REQUEST", self.events, NOW)
        ical, vcal = parse_both(ics)
        assert "METHOD" not in ical
        assert not hasattr(vcal, "method")
        assert not re.search(rb"(?m)^METHOD", ics)
        name = "Ann's gatherings, Kindred; \\ feed\nMETHOD:REQUEST"
        escaped = r"Ann's gatherings\, Kindred\; \\ feed\nMETHOD:REQUEST"
        for prop in ("NAME", "X-WR-CALNAME"):
            assert str(ical[prop]) == escaped  # icalendar reads these back raw (vUnknown)
            assert vcal.contents[prop.lower()][0].value == name
        assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in ics
        assert b"\r\nX-PUBLISHED-TTL:PT1H\r\n" in ics
        assert ical["CALSCALE"] == "GREGORIAN"
        assert ical["VERSION"] == "2.0" and "PRODID" in ical

    def test_one_vtimezone_per_zone_and_cancelled_stays(self) -> None:
        ical, vcal = parse_both(build_feed("Feed", self.events, NOW))
        assert sorted(tz.tz_name for tz in ical.timezones) == ["America/New_York", "Europe/Berlin"]
        assert ical.get_missing_tzids() == set()
        assert len(vcal.vtimezone_list) == 2
        statuses = {str(e["UID"]): str(e["STATUS"]) for e in vevents(ical)}
        assert statuses["g-2@kindred.test"] == "CANCELLED"
        starts = {e.uid.value: e.dtstart.value.astimezone(UTC) for e in vcal.vevent_list}
        assert starts["g-2@kindred.test"] == datetime(2027, 1, 6, 0, 0, tzinfo=UTC)

    def test_assembled_from_fragments_equals_fresh_render(self) -> None:
        fragments = [build_event_fragment(e, NOW) for e in self.events]
        assert all(
            f.startswith("BEGIN:VEVENT\r\n") and f.endswith("END:VEVENT\r\n") for f in fragments
        )
        assembled = assemble_feed("Feed", fragments, ["Europe/Berlin", "America/New_York", "UTC"])
        assert assembled == build_feed("Feed", self.events, NOW)
        assert assemble_feed("Feed", fragments, []) == assembled  # zones are read from the text
        assert assemble_feed("Feed", iter(fragments)) == assembled

    def test_fragment_is_deterministic_and_keyed_by_sequence(self) -> None:
        first = build_event_fragment(spec(), NOW)
        assert first == build_event_fragment(spec(), NOW)
        assert "SEQUENCE:0\r\n" in first and f"UID:{UID}\r\n" in first

    def test_empty_feed_is_valid(self) -> None:
        ical, vcal = parse_both(assemble_feed("Empty", []))
        assert vevents(ical) == [] and ical.timezones == []
        assert vcal.contents["x-wr-calname"][0].value == "Empty"

    def test_unknown_zone_in_timezones_is_refused(self) -> None:
        with pytest.raises(ValueError):
            assemble_feed("Feed", [], ["Mars/Olympus_Mons"])


class TestSpecValidation:
    """Specs refuse what would give an invalid or ambiguous VEVENT."""

    @pytest.mark.parametrize(
        "changes",
        [
            {"starts_at": datetime(2026, 12, 3, 18)},
            {"ends_at": datetime(2026, 12, 3, 17, tzinfo=BERLIN)},
            {"timezone": "Mars/Olympus_Mons"},
            {"timezone": "../../etc/passwd"},
            {"timezone": "Europe"},
            {"timezone": "x" * 300},
            {"status": "DONE"},
            {"sequence": -1},
            {"uid": ""},
            {"exdates": [datetime(2026, 12, 10, 18)]},
            {"rrule": "FREQ=DAILY", "recurrence_id": datetime(2026, 12, 3, 18, tzinfo=BERLIN)},
        ],
    )
    def test_invalid_spec(self, changes: dict[str, object]) -> None:
        with pytest.raises(ValueError):
            spec(**changes)

    def test_invalid_partstat(self) -> None:
        with pytest.raises(ValueError):
            AttendeeSpec("Bob", "bob@kindred.test", "MAYBE")


# --------------------------------------------------------------------------- unambiguous times

LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


@pytest.mark.parametrize(
    "tzid",
    [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Asia/Kolkata",
    ],
)
def test_every_vtimezone_onset_is_the_instant_of_the_change_in_the_offset_before_it(tzid) -> None:
    # RFC 5545 §3.6.5: DTSTART and RDATE of an observance are local times in TZOFFSETFROM.
    # icalendar 7.3 writes a spring change at the wall time after it (an hour late).
    (vtimezone,) = icalendar.Calendar.from_ical(
        f"BEGIN:VCALENDAR\r\n{vtimezone_text(tzid, 2000, 2050)}END:VCALENDAR\r\n"
    ).walk("VTIMEZONE")
    tz = ZoneInfo(tzid)
    onsets = 0
    for observance in vtimezone.subcomponents:
        before, after = observance["TZOFFSETFROM"].td, observance["TZOFFSETTO"].td
        if before == after:
            continue
        rdates = observance.get("RDATE", [])
        values = [observance["DTSTART"].dt] + [
            period.dt
            for rdate in (rdates if isinstance(rdates, list) else [rdates])
            for period in rdate.dts
        ]
        for local in values:
            instant = (local - before).replace(tzinfo=UTC)
            assert instant.astimezone(tz).utcoffset() == after, (tzid, local)
            assert (instant - timedelta(seconds=1)).astimezone(tz).utcoffset() == before
            onsets += 1
    assert onsets > 10 or tzid == "Asia/Kolkata"


def test_new_york_spring_onset_is_two_in_the_morning() -> None:
    text = vtimezone_text("America/New_York", 2027, 2027)
    assert "DTSTART:20270314T020000\r\nTZNAME:EDT\r\nTZOFFSETFROM:-0500" in text


def test_a_time_in_a_repeated_hour_is_written_in_utc() -> None:
    second_pass = datetime(2027, 11, 7, 6, 30, tzinfo=UTC)  # 01:30 EST, the second 01:30
    ics = build_invite(
        "REQUEST",
        [
            spec(
                timezone="America/New_York",
                starts_at=second_pass,
                ends_at=second_pass + timedelta(minutes=20),  # 01:50 EST, repeated too
            )
        ],
        NOW,
    )
    assert b"\r\nDTSTART:20271107T063000Z\r\n" in ics
    assert b"\r\nDTEND:20271107T065000Z\r\n" in ics
    (event,) = vevents(icalendar.Calendar.from_ical(ics))
    assert event["DTSTART"].dt == second_pass


def test_a_time_that_occurs_once_stays_local() -> None:
    ics = build_invite("REQUEST", [spec()], NOW)
    assert b"\r\nDTSTART;TZID=Europe/Berlin:20261203T180000\r\n" in ics
    assert b"\r\nDTEND;TZID=Europe/Berlin:20261203T200000\r\n" in ics


def test_a_series_master_lasts_a_duration_instead_of_ending_at_a_local_time() -> None:
    ics = build_invite("REQUEST", [spec(rrule="FREQ=DAILY;COUNT=3")], NOW)
    assert b"\r\nDURATION:PT2H\r\n" in ics
    assert b"DTEND" not in ics


def test_a_cancel_that_removes_one_attendee_has_no_status() -> None:
    removing = build_invite("CANCEL", [spec()], NOW, removes_attendee=True)
    calling_off = build_invite("CANCEL", [spec()], NOW)
    assert b"STATUS" not in removing
    assert b"\r\nSTATUS:CANCELLED\r\n" in calling_off


@pytest.mark.parametrize(
    ("timezone", "first", "instant", "nominal"),
    [
        # Berlin 02:30 daily: 28 March 2027 has no 02:30; Kindred (and RFC 5545) say 03:30
        ("Europe/Berlin", datetime(2027, 3, 26, 2, 30), datetime(2027, 3, 28, 1, 30), "02:30"),
        # New York 01:30: on 7 November 2027 it occurs twice (the first pass is the one)
        ("America/New_York", datetime(2027, 11, 5, 1, 30), datetime(2027, 11, 7, 5, 30), "01:30"),
        # Lord Howe 01:45 on 4 April 2027 (its clocks go back half an hour at 02:00)
        ("Australia/Lord_Howe", datetime(2027, 4, 2, 1, 45), datetime(2027, 4, 3, 14, 45), "01:45"),
        # Berlin 01:30 for 90 minutes on 28 March: the span crosses the change
        ("Europe/Berlin", datetime(2027, 3, 26, 1, 30), datetime(2027, 3, 28, 0, 30), "01:30"),
        # an ordinary evening: readers agree
        ("Europe/Berlin", datetime(2027, 3, 26, 19, 0), datetime(2027, 3, 28, 17, 0), None),
    ],
)
def test_occurrences_readers_disagree_on_are_found_with_their_nominal_time(
    timezone, first, instant, nominal
) -> None:
    tz = ZoneInfo(timezone)
    start = first.replace(tzinfo=tz)
    found = irregular_start(
        instant.replace(tzinfo=UTC), start, start + timedelta(minutes=90), timezone
    )
    assert (found.strftime("%H:%M") if found else None) == nominal


def test_an_irregular_override_is_keyed_by_its_nominal_wall_time_and_timed_in_utc() -> None:
    instant = datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    ics = build_invite(
        "REQUEST",
        [
            spec(
                starts_at=instant,
                ends_at=instant + timedelta(minutes=90),
                recurrence_id=instant,
                recurrence_id_wall=datetime(2027, 3, 28, 2, 30),
                attendees=(),
            )
        ],
        NOW,
    )
    assert b"\r\nRECURRENCE-ID;TZID=Europe/Berlin:20270328T023000\r\n" in ics
    assert b"\r\nDTSTART;TZID=Europe/Berlin:20270328T033000\r\n" in ics
