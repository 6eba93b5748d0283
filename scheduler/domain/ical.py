"""iCalendar (RFC 5545) text for invites and feeds, built with the icalendar library.

Pure: no Flask, SQLAlchemy or Redis; the clock is passed in. Feeds are assembled from
per-event VEVENT fragments that callers cache by (UID, SEQUENCE), plus VTIMEZONE text
cached here per (TZID, year span).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from icalendar import (
    Calendar,
    Event,
    Parameters,
    Timezone,
    vCalAddress,
    vDuration,
    vRecur,
    vText,
    vUri,
)

from scheduler.domain.date_bounds import FIRST_YEAR, LAST_YEAR, is_representable
from scheduler.domain.language import translate
from scheduler.domain.timezones import known_timezones

__all__ = [
    "ATTENDEE_PARTSTATS",
    "EVENT_STATUSES",
    "ITIP_METHODS",
    "PRODID",
    "VTIMEZONE_YEARS",
    "AttendeeSpec",
    "EventSpec",
    "OrganizerSpec",
    "assemble_feed",
    "build_event_fragment",
    "build_feed",
    "build_invite",
    "irregular_start",
    "vtimezone_text",
    "zone",
]

PRODID = "-//Kindred//Kindred Scheduler//EN"
EVENT_STATUSES = frozenset({"CONFIRMED", "CANCELLED", "TENTATIVE"})
ATTENDEE_PARTSTATS = frozenset({"ACCEPTED", "TENTATIVE", "DECLINED", "NEEDS-ACTION"})
ITIP_METHODS = frozenset({"REQUEST", "CANCEL", "PUBLISH"})
FEED_REFRESH = timedelta(hours=1)
# VTIMEZONEs cover at least these years (inclusive), widened only for dates outside them. One
# fixed span means one cached text per zone, and clients (and vobject) that cache a zone by
# TZID from the first file they read never get a definition too narrow for later files.
VTIMEZONE_YEARS = (2000, 2050)
# A series without UNTIL has no last date in its text; its zones then cover this many years
# past the latest DTSTART.
UNBOUNDED_SERIES_YEARS = 10
# No VTIMEZONE reaches past the years of date_bounds (with a year's margin for times derived
# from an input, such as an end): whatever text a fragment holds, a feed can be assembled.
_VTIMEZONE_LIMITS = (FIRST_YEAR - 1, LAST_YEAR + 1)

_RRULE_PARTS = frozenset(
    {
        "FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY",
        "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST",
    }
)  # fmt: skip
_RRULE_FREQS = frozenset({"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
# Everything Python's str.splitlines() treats as a line break becomes one escaped newline,
# so no parser, however lenient, can see a new content line in user text.
_LINE_BREAKS = re.compile("\r\n|[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~-._"
# Date-bearing lines and RRULEs of our own VEVENT fragments, read without unfolding: user text
# cannot start a line (its line breaks are escaped, its folds start with a space), and the
# year always sits within the first 75 octets of these lines (longest: RECURRENCE-ID;TZID=
# plus a 32-character zone name).
_DATE_OR_RULE_LINE = re.compile(
    r"\n(?:(DTSTART|DTEND|RECURRENCE-ID|EXDATE)(?:;TZID=([^:;\r\n]+))?[^:\r\n]*:(\d{4})"
    r"|RRULE:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*))"
)
_UNTIL_YEAR = re.compile(r"UNTIL=(\d{4})")


@dataclass(frozen=True, slots=True)
class OrganizerSpec:
    """The organizer of a gathering, as shown in ORGANIZER."""

    name: str
    email: str


@dataclass(frozen=True, slots=True)
class AttendeeSpec:
    """One ATTENDEE of a gathering with its participation status."""

    name: str
    email: str
    partstat: str = "NEEDS-ACTION"

    def __post_init__(self) -> None:
        """Reject an unknown PARTSTAT."""
        if self.partstat not in ATTENDEE_PARTSTATS:
            raise ValueError(f"unknown partstat {self.partstat!r}")


@dataclass(frozen=True, slots=True)
class EventSpec:
    """Everything one VEVENT says: a gathering, a series master or an occurrence override."""

    uid: str
    sequence: int
    summary: str
    starts_at: datetime
    ends_at: datetime
    timezone: str = "UTC"
    description: str = ""
    location: str = ""
    url: str | None = None
    # the video call link (RFC 7986 CONFERENCE, and a line of the description), given only
    # in what its organizers and people going receive
    conference_url: str = ""
    # None: no STATUS at all (a CANCEL that removes one attendee, RFC 5546 §3.2.5)
    status: str | None = "CONFIRMED"
    organizer: OrganizerSpec | None = None
    attendees: Sequence[AttendeeSpec] = ()
    categories: Sequence[str] = ()
    rrule: str | None = None
    exdates: Sequence[datetime] = ()
    recurrence_id: datetime | None = None
    # an override of an occurrence readers disagree on (see irregular_start): RECURRENCE-ID is
    # this nominal wall time (TZID), which every reader matches to its own reading of the rule
    recurrence_id_wall: datetime | None = None
    last_modified: datetime | None = None
    # the language of the human text Kindred adds (the "Join online" line and label): the
    # recipient's for an invite, the owner's for a personal feed
    locale: str = "en"

    def __post_init__(self) -> None:
        """Check what would otherwise yield an invalid or ambiguous VEVENT."""
        if not self.uid:
            raise ValueError("uid is empty")
        if self.sequence < 0:
            raise ValueError("sequence is negative")
        if self.status is not None and self.status not in EVENT_STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        for name in ("starts_at", "ends_at", "recurrence_id", "last_modified"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} has no UTC offset")
        if any(d.utcoffset() is None for d in self.exdates):
            raise ValueError("exdates need a UTC offset")
        for value in (self.starts_at, self.ends_at, self.recurrence_id, *self.exdates):
            if value is not None and not is_representable(value):
                raise ValueError(f"{value.isoformat()} is outside the years Kindred keeps")
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at")
        if self.rrule is not None and self.recurrence_id is not None:
            raise ValueError("an occurrence override (recurrence_id) has no rrule")
        zone(self.timezone)


def zone(name: str) -> tzinfo:
    """The tzinfo for an IANA name; 'UTC' gives datetime.UTC (rendered with Z, no TZID)."""
    if name == "UTC":
        return UTC
    return _zoneinfo(name)


@lru_cache(maxsize=512)
def _zoneinfo(name: str) -> ZoneInfo:
    """ZoneInfo lookup raising ValueError for an unknown or malformed name."""
    if name not in known_timezones():
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "Europe", too long
        raise ValueError(f"unknown time zone {name!r}") from exc


def _text(value: str) -> vText:
    """User text as a TEXT value: line breaks unified to one newline, controls dropped."""
    if not (value.isascii() and value.isprintable()):
        value = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
        value = _CONTROLS.sub("", _LINE_BREAKS.sub("\n", value))
    return vText(value)


def _param(value: str) -> str:
    """User text as a parameter value (CN): one line, no control characters."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return " ".join(_CONTROLS.sub("", _LINE_BREAKS.sub(" ", value)).split())


def _uri(value: str) -> str:
    """A URI with anything unsafe in a content line (controls, space, quotes) %-encoded."""
    return quote(value.strip(), safe=_URI_SAFE)


class _QuotedCN(Parameters):
    """Parameters that always quote CN, as Outlook and Google do.

    Unquoted, a CN ending in a backslash (``CN=\\:mailto:...``) is misread by icalendar's own
    parser as an escaped colon.
    """

    always_quoted = (*Parameters.always_quoted, "CN")


def _address(email: str, name: str, **params: object) -> vCalAddress:
    """A mailto: calendar address with a sanitised, quoted CN."""
    cn = _param(name)
    address = vCalAddress.new(_uri(email), cn=cn or None, **params)  # type: ignore[arg-type]
    address.params = _QuotedCN(address.params)
    return address


def _recur(text: str, start: datetime) -> vRecur:
    """Parse and check RRULE text; UNTIL is normalised to UTC as RFC 5545 requires."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or not body.isprintable() or " " in body:
        raise ValueError(f"invalid RRULE {text!r}")
    recur = vRecur.from_ical(body)
    keys = {key.upper() for key in recur}
    if not keys <= _RRULE_PARTS or recur.get("FREQ", [None])[0] not in _RRULE_FREQS:
        raise ValueError(f"invalid RRULE {text!r}")
    if {"UNTIL", "COUNT"} <= keys:
        raise ValueError("RRULE has both UNTIL and COUNT")
    if "UNTIL" in recur:
        until = recur["UNTIL"][0]
        if not isinstance(until, datetime):
            until = datetime.combine(until, datetime.max.time().replace(microsecond=0))
        if until.tzinfo is None:
            until = until.replace(tzinfo=start.tzinfo)
        try:
            until = until.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError(f"invalid RRULE {text!r}") from exc
        if not is_representable(until):
            raise ValueError(f"RRULE UNTIL {until.isoformat()} is outside the years Kindred keeps")
        recur["UNTIL"] = [until]
    if any(recur.get(part, [1])[0] < 1 for part in ("COUNT", "INTERVAL")):
        raise ValueError(f"invalid RRULE {text!r}")
    try:  # what dateutil (behind vobject and many readers) cannot read, we do not send
        rrulestr(recur.to_ical().decode("ascii"), dtstart=start)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"invalid RRULE {text!r}") from exc
    return recur


def _local(value: datetime, tz: tzinfo) -> datetime:
    """An aware datetime in the event's zone, whole seconds (iCalendar has no fractions)."""
    return value.astimezone(tz).replace(microsecond=0)


def _is_ambiguous(local: datetime) -> bool:
    """True when the wall time occurs twice in its zone (the hour a clock is set back)."""
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


def _unambiguous(value: datetime, tz: tzinfo) -> datetime:
    """The instant in the event's zone, or in UTC where that wall time occurs twice.

    A local time in a repeated hour names two instants, and readers disagree on which one
    (libical, ical.js, sabre and node-ical take the second); UTC names exactly one. An
    instant never falls in a skipped hour, so the local text is otherwise unique.
    """
    local = _local(value, tz)
    return local.astimezone(UTC) if _is_ambiguous(local) else local


def irregular_start(
    instant: datetime, first_start: datetime, first_end: datetime, timezone: str
) -> datetime | None:
    """The nominal wall time (naive) of a series' occurrence at `instant` that readers of
    the RRULE would disagree on, or None when they all agree on it.

    Readers agree on wall times that occur once and on spans that wall-clock arithmetic does
    not stretch. Not on a start in a skipped hour (RFC 5545 moves it forward by the gap;
    ical.js back), nor in a repeated hour (RFC: the first pass; ical.js: the second), nor on
    an exact DURATION across a change (recurring_ical_events adds it to the wall time). Such
    an occurrence is written as an override whose RECURRENCE-ID is the nominal wall time,
    which each reader matches to its own reading, with DTSTART and DTEND in UTC; cancelled,
    it is an EXDATE at the nominal wall time.
    """
    tz = zone(timezone)
    if tz is UTC:
        return None
    first = _local(first_start, tz)
    length = first_end - first_start
    local = _local(instant, tz)
    nominal = datetime.combine(local.date(), first.time(), tzinfo=tz)
    wall_end = (nominal.replace(tzinfo=None) + length).replace(tzinfo=tz)
    if (
        nominal.replace(tzinfo=None) == local.replace(tzinfo=None)
        and not _is_ambiguous(nominal)
        and not _is_ambiguous(wall_end)
        and wall_end.astimezone(UTC) == instant.astimezone(UTC) + length
    ):
        return None
    return nominal.replace(tzinfo=None)


def _vevent(spec: EventSpec, now: datetime) -> Event:
    """The icalendar Event for one spec."""
    tz = zone(spec.timezone)
    event = Event()
    event.add("UID", _text(spec.uid))
    event.add("DTSTAMP", now.astimezone(UTC).replace(microsecond=0))
    event.add("SEQUENCE", spec.sequence)
    if spec.recurrence_id_wall is not None:
        event.add("RECURRENCE-ID", spec.recurrence_id_wall.replace(tzinfo=tz))
    elif spec.recurrence_id is not None:
        event.add("RECURRENCE-ID", _unambiguous(spec.recurrence_id, tz))
    if spec.rrule:
        # The master's DTSTART is the rule's wall-clock anchor, so it stays local; each
        # occurrence lasts the exact DURATION (a local DTEND could fall in a repeated hour).
        event.add("DTSTART", _local(spec.starts_at, tz))
        event.add("DURATION", _local(spec.ends_at, tz) - _local(spec.starts_at, tz))
    else:
        event.add("DTSTART", _unambiguous(spec.starts_at, tz))
        event.add("DTEND", _unambiguous(spec.ends_at, tz))
    event.add("SUMMARY", _text(spec.summary))
    description = spec.description
    if spec.conference_url:
        # clients that ignore CONFERENCE still show the description
        join = translate(spec.locale, "Join online: %(url)s", url=spec.conference_url)
        description = f"{join}\n\n{description}" if description else join
    if description:
        event.add("DESCRIPTION", _text(description))
    if spec.location:
        event.add("LOCATION", _text(spec.location))
    if spec.url:
        event.add("URL", _uri(spec.url))
    if spec.conference_url:
        event.add(
            "CONFERENCE",
            vUri(_uri(spec.conference_url)),
            parameters={
                "VALUE": "URI",
                "FEATURE": "VIDEO",
                "LABEL": translate(spec.locale, "Join online"),
            },
        )
    if spec.status is not None:
        event.add("STATUS", spec.status)
    if spec.organizer is not None:
        event.add("ORGANIZER", _address(spec.organizer.email, spec.organizer.name))
    for attendee in spec.attendees:
        event.add(
            "ATTENDEE",
            _address(
                attendee.email,
                attendee.name,
                partstat=attendee.partstat,
                role="REQ-PARTICIPANT",
                rsvp=True,
            ),
        )
    categories = [_text(c) for c in spec.categories if c]
    if categories:
        event.add("CATEGORIES", categories)
    if spec.rrule:
        event.add("RRULE", _recur(spec.rrule, _local(spec.starts_at, tz)))
        exdates = []
        for instant in spec.exdates:
            nominal = irregular_start(instant, spec.starts_at, spec.ends_at, spec.timezone)
            exdates.append(nominal.replace(tzinfo=tz) if nominal else _unambiguous(instant, tz))
        # one value type per line: the local ones share a TZID, UTC ones have none
        local = sorted({d for d in exdates if d.tzinfo is not UTC})
        for group in (local, sorted({d for d in exdates if d.tzinfo is UTC})):
            if group:
                event.add("EXDATE", group)
    if spec.last_modified is not None:
        event.add("LAST-MODIFIED", spec.last_modified.astimezone(UTC).replace(microsecond=0))
    return event


def build_event_fragment(event: EventSpec, now: datetime) -> str:
    """One VEVENT as folded CRLF text (DTSTAMP = now), to be cached by (UID, SEQUENCE)."""
    return _vevent(event, now).to_ical().decode("utf-8")


@lru_cache(maxsize=1024)
def vtimezone_text(tzid: str, first_year: int, last_year: int) -> str:
    """The VTIMEZONE for an IANA zone covering first_year..last_year inclusive (cached)."""
    _zoneinfo(tzid)
    component = Timezone.from_tzid(
        tzid, first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1)
    )
    zoneinfo = _zoneinfo(tzid)
    for observance in component.subcomponents:
        before = observance["TZOFFSETFROM"].td
        after = observance["TZOFFSETTO"].td
        observance["DTSTART"].dt = _onset(observance["DTSTART"].dt, before, after, zoneinfo)
        # One onset per RDATE line: some readers (vobject 0.9.9 among them) keep only the
        # first value of a multi-valued RDATE in a VTIMEZONE and then get every later year
        # wrong.
        rdates = observance.pop("RDATE", [])
        for rdate in rdates if isinstance(rdates, list) else [rdates]:
            for onset in rdate.dts:
                observance.add("RDATE", _onset(onset.dt, before, after, zoneinfo))
    return component.to_ical().decode("utf-8")


def _onset(written: datetime, before: timedelta, after: timedelta, tz: ZoneInfo) -> datetime:
    """An observance's onset as RFC 5545 §3.6.5 wants it: the local time of the change in
    the offset in force before it (TZOFFSETFROM).

    icalendar 7.3 (`Timezone.from_tzid`) writes the wall time after the change when clocks
    go forward (New York's DAYLIGHT onset 03:00 with TZOFFSETFROM -0500: 08:00Z, an hour
    late), so a reader converting through the file is off for an hour after each change.
    Whichever reading of the written value is the zone's real transition gives the onset.
    """
    for offset in (before, after):
        instant = (written - offset).replace(tzinfo=UTC)
        second = timedelta(seconds=1)
        if (
            instant.astimezone(tz).utcoffset() == after
            and (instant - second).astimezone(tz).utcoffset() == before
        ):
            return (instant + before).replace(tzinfo=None)
    return written


def _zones_used(body: str) -> tuple[set[str], tuple[int, int]]:
    """TZIDs referenced by VEVENT text, and the span of years their VTIMEZONEs must cover."""
    tzids: set[str] = set()
    low, high = VTIMEZONE_YEARS
    latest_start = low
    unbounded = False
    for name, tzid, year_text, rule in _DATE_OR_RULE_LINE.findall(body):
        if not name:
            until = _UNTIL_YEAR.search(rule.replace("\r\n ", "").replace("\r\n\t", ""))
            if until is None:  # COUNT or unbounded: the end is unknown without expanding
                unbounded = True
            else:
                high = max(high, int(until.group(1)))
            continue
        year = int(year_text)
        low, high = min(low, year), max(high, year)
        if name == "DTSTART":
            latest_start = max(latest_start, year)
        if tzid and tzid != "UTC":
            tzids.add(tzid)
    if unbounded:
        high = max(high, latest_start + UNBOUNDED_SERIES_YEARS)
    first, last = _VTIMEZONE_LIMITS
    return tzids, (max(low, first), min(high, last))


def _calendar_head(properties: Iterable[tuple[str, object, dict[str, str] | None]]) -> str:
    """The VCALENDAR opening and its properties, as folded CRLF text without END."""
    calendar = Calendar()
    for name, value, parameters in properties:
        calendar.add(name, value, parameters=parameters)
    text = calendar.to_ical().decode("utf-8")
    return text.removesuffix("END:VCALENDAR\r\n")


def _assemble(head: str, fragments: Iterable[str], timezones: Iterable[str]) -> bytes:
    """VCALENDAR text: head, one VTIMEZONE per TZID used, then the VEVENT fragments."""
    body = "".join(fragments)
    tzids, (first_year, last_year) = _zones_used(body)
    for tzid in timezones:
        if tzid != "UTC" and tzid not in tzids:
            _zoneinfo(tzid)
    zones = "".join(vtimezone_text(tzid, first_year, last_year) for tzid in sorted(tzids))
    return (head + zones + body + "END:VCALENDAR\r\n").encode("utf-8")


def build_invite(
    method: str, events: Sequence[EventSpec], now: datetime, *, removes_attendee: bool = False
) -> bytes:
    """An iTIP message (METHOD REQUEST, CANCEL or PUBLISH) for the events of one UID.

    A CANCEL says STATUS:CANCELLED when the event itself is called off; one that only removes
    its recipient (`removes_attendee`: they declined) has no STATUS (RFC 5546 §3.2.5).
    """
    if method not in ITIP_METHODS:
        raise ValueError(f"unknown iTIP method {method!r}")
    if not events:
        raise ValueError("an invite needs at least one event")
    if method == "CANCEL":
        status = None if removes_attendee else "CANCELLED"
        events = [replace(e, status=status) for e in events]
    head = _calendar_head(
        [
            ("PRODID", PRODID, None),
            ("VERSION", "2.0", None),
            ("CALSCALE", "GREGORIAN", None),
            ("METHOD", method, None),
        ]
    )
    fragments = [build_event_fragment(e, now) for e in events]
    return _assemble(head, fragments, (e.timezone for e in events))


def assemble_feed(name: str, fragments: Iterable[str], timezones: Iterable[str] = ()) -> bytes:
    """A subscribable VCALENDAR (no METHOD) from pre-rendered VEVENT fragments.

    Every TZID the fragments use gets its VTIMEZONE (found in the text itself, so a missing
    entry in `timezones` cannot make the feed invalid); `timezones` is checked for validity.
    """
    head = _calendar_head(
        [
            ("PRODID", PRODID, None),
            ("VERSION", "2.0", None),
            ("CALSCALE", "GREGORIAN", None),
            ("NAME", _text(name), None),
            ("X-WR-CALNAME", _text(name), None),
            ("REFRESH-INTERVAL", FEED_REFRESH, {"VALUE": "DURATION"}),
            ("X-PUBLISHED-TTL", vDuration(FEED_REFRESH), None),
        ]
    )
    return _assemble(head, fragments, timezones)


def build_feed(name: str, events: Iterable[EventSpec], now: datetime) -> bytes:
    """A feed rendered from scratch: every event's fragment, then assemble_feed."""
    events = list(events)
    fragments = [build_event_fragment(e, now) for e in events]
    return assemble_feed(name, fragments, {e.timezone for e in events})
