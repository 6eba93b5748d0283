"""Busy times from a person's own calendar (an ICS feed): only when, never what.

Rules, chosen to match what calendar apps call busy:
- a timed event is busy unless it says TRANSP:TRANSPARENT ("show as free") or
  STATUS:CANCELLED;
- an all-day event (DATE values: birthdays, holidays, "working from Lisbon") is free unless it
  says TRANSP:OPAQUE, as Google and Outlook export the all-day events people mark busy; a busy
  one covers its days from midnight to midnight in the person's time zone;
- floating times (no zone) are read in the person's time zone; recurrences are expanded with
  their EXDATEs, RDATEs and overrides (recurring_ical_events), each in its own zone.
Intervals are merged where they touch or overlap.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from scheduler.domain.errors import InvalidInput

Interval = tuple[datetime, datetime]

MAX_INTERVALS = 5000  # a calendar's busy times kept within the horizon, at most


class UnreadableCalendar(InvalidInput):
    """The document is not an iCalendar file (or not one we can expand)."""


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)


def _is_busy(event: icalendar.Event, all_day: bool) -> bool:
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return False
    transp = str(event.get("TRANSP", "")).upper()
    if all_day:
        return transp == "OPAQUE"
    return transp != "TRANSPARENT"


def busy_intervals(
    document: bytes, start: datetime, end: datetime, zone_name: str
) -> list[Interval]:
    """The busy intervals (UTC, merged, sorted) of an ICS document between `start` and `end`."""
    try:
        calendar = icalendar.Calendar.from_ical(document)
    except ValueError as exc:
        raise UnreadableCalendar("This is not an iCalendar file.") from exc
    zone = ZoneInfo(zone_name)
    try:
        occurrences = recurring_ical_events.of(calendar, components=["VEVENT"]).between(start, end)
    except Exception as exc:  # a broken RRULE or zone in someone else's file
        raise UnreadableCalendar("Its events cannot be read (a broken rule or zone).") from exc
    found: list[Interval] = []
    for event in occurrences:
        begin = event.get("DTSTART")
        if begin is None:
            continue
        all_day = not isinstance(begin.dt, datetime)
        if not _is_busy(event, all_day):
            continue
        finish = event.get("DTEND")
        first = _instant(begin.dt, zone)
        if finish is not None:
            last = _instant(finish.dt, zone)
        elif "DURATION" in event:
            last = first + event.decoded("DURATION")
        else:
            last = first + (timedelta(days=1) if all_day else timedelta(0))
        if last <= first:
            continue
        found.append((max(first, start), min(last, end)))
        if len(found) > MAX_INTERVALS * 4:
            break
    return merge(found)[:MAX_INTERVALS]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals joined."""
    merged: list[Interval] = []
    for begin, finish in sorted(intervals):
        if finish <= begin:
            continue
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def within(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    """The parts of the intervals inside [start, end)."""
    return [
        (max(begin, start), min(finish, end))
        for begin, finish in intervals
        if finish > start and begin < end
    ]
