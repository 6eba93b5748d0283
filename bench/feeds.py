"""Benchmark: rendering a personal ICS feed of 500 gatherings, against bare icalendar.

Run: .venv/bin/python bench/feeds.py [--events 500] [--repeat 7] [--only http]

Sections (each a function taking the shared Context; append more to SECTIONS):
  vtimezone  cold cost of the VTIMEZONE text per zone (cached afterwards)
  render     build_feed from scratch vs a bare icalendar Calendar of the same events
  assemble   assemble_feed from cached (UID, SEQUENCE) fragments vs build_feed
  http       the personal feed through the real app under gunicorn (2 sync workers):
             the 304 path and the cached 200 in requests/s against a Flask hello-world
             served by the same gunicorn settings in the same run

The http section sends every request, the hello-world's included, with the headers a
calendar app's subscription fetcher sends (CLIENT_HEADERS): Google, Apple, Outlook and
Thunderbird all ask for `Accept-Encoding: gzip`, so the cached 200 they get is the gzip
variant stored beside the plain text. A poll with no Accept-Encoding (the plain 235 kB
text) is measured as well and printed for information; it has no target.
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
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


# --- HTTP: the feed endpoint through the real app under gunicorn, against a hello-world ----
HTTP_TARGET = 1.5
# each case is measured in this many turns, the cases taking turns (see _interleaved)
HTTP_ROUNDS = 5
# What a calendar app's feed fetcher sends on every poll (If-None-Match is added for the
# 304 path); the hello-world gets the same headers.
CLIENT_HEADERS = {
    "User-Agent": "Kindred-bench calendar-client/1.0",
    "Accept": "text/calendar, */*;q=0.8",
    "Accept-Encoding": "gzip, deflate, br",
}
HELLO_APP = """
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "hello"
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hammer(port: int, request: bytes, seconds: float, counter: Any) -> None:
    """One client process: sequential requests on fresh connections (gunicorn sync closes).

    Adds its requests per second, timed from its own start, to `counter`."""
    import socket

    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request)
            while sock.recv(262144):
                pass
        done += 1
    with counter.get_lock():
        counter.value += done / (time.perf_counter() - start)


def _requests_per_second(port: int, path: str, headers: dict[str, str], seconds: float) -> float:
    """Requests/s with two client processes (one per core) for `seconds`."""
    import multiprocessing

    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    counter = multiprocessing.Value("d", 0.0)
    clients = [
        multiprocessing.Process(target=_hammer, args=(port, request, seconds, counter))
        for _ in range(2)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    return float(counter.value)


def _interleaved(
    cases: dict[str, tuple[int, str, dict[str, str]]], seconds: float, rounds: int
) -> dict[str, float]:
    """Requests/s of each case, measured in `rounds` short turns taken in turn, so that every
    case, the baseline included, sees the same machine (a busy spell hits all alike)."""
    totals = dict.fromkeys(cases, 0.0)
    for _ in range(rounds):
        for name, (port, path, headers) in cases.items():
            totals[name] += _requests_per_second(port, path, headers, seconds / rounds)
    return {name: total / rounds for name, total in totals.items()}


def _gunicorn(app_spec: str, port: int, env: dict[str, str], cwd: str) -> Any:
    """gunicorn as the Procfile runs it (sync workers, WEB_CONCURRENCY=2), minus the access log."""
    import subprocess
    import urllib.request

    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", app_spec, "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--log-level", "warning"],
        env=env, cwd=cwd,
    )  # fmt: skip
    deadline = time.perf_counter() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except Exception as exc:
            if getattr(exc, "code", None) == 404:  # the hello-world app has no /healthz
                return process
            if time.perf_counter() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"gunicorn {app_spec} did not start") from exc
            time.sleep(0.2)


def _seed_feed(database_url: str, secret: str, count: int) -> str:
    """A user who organizes `count` gatherings in mixed zones; returns their feed token."""
    import uuid

    from sqlalchemy.orm import sessionmaker

    from scheduler.extensions import make_engine
    from scheduler.models import Base, Gathering, GatheringStatus
    from scheduler.services.accounts.identity import PasswordPolicy, create_user, current_feed_token

    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    session = sessionmaker(bind=engine)()
    user = create_user(
        session, email="bench@example.org", name="Bench", password="correct horse battery",
        secret_key=secret, policy=PasswordPolicy(time_cost=1, memory_cost=1024),
    )  # fmt: skip
    rng = random.Random(11)
    for index in range(count):
        start = NOW + timedelta(days=rng.randrange(1, 400), hours=rng.randrange(0, 24))
        session.add(
            Gathering(
                uid=f"{uuid.uuid4()}@kindred.test", title=f"Gathering {index}: board games",
                description="Bring a game; we have snacks.\nSecond line.",
                location=f"Community room {index % 7}", organizer_id=user.id,
                timezone=ZONES[index % len(ZONES)], duration_minutes=120,
                status=GatheringStatus.CANCELLED if index % 40 == 0 else GatheringStatus.SCHEDULED,
                starts_at=start, ends_at=start + timedelta(hours=2), sequence=index % 3,
            )
        )  # fmt: skip
    session.commit()
    token = current_feed_token(user, secret)
    session.close()
    engine.dispose()
    return token


def section_http(ctx: Context) -> None:
    """The personal feed over HTTP (304 and cached 200) vs a Flask hello-world, same gunicorn."""
    import os
    import tempfile
    import urllib.request
    from pathlib import Path

    from scheduler.config import PROJECT_ROOT
    from scheduler.embedded_postgres import ensure_embedded_postgres, stop_embedded_postgres
    from scheduler.embedded_redis import ensure_embedded_redis, stop_embedded_redis

    seconds = max(2.0, ctx.repeat * 0.5)
    count = len(ctx.events)
    print(f"== http: personal feed of {count} gatherings via gunicorn (2 sync workers) ==")
    root = Path(tempfile.mkdtemp(prefix="kindred-bench-"))
    secret = "bench-secret"
    database_url = ensure_embedded_postgres(root / "postgres")
    redis_url = ensure_embedded_redis(root / "redis")
    token = _seed_feed(database_url, secret, count)
    (root / "hello.py").write_text(HELLO_APP)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY=secret,
        BASE_URL="http://kindred.test", KINDRED_INSTANCE_PATH=str(root / "instance"),
        PYTHONPATH=f"{PROJECT_ROOT}{os.pathsep}{root}",
    )  # fmt: skip
    app_port, hello_port = _free_port(), _free_port()
    servers = [
        _gunicorn("wsgi:app", app_port, env, str(PROJECT_ROOT)),
        _gunicorn("hello:app", hello_port, env, str(root)),
    ]
    try:
        path = f"/feeds/{token}.ics"
        url = f"http://127.0.0.1:{app_port}{path}"
        start = time.perf_counter()
        with urllib.request.urlopen(url) as response:
            body = response.read()
        cold = time.perf_counter() - start
        # what a calendar app gets: the gzip variant, which must be the same text
        with urllib.request.urlopen(urllib.request.Request(url, headers=CLIENT_HEADERS)) as r:
            assert r.headers["Content-Encoding"] == "gzip", r.headers
            compressed = r.read()
            etag = r.headers["ETag"]
        assert gzip.decompress(compressed) == body
        plain_headers = {k: v for k, v in CLIENT_HEADERS.items() if k != "Accept-Encoding"}
        rates = _interleaved(
            {
                "hello": (hello_port, "/", CLIENT_HEADERS),
                "304": (app_port, path, {**CLIENT_HEADERS, "If-None-Match": etag}),
                "cached": (app_port, path, CLIENT_HEADERS),
                "plain": (app_port, path, plain_headers),
            },
            seconds,
            rounds=HTTP_ROUNDS,
        )
        hello, not_modified, cached, plain = (rates[k] for k in ("hello", "304", "cached", "plain"))
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
        stop_embedded_redis(root / "redis")
        stop_embedded_postgres(root / "postgres")
    print(f"  cold first request (render + cache)  {ms(cold)}  {len(body)} B "
          f"({len(compressed)} B gzipped)")  # fmt: skip
    print(f"  {seconds:.1f} s per case in {HTTP_ROUNDS} interleaved turns, 2 client processes")
    print(f"  hello-world        {hello:9.0f} req/s")
    for label, rate in (("304 If-None-Match", not_modified), ("cached 200 gzip", cached)):
        ratio = hello / rate if rate else float("inf")
        verdict = "ok" if ratio <= HTTP_TARGET else "OVER TARGET"
        print(f"  {label:18} {rate:9.0f} req/s  hello/this {ratio:5.2f}x  target <= "
              f"{HTTP_TARGET}x: {verdict}")  # fmt: skip
    ratio = hello / plain if plain else float("inf")
    print(f"  {'cached 200 plain':18} {plain:9.0f} req/s  hello/this {ratio:5.2f}x  "
          f"(no Accept-Encoding; for information)")  # fmt: skip
    ctx.results.update(
        http_hello=hello, http_304=not_modified, http_cached=cached, http_plain=plain
    )


SECTIONS.append(section_http)


def main(argv: list[str] | None = None) -> int:
    """Run every section and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--only", action="append", metavar="SECTION", help="run only these sections (repeatable)"
    )
    args = parser.parse_args(argv)
    ctx = Context(events=make_events(args.events), repeat=args.repeat)
    series = sum(1 for e in ctx.events if e.rrule)
    print(f"feed: {len(ctx.events)} events, {series} series, zones: {', '.join(ZONES)}")
    for section in SECTIONS:
        if args.only is None or section.__name__.removeprefix("section_") in args.only:
            section(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
