"""Benchmark: GET /me/recommendations against a plain "upcoming gatherings" list, same run.

Run: ``.venv/bin/python bench/recommend.py [--reuse]`` (needs PostgreSQL; BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/kindred_bench_recommend, a database it owns and wipes).
Workload: 100,000 users, 10,000 groups, 50,000 upcoming and 20,000 past gatherings, 20,000
tags with Zipf-like popularity, memberships and RSVPs; users with 10 interests (common, middling
and rare ones) who have met people at past gatherings. Bulk-loaded with COPY.
Targets: recommendations p95 under 100 ms and within 3x of the floor (the plain list), both
through the Flask test client (auth, query, JSON) and at the service level.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import create_engine, text

from scheduler import create_app
from scheduler.config import Config
from scheduler.models import Base
from scheduler.services.gatherings.lifecycle import gatherings_query
from scheduler.services.tribe.recommendations import recommend

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/kindred_bench_recommend"
USERS = 100_000
GROUPS = 10_000
UPCOMING = 50_000
PAST = 20_000
TAGS = 20_000
SAMPLE_USERS = 40
RUNS = 120
SEED = 20240609
P95_TARGET_MS = 100.0
RATIO_TARGET = 3.0
NOW = datetime.now(UTC).replace(microsecond=0)


def zipf_tags(rng: random.Random, k: int) -> list[int]:
    """k distinct tag ids (1-based), popular ones far more likely (rank^-1.1)."""
    picked: set[int] = set()
    while len(picked) < k:
        # inverse-CDF of a continuous power law over [1, TAGS]
        u = rng.random()
        a = 1.1
        rank = int(((TAGS ** (1 - a) - 1) * u + 1) ** (1 / (1 - a)))
        picked.add(min(max(rank, 1), TAGS))
    return list(picked)


def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], rows: Iterable) -> int:
    """COPY rows (tuples) into table; returns the count."""
    n = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def load(url: str) -> tuple[list[int], dict[int, str]]:
    """Wipe the bench database and fill it; returns sample user ids and their tokens."""
    rng = random.Random(SEED)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    engine.dispose()
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        ts = NOW - timedelta(days=400)
        copy_rows(
            conn,
            "interests",
            ["id", "name"],
            ((i, f"tag {i:05d}") for i in range(1, TAGS + 1)),
        )
        copy_rows(
            conn,
            "users",
            [
                "id",
                "email",
                "name",
                "password_hash",
                "timezone",
                "feed_token_nonce",
                "feed_token_hash",
                "share_name",
                "discoverable",
                "weekly_digest",
                "reminders_enabled",
                "created_at",
            ],
            (
                (
                    u,
                    f"u{u}@bench.test",
                    f"User {u}",
                    "x",
                    "UTC",
                    "n",
                    f"h{u}",
                    True,
                    u % 3 != 0,
                    False,
                    True,
                    ts,
                )
                for u in range(1, USERS + 1)
            ),
        )
        copy_rows(
            conn,
            "user_interests",
            ["user_id", "interest_id"],
            ((u, t) for u in range(1, USERS + 1) for t in zipf_tags(rng, rng.randint(2, 8))),
        )
        copy_rows(
            conn,
            "groups",
            [
                "id",
                "name",
                "description",
                "organizer_id",
                "nudge_after_weeks",
                "feed_revision",
                "created_at",
            ],
            ((g, f"Group {g}", "", rng.randint(1, USERS), 4, 0, ts) for g in range(1, GROUPS + 1)),
        )
        copy_rows(
            conn,
            "group_interests",
            ["group_id", "interest_id"],
            ((g, t) for g in range(1, GROUPS + 1) for t in zipf_tags(rng, 3)),
        )
        members = {(g, u) for u in range(1, USERS + 1) for g in rng.sample(range(1, GROUPS + 1), 3)}
        copy_rows(
            conn,
            "group_members",
            ["group_id", "user_id", "role", "joined_at"],
            ((g, u, "member", ts) for g, u in members),
        )
        reminders = json.dumps([1440, 60])
        # each gathering's start while scheduled, copied onto its interest rows as the app does
        scheduled_start: dict[int, datetime | None] = {}

        def gathering_rows() -> Iterable[tuple]:
            for gid in range(1, UPCOMING + PAST + 1):
                past = gid > UPCOMING
                start = (
                    NOW - timedelta(minutes=rng.randint(60 * 24, 60 * 24 * 300))
                    if past
                    else NOW + timedelta(minutes=rng.randint(60, 60 * 24 * 120))
                )
                capacity = rng.choice([None, None, 10, 20, 50])
                group_id, organizer_id = rng.randint(1, GROUPS), rng.randint(1, USERS)
                status = "completed" if past else rng.choice(["scheduled"] * 19 + ["cancelled"])
                scheduled_start[gid] = start if status == "scheduled" else None
                yield (
                    gid,
                    f"uid{gid}@bench",
                    0,
                    0,
                    f"Gathering {gid}",
                    "",
                    "",
                    group_id,
                    organizer_id,
                    "UTC",
                    120,
                    capacity,
                    status,
                    start,
                    start + timedelta(hours=2),
                    reminders,
                    120,
                    0,
                    0,
                    ts,
                    ts,
                )

        copy_rows(
            conn,
            "gatherings",
            [
                "id",
                "uid",
                "sequence",
                "revision",
                "title",
                "description",
                "location",
                "group_id",
                "organizer_id",
                "timezone",
                "duration_minutes",
                "capacity",
                "status",
                "starts_at",
                "ends_at",
                "reminders",
                "followup_minutes",
                "going_count",
                "waitlist_counter",
                "created_at",
                "updated_at",
            ],
            gathering_rows(),
        )
        copy_rows(
            conn,
            "gathering_interests",
            ["gathering_id", "interest_id", "scheduled_start"],
            (
                (g, t, scheduled_start[g])
                for g in range(1, UPCOMING + PAST + 1)
                for t in zipf_tags(rng, 3)
            ),
        )
        samples = rng.sample(range(1, USERS + 1), SAMPLE_USERS)
        rsvps: set[tuple[int, int]] = set()
        for gid in range(1, UPCOMING + PAST + 1):
            for u in rng.sample(range(1, USERS + 1), 4 if gid <= UPCOMING else 8):
                rsvps.add((gid, u))
        # each sample user went to 10 past gatherings, so they have met ~70 people
        for u in samples:
            for gid in rng.sample(range(UPCOMING + 1, UPCOMING + PAST + 1), 10):
                rsvps.add((gid, u))
        copy_rows(
            conn,
            "rsvps",
            ["gathering_id", "user_id", "response", "state", "created_at", "updated_at"],
            ((g, u, "yes", "going", ts, ts) for g, u in rsvps),
        )
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE gatherings SET going_count = n FROM (SELECT gathering_id, count(*) n "
                "FROM rsvps GROUP BY gathering_id) r WHERE r.gathering_id = gatherings.id"
            )
            # the sample users hold 10 interests: 3 common, 4 middling, 3 rare
            cur.execute("DELETE FROM user_interests WHERE user_id = ANY(%s)", (samples,))
            tokens: dict[int, str] = {}
            for u in samples:
                tags = (
                    rng.sample(range(1, 30), 3)
                    + rng.sample(range(30, 2000), 4)
                    + rng.sample(range(2000, TAGS + 1), 3)
                )
                for t in tags:
                    cur.execute("INSERT INTO user_interests VALUES (%s, %s)", (u, t))
                tokens[u] = f"bench-token-{u}"
                cur.execute(
                    "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES (%s, %s, %s)",
                    (u, hashlib.sha256(tokens[u].encode()).hexdigest(), ts),
                )
            for table in ("users", "groups", "gatherings", "interests"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    print(
        f"loaded in {time.perf_counter() - start:.1f} s: {USERS:,} users, {GROUPS:,} groups, "
        f"{UPCOMING:,} upcoming + {PAST:,} past gatherings, {TAGS:,} tags, {len(rsvps):,} RSVPs"
    )
    return samples, tokens


def loaded_with_current_schema(url: str) -> bool:
    """Whether a previous load is there and has every column the models have now."""
    with psycopg.connect(url) as conn:
        have = set(
            conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public'"
            )
        )
    want = {(t.name, c.name) for t in Base.metadata.sorted_tables for c in t.columns}
    if ("api_tokens", "user_id") in have and want <= have:
        return True
    print("--reuse: no load with the current schema there; loading")
    return False


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds per call over `runs` calls (after 5 warm-ups)."""
    for _ in range(5):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    """The q-quantile (0..1)."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def report(label: str, values: list[float]) -> tuple[float, float]:
    """Print and return (p50, p95)."""
    p50, p95 = statistics.median(values), p(values, 0.95)
    print(f"  {label:<44} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    return p50, p95


def main() -> int:
    """Load, measure, print figures and whether the targets hold."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    try:
        psycopg.connect(url).close()
    except psycopg.OperationalError as exc:
        print(f"skipped: needs PostgreSQL at {url} ({str(exc).strip()[:80]})")
        return 0
    if "--reuse" in sys.argv and loaded_with_current_schema(url):
        # measure again on the data a previous run loaded
        with psycopg.connect(url) as conn:
            samples = [row[0] for row in conn.execute("SELECT user_id FROM api_tokens")]
        tokens = {u: f"bench-token-{u}" for u in samples}
    else:
        samples, tokens = load(url)
    config = Config.from_env(
        env={},
        database_url=url,
        secret_key="bench",
        base_url="http://bench.test",
        testing=True,
        redis_url="redis://127.0.0.1:6379/9",
    )
    app = create_app(config)
    db = app.extensions["kindred"].db
    cycle = iter(range(10**9))

    def next_user() -> int:
        return samples[next(cycle) % len(samples)]

    from scheduler.models import User

    def service_recommend() -> None:
        session = db.session_factory()
        try:
            recommend(session, session.get(User, next_user()), now=NOW)
        finally:
            session.close()

    def service_floor() -> None:
        session = db.session_factory()
        try:
            stmt = gatherings_query(session, starts_after=NOW, status="scheduled").limit(20)
            list(session.scalars(stmt))
        finally:
            session.close()

    client = app.test_client()

    def http(path: str) -> Callable[[], None]:
        def call() -> None:
            headers = {"Authorization": f"Bearer {tokens[next_user()]}"}
            response = client.get(path, headers=headers)
            assert response.status_code == 200, response.get_json()

        return call

    floor_path = f"/api/v1/gatherings?status=scheduled&starts_after={NOW.isoformat()}".replace(
        "+", "%2B"
    )
    print(f"{RUNS} runs each, users with 10 interests (3 common, 4 middling, 3 rare):")
    rec_s = report("service: recommend()", timed(service_recommend, RUNS))
    floor_s = report("service: 20 upcoming gatherings (floor)", timed(service_floor, RUNS))
    rec_h = report("HTTP: GET /me/recommendations", timed(http("/api/v1/me/recommendations"), RUNS))
    floor_h = report("HTTP: GET /gatherings upcoming (floor)", timed(http(floor_path), RUNS))
    sample = client.get(
        "/api/v1/me/recommendations", headers={"Authorization": f"Bearer {tokens[samples[0]]}"}
    ).get_json()
    top = sample["gatherings"][0] if sample["gatherings"] else None
    print(f"  sample top gathering: {top}")
    ratio_s, ratio_h = rec_s[1] / floor_s[1], rec_h[1] / floor_h[1]
    print(f"  p95 ratio to floor: service {ratio_s:.2f}x, HTTP {ratio_h:.2f}x")
    ok = rec_h[1] < P95_TARGET_MS and ratio_h <= RATIO_TARGET
    print(
        f"  target p95 < {P95_TARGET_MS:.0f} ms and <= {RATIO_TARGET:.0f}x floor (HTTP): "
        f"{'met' if ok else 'NOT met'}"
    )
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
