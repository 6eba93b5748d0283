"""Benchmark: rendering a personal ICS feed of 500 gatherings, against bare icalendar.

Run: .venv/bin/python bench/feeds.py [--events 500] [--repeat 7]

Sections (each a function taking the shared Context; append more to SECTIONS):
  vtimezone  cold cost of the VTIMEZONE text per zone (cached afterwards)
  render     build_feed from scratch vs a bare icalendar Calendar of the same events
  assemble   assemble_feed from cached (UID, SEQUENCE) fragments vs build_feed
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vCalAddress, vRecur

from scheduler.domain import ical
from scheduler.domain.ical import AttendeeSpec, EventSpec, OrganizerSpec

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "UTC",
]
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OVERHEAD_TARGET = 1.3


@dataclass
class Context:
    """What the sections share: arguments, the events, and figures to summarise."""

    events: list[EventSpec]
    repeat: int
    results: dict[str, float] = field(default_factory=dict)


def make_events(count: int, seed: int = 7) -> list[EventSpec]:
    """A personal feed: one-off gatherings in mixed zones plus a few weekly series."""
    rng = random.Random(seed)
    events: list[EventSpec] = []
    organizer = OrganizerSpec("Ann Organizer", "ann@kindred.test")
    series = max(1, count // 50)
    for index in range(count):
        zone_name = ZONES[index % len(ZONES)]
        tz = UTC if zone_name == "UTC" else ZoneInfo(zone_name)
        local = datetime(2026, 11, 2, 18, 0, tzinfo=tz) + timedelta(days=rng.randrange(0, 400))
        start = local.replace(hour=rng.choice([9, 12, 18, 19]), minute=rng.choice([0, 30]))
        spec = EventSpec(
            uid=f"gathering-{index}@kindred.test",
            sequence=rng.randrange(0, 4),
            summary=f"Gathering {index}: board games, chess; and tea ☕",
            description=("Bring a game, or two; snacks welcome.\nAll levels, no fees. " * 4),
            location=f"Community hall {index % 17}, Main Street {index}",
            url=f"https://kindred.test/gatherings/{index}",
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            timezone=zone_name,
            status="CANCELLED" if index % 40 == 0 else "CONFIRMED",
            organizer=organizer,
            attendees=[
                AttendeeSpec(f"Member {index}-{k}", f"m{index}.{k}@example.org", "ACCEPTED")
                for k in range(3)
            ],
            categories=["board games", "social"],
        )
        if index < series:
            spec = replace(spec, rrule="FREQ=WEEKLY;COUNT=12", exdates=[start + timedelta(weeks=2)])
            moved_from = start + timedelta(weeks=3)
            events.append(spec)
            events.append(
                replace(
                    spec,
                    rrule=None,
                    exdates=[],
                    recurrence_id=moved_from,
                    starts_at=moved_from + timedelta(hours=1),
                    ends_at=moved_from + timedelta(hours=3),
                    sequence=spec.sequence + 1,
                )
            )
            continue
        events.append(spec)
    return events[:count]


def _local(value: datetime, zone_name: str) -> datetime:
    """The datetime in the event's zone, as the bare baseline renders it."""
    return value.astimezone(UTC if zone_name == "UTC" else ZoneInfo(zone_name))


def bare_icalendar_feed(events: list[EventSpec], zones: dict[str, Timezone]) -> bytes:
    """Baseline: the same VCALENDAR with plain icalendar calls, no sanitising, no caching."""
    calendar = Calendar()
    calendar.add("PRODID", "-//Bench//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("X-WR-CALNAME", "Bench")
    for zone in zones.values():
        calendar.add_component(zone)
    for spec in events:
        event = Event()
        event.add("UID", spec.uid)
        event.add("DTSTAMP", NOW)
        event.add("SEQUENCE", spec.sequence)
        if spec.recurrence_id is not None:
            event.add("RECURRENCE-ID", _local(spec.recurrence_id, spec.timezone))
        event.add("DTSTART", _local(spec.starts_at, spec.timezone))
        event.add("DTEND", _local(spec.ends_at, spec.timezone))
        event.add("SUMMARY", spec.summary)
        event.add("DESCRIPTION", spec.description)
        event.add("LOCATION", spec.location)
        event.add("URL", spec.url)
        event.add("STATUS", spec.status)
        if spec.organizer is not None:
            event.add("ORGANIZER", vCalAddress.new(spec.organizer.email, cn=spec.organizer.name))
        for attendee in spec.attendees:
            address = vCalAddress.new(
                attendee.email,
                cn=attendee.name,
                partstat=attendee.partstat,
                role="REQ-PARTICIPANT",
                rsvp=True,
            )
            event.add("ATTENDEE", address)
        event.add("CATEGORIES", list(spec.categories))
        if spec.rrule:
            event.add("RRULE", vRecur.from_ical(spec.rrule))
            event.add("EXDATE", [_local(d, spec.timezone) for d in spec.exdates])
        calendar.add_component(event)
    return calendar.to_ical()


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best and median wall time of fn over `repeat` runs, in seconds."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return min(runs), statistics.median(runs)


def ms(seconds: float) -> str:
    """Seconds as a right-aligned millisecond figure."""
    return f"{seconds * 1000:9.2f} ms"


def section_vtimezone(ctx: Context) -> None:
    """Cold VTIMEZONE text per zone (lru_cache emptied first), then the cached lookup."""
    print("== vtimezone: VTIMEZONE text per zone ==")
    zones = sorted({e.timezone for e in ctx.events} - {"UTC"})
    first, last = ical.VTIMEZONE_YEARS
    ical.vtimezone_text.cache_clear()
    start = time.perf_counter()
    for zone in zones:
        ical.vtimezone_text(zone, first, last)
    cold = time.perf_counter() - start
    best, _ = timed(lambda: [ical.vtimezone_text(z, first, last) for z in zones], 50)
    size = sum(len(ical.vtimezone_text(z, first, last)) for z in zones)
    print(f"  {len(zones)} zones, {first}-{last}, {size} bytes in total")
    print(f"  cold (all zones)   {ms(cold)}")
    print(f"  cached (all zones) {ms(best)}")
    ctx.results["vtimezone_cold"] = cold


def section_render(ctx: Context) -> None:
    """Cold feed render (no fragment cache) vs bare icalendar, interleaved runs."""
    print(f"== render: {len(ctx.events)} events, no fragment cache ==")
    first, last = ical.VTIMEZONE_YEARS
    zone_names = sorted({e.timezone for e in ctx.events} - {"UTC"})
    zones = {
        z: Timezone.from_tzid(z, first_date=date(first, 1, 1), last_date=date(last + 1, 1, 1))
        for z in zone_names
    }  # built outside the timing, like our warm VTIMEZONE cache
    ours_runs: list[float] = []
    bare_runs: list[float] = []
    ours = bare = b""
    for _ in range(ctx.repeat):
        start = time.perf_counter()
        ours = ical.build_feed("Bench", ctx.events, NOW)
        ours_runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare = bare_icalendar_feed(ctx.events, zones)
        bare_runs.append(time.perf_counter() - start)
    ratio_best = min(ours_runs) / min(bare_runs)
    ratio_median = statistics.median(ours_runs) / statistics.median(bare_runs)
    bare_best, bare_median = min(bare_runs), statistics.median(bare_runs)
    ours_best, ours_median = min(ours_runs), statistics.median(ours_runs)
    verdict = "ok" if ratio_median <= OVERHEAD_TARGET else "OVER TARGET"
    print(
        f"  bare icalendar Calendar  best {ms(bare_best)}  median {ms(bare_median)}  {len(bare)} B"
    )
    print(
        f"  ical.build_feed          best {ms(ours_best)}  median {ms(ours_median)}  {len(ours)} B"
    )
    print(f"  overhead ratio           best {ratio_best:8.2f}x     median {ratio_median:8.2f}x")
    print(f"  target <= {OVERHEAD_TARGET}x (median): {verdict}")
    ctx.results["render_bare"] = statistics.median(bare_runs)
    ctx.results["render_ours"] = statistics.median(ours_runs)
    ctx.results["render_ratio"] = ratio_median


def section_assemble(ctx: Context) -> None:
    """Feed assembled from cached fragments vs a full render."""
    print("== assemble: from cached (UID, SEQUENCE) fragments ==")
    start = time.perf_counter()
    fragments = [ical.build_event_fragment(e, NOW) for e in ctx.events]
    render_fragments = time.perf_counter() - start
    zones = {e.timezone for e in ctx.events}
    best, median = timed(lambda: ical.assemble_feed("Bench", fragments, zones), ctx.repeat * 3)
    feed = ical.assemble_feed("Bench", fragments, zones)
    assert feed == ical.build_feed("Bench", ctx.events, NOW)
    full = (
        ctx.results.get("render_ours")
        or timed(lambda: ical.build_feed("Bench", ctx.events, NOW), ctx.repeat)[1]
    )
    print(f"  render {len(fragments)} fragments once   {ms(render_fragments)}")
    print(f"  assemble_feed            best {ms(best)}  median {ms(median)}  {len(feed)} B")
    print(f"  speed-up vs full render    {full / median:8.1f}x")
    ctx.results["assemble"] = median


SECTIONS: list[Callable[[Context], None]] = [section_vtimezone, section_render, section_assemble]


def main(argv: list[str] | None = None) -> int:
    """Run every section and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    ctx = Context(events=make_events(args.events), repeat=args.repeat)
    series = sum(1 for e in ctx.events if e.rrule)
    print(f"feed: {len(ctx.events)} events, {series} series, zones: {', '.join(ZONES)}")
    for section in SECTIONS:
        section(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
