"""Benchmark: CPU per request of a big poll's pages, against baselines in the same run.

Run: .venv/bin/python bench/poll_pages.py [--people 500] [--days 90] [--repeat 15]

Builds the largest poll we support on an embedded PostgreSQL and Redis of its own: 500
participants who each painted 30 spans (30 minutes to 4 hours) over a 90-day window at
15-minute steps, ranked as the worker ranks it; and a scheduled gathering with 500 answers.
Then, through the Flask test client in this process, it measures each request's CPU time
(process time: Flask, Jinja, JSON, the database driver; not the PostgreSQL server's) and
wall time, median of --repeat runs:

  baselines   a Flask hello-world (the floor of any request) and GET /api/v1/gatherings/<id>
              (the plain gathering JSON of the same poll)
  pages       the poll page (/g/<id> while polling) as a participant and as the organizer,
              a later week (?start=), and its refresh slots.json; "cold" runs empty Redis
              before each request, so they include computing the week's heatmap
  gathering   /g/<id> of the scheduled gathering with 500 answers
  API         the JSON API's heatmap (organizer), a week a request: the first week and
              ?since= week 2; for comparison the whole window in one answer, as the endpoint
              answered before it was paged (a bench-only route running the same service and
              schema without the page limit), and a client walking every page
  for info    the JSON API's ranking of the same poll (organizer)

Target: every page at most TARGET_MS of CPU per request (the issue's "about 50 ms"). For
comparison, before the pages were bounded (whole window in one grid, everyone's names in
every cell), this run measured 185 ms for the poll page at 500 people, 320 ms at 200 (names
were listed up to 200 participants) and 106 ms for slots.json (722 kB at 250 people).
The API's heatmap of the whole window measured ~70 ms and 636 kB at 15-minute steps.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MS = 50.0
SPANS_PER_PERSON = 30
SEED = 16
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Case:
    """One request to measure."""

    name: str
    call: Callable[[], Any]
    cold: bool = False  # empty Redis before each run
    kind: str = "page"  # "baseline", "page" (has the target), "before" or "info"


def measure(
    call: Callable[[], Any], repeat: int, before: Callable[[], None] | None
) -> tuple[float, float, int]:
    """(median CPU ms, median wall ms, bytes) over `repeat` runs of a request."""
    cpu: list[float] = []
    wall: list[float] = []
    size = 0
    for _ in range(repeat):
        if before is not None:
            before()
        c0, w0 = time.process_time(), time.perf_counter()
        response = call()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
        assert response.status_code == 200, (response.status_code, response.data[:300])
        size = len(response.data)
    return statistics.median(cpu), statistics.median(wall), size


def seed(app: Any, people: int, days: int, step: int) -> dict[str, Any]:
    """The poll, the scheduled gathering and who looks at them; their ids."""
    from scheduler.models import User, utcnow
    from scheduler.services.accounts.identity import PasswordPolicy, create_user
    from scheduler.services.gatherings import attendance
    from scheduler.services.polls import availability, scheduling, slots

    services = app.extensions["kindred"]
    session = services.db.session_factory()
    now = utcnow()
    organizer = create_user(
        session,
        email="organizer@example.org",
        name="Olga Organizer",
        password=PASSWORD,
        secret_key=services.config.secret_key,
        policy=PasswordPolicy(time_cost=1, memory_cost=1024),
    )
    crowd = [
        User(
            email=f"p{i}@example.org",
            name=f"Participant {i:03d}",
            password_hash="-",
            feed_token_nonce="",
            feed_token_hash=f"{i:064x}",
            share_name=i % 7 != 0,
            timezone="Europe/Berlin",
        )
        for i in range(people - 1)
    ]
    session.add_all(crowd)
    session.flush()
    start = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    poll = scheduling.create(
        session,
        organizer,
        {
            "title": "Big poll",
            "timezone": "Europe/Berlin",
            "duration_minutes": 60,
            "poll": {
                "window_start": start,
                "window_end": start + timedelta(days=days),
                "step_minutes": step,
            },
        },
        now=now,
        uid_domain="bench.test",
    )
    rng = random.Random(SEED)
    quarters = days * 96
    for person in [organizer, *crowd]:
        spans = []
        for _ in range(SPANS_PER_PERSON):
            begin = start + timedelta(minutes=15 * rng.randrange(quarters - 16))
            spans.append(
                {
                    "start": begin,
                    "end": begin + timedelta(minutes=15 * rng.randint(2, 16)),
                    "preference": "yes" if rng.random() < 0.6 else "ifneedbe",
                }
            )
        availability.set_availability(session, poll.id, person, spans, now=now)
    snapshot = slots.take_snapshot(session, poll.id)
    assert snapshot is not None
    slots.store_result(session, poll.id, snapshot.revision, slots.rank_snapshot(snapshot), now=now)
    fixed = scheduling.create(
        session,
        organizer,
        {
            "title": "Big night",
            "timezone": "Europe/Berlin",
            "duration_minutes": 120,
            "starts_at": start + timedelta(days=3, hours=18),
            "capacity": people // 2,
        },
        now=now,
        uid_domain="bench.test",
    )
    for person in crowd:
        attendance.set_rsvp(session, fixed.id, person.id, rng.choice(["yes", "maybe"]), now=now)
    session.commit()
    ids = {
        "poll": poll.id,
        "fixed": fixed.id,
        "organizer": organizer.id,
        "participant": crowd[1].id,
        "german_participant": crowd[2].id,
        "week2": (start + timedelta(days=7)).date().isoformat(),
        "since2": (start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    session.close()
    return ids


def signed_in(app: Any, user_id: int, locale: str = "en") -> Any:
    """A test client with a live page session for the user, who reads pages in `locale`."""
    from scheduler.models import User, utcnow
    from scheduler.services.accounts import sessions
    from scheduler.web.auth import SESSION_KEY, USER_KEY

    with app.extensions["kindred"].db.session_factory.begin() as session:
        user = session.get(User, user_id)
        user.locale = locale
        token = sessions.start_session(session, user, now=utcnow(), user_agent="bench")
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie[USER_KEY] = user_id
        cookie[SESSION_KEY] = token
        cookie["csrf"] = "bench"
    return client


@dataclass(frozen=True)
class Walked:
    """Every page of the API's heatmap, as one measured result."""

    status_code: int
    data: bytes


def add_whole_window_route(app: Any) -> None:
    """The API's heatmap as it answered before it was paged: every candidate in one answer."""
    from flask import jsonify

    from scheduler.api.auth import current_user
    from scheduler.extensions import db_session
    from scheduler.schemas.polls import SlotsSchema
    from scheduler.services.gatherings import lifecycle
    from scheduler.services.polls import slots
    from scheduler.services.polls.scheduling import MAX_WINDOW

    def whole_window(gathering_id: int) -> Any:
        user = current_user()
        gathering = lifecycle.get_gathering(db_session(), gathering_id)
        lifecycle.require_organizer(gathering, user)
        return jsonify(SlotsSchema().dump(slots.heatmap_view(gathering, page=MAX_WINDOW)))

    app.add_url_rule("/bench/heatmap/<int:gathering_id>", "bench_heatmap", whole_window)


def cases(app: Any, ids: dict[str, Any]) -> list[Case]:
    """The requests, baselines first."""
    from flask import Flask

    add_whole_window_route(app)
    hello_app = Flask("hello")
    hello_app.add_url_rule("/", "hello", lambda: "hello")
    hello = hello_app.test_client()
    api = app.test_client()
    token = api.post(
        "/api/v1/tokens", json={"email": "organizer@example.org", "password": PASSWORD}
    ).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    participant = signed_in(app, ids["participant"])
    organizer = signed_in(app, ids["organizer"])
    german = signed_in(app, ids["german_participant"], "de")
    poll, fixed, week2 = ids["poll"], ids["fixed"], ids["week2"]
    heatmap = f"/api/v1/gatherings/{poll}/slots?view=heatmap"

    def every_page() -> Walked:
        data, query = b"", ""
        while True:
            response = api.get(heatmap + query, headers=bearer)
            assert response.status_code == 200, response.data[:300]
            data += response.data
            next_since = response.get_json()["next_since"]
            if next_since is None:
                return Walked(200, data)
            query = f"&since={next_since}"

    return [
        Case("hello-world", lambda: hello.get("/"), kind="baseline"),
        Case(
            "GET /api/v1/gatherings/<id>",
            lambda: api.get(f"/api/v1/gatherings/{poll}", headers=bearer),
            kind="baseline",
        ),
        Case("poll page, participant, cold", lambda: participant.get(f"/g/{poll}"), cold=True),
        Case("poll page, participant", lambda: participant.get(f"/g/{poll}")),
        Case("poll page, participant in German", lambda: german.get(f"/g/{poll}")),
        Case("poll page ?start=week 2", lambda: participant.get(f"/g/{poll}/poll?start={week2}")),
        Case("poll page, organizer", lambda: organizer.get(f"/g/{poll}")),
        Case("slots.json, cold", lambda: participant.get(f"/g/{poll}/slots.json"), cold=True),
        Case("slots.json", lambda: participant.get(f"/g/{poll}/slots.json")),
        Case("gathering page, 500 answers", lambda: participant.get(f"/g/{fixed}")),
        Case("gathering page, 500 answers, in German", lambda: german.get(f"/g/{fixed}")),
        Case(
            "API slots?limit=10",
            lambda: api.get(f"/api/v1/gatherings/{poll}/slots?limit=10", headers=bearer),
            kind="info",
        ),
        Case("API heatmap, first week", lambda: api.get(heatmap, headers=bearer)),
        Case(
            "API heatmap ?since=week 2",
            lambda: api.get(f"{heatmap}&since={ids['since2']}", headers=bearer),
        ),
        Case(
            "API heatmap, whole window",
            lambda: api.get(f"/bench/heatmap/{poll}", headers=bearer),
            kind="before",
        ),
        Case("API heatmap, every page", every_page, kind="info"),
    ]


def main() -> int:
    """Seed, warm up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--step", type=int, default=15, choices=(5, 10, 15, 30, 60))
    args = parser.parse_args()

    from sqlalchemy import create_engine

    from scheduler import create_app
    from scheduler.config import Config
    from scheduler.embedded_postgres import ensure_embedded_postgres, stop_embedded_postgres
    from scheduler.embedded_redis import ensure_embedded_redis, stop_embedded_redis
    from scheduler.models import Base

    root = Path(tempfile.mkdtemp(prefix="kindred-bench-"))
    try:
        database_url = ensure_embedded_postgres(root / "postgres", durable=False)
        redis_url = ensure_embedded_redis(root / "redis")
        engine = create_engine(database_url)
        Base.metadata.create_all(engine)
        engine.dispose()
        config = Config.from_env(
            env={"RATELIMIT_ENABLED": "false"},
            instance_path=root / "instance",
            database_url=database_url,
            redis_url=redis_url,
            secret_key="bench-secret",
            base_url="http://kindred.test",
            password_time_cost=1,
            password_memory_cost=1024,
        )
        app = create_app(config)
        began = time.perf_counter()
        ids = seed(app, args.people, args.days, args.step)
        print(
            f"{args.people} people, {args.days}-day window at {args.step} minutes "
            "(a page: up to 7 days); "
            f"seeded in {time.perf_counter() - began:.1f} s; median of {args.repeat} runs"
        )
        services = app.extensions["kindred"]
        todo = cases(app, ids)
        for case in todo:  # imports, templates, connections, caches
            case.call()
        results = {
            case.name: measure(
                case.call, args.repeat, services.redis.flushdb if case.cold else None
            )
            for case in todo
        }
        hello_cpu = results["hello-world"][0]
        api_cpu = results["GET /api/v1/gatherings/<id>"][0]
        print(
            f"{'request':40} {'CPU ms':>8} {'wall ms':>8} {'x hello':>8} {'x API':>6} {'bytes':>8}"
        )
        worst = 0.0
        for case in todo:
            cpu, wall, size = results[case.name]
            label = f"{case.name}{' (baseline)' if case.kind == 'baseline' else ''}"
            label += f" ({case.kind})" if case.kind in ("info", "before") else ""
            print(
                f"{label:40} {cpu:8.2f} {wall:8.2f} {cpu / hello_cpu:8.0f} "
                f"{cpu / api_cpu:6.1f} {size:8d}"
            )
            if case.kind == "page":
                worst = max(worst, cpu)
        verdict = "ok" if worst <= TARGET_MS else "OVER TARGET"
        print(f"worst page: {worst:.1f} ms of CPU; target <= {TARGET_MS:.0f} ms: {verdict}")
        week, whole = results["API heatmap, first week"], results["API heatmap, whole window"]
        print(
            f"API heatmap, a week a request against the whole window in one: "
            f"{whole[0]:.1f} -> {week[0]:.1f} ms of CPU ({whole[0] / week[0]:.1f}x less), "
            f"{whole[2]} -> {week[2]} bytes ({whole[2] / week[2]:.1f}x less)"
        )
        services.close()
        return 0
    finally:
        stop_embedded_redis(root / "redis")
        stop_embedded_postgres(root / "postgres")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
