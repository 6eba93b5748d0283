"""Polls against a real RQ worker process and real Redis: rank, schedule, close at deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from rq.registry import FinishedJobRegistry

from scheduler.queues import SLOTS
from tests.support.processes import running, wait_for

pytestmark = pytest.mark.e2e

WINDOW_START = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
WINDOW_END = WINDOW_START + timedelta(days=7)


def at(hours: float) -> datetime:
    return WINDOW_START + timedelta(hours=hours)


def z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_poll(api, organizer, **poll_extra):
    body = {
        "title": "Climbing",
        "timezone": "Europe/Berlin",
        "duration_minutes": 90,
        "poll": {"window_start": z(WINDOW_START), "window_end": z(WINDOW_END), **poll_extra},
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def answer(api, user, gid, *spans):
    intervals = [{"start": z(s), "end": z(e), "preference": p} for s, e, p in spans]
    response = api.call(
        "PUT", f"/api/v1/gatherings/{gid}/availability", user, json={"intervals": intervals}
    )
    assert response.status_code == 200, response.get_json()


def get_slots(api, user, gid):
    response = api.call("GET", f"/api/v1/gatherings/{gid}/slots?limit=3", user)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_answers_become_a_ranking_then_a_schedule(api, config, redis_client, tmp_path):
    org = api.signup("Org")
    people = [api.signup() for _ in range(30)]
    gid = create_poll(api, org)
    # Everyone can do day 2, 18:00-21:00; two thirds also day 4, 18:00-20:00 (yes);
    # only day 2 fits all thirty, and within it 18:00 is the earliest start.
    for i, person in enumerate(people):
        spans = [(at(24 + 18), at(24 + 21), "yes" if i % 2 else "ifneedbe")]
        if i % 3:
            spans.append((at(72 + 18), at(72 + 20), "yes"))
        answer(api, person, gid, *spans)
    before = get_slots(api, org, gid)
    assert before["status"] == "pending"
    assert before["revision"] == 30

    with running("worker", config, tmp_path, name="polls-e2e") as worker:
        ready = wait_for(
            lambda: (s := get_slots(api, org, gid))["status"] == "ready" and s, timeout=30
        )
        top = ready["slots"][0]
        assert top["start"] == z(at(24 + 18))
        assert len(top["available"]) == 30
        assert len(top["preferred"]) == 15
        assert ready["computed_revision"] == 30
        computations = FinishedJobRegistry(SLOTS, connection=redis_client).count
        assert computations <= 3, worker.log()

        # A change after the ranking: pending (or already recomputed), then ready again.
        late = api.signup("Late")
        answer(api, late, gid, (at(72 + 18), at(72 + 20), "yes"))
        again = wait_for(
            lambda: (s := get_slots(api, org, gid))["computed_revision"] == 31 and s, timeout=30
        )
        assert again["status"] == "ready"
        assert len(again["slots"][0]["available"]) == 30

        scheduled = api.call(
            "POST", f"/api/v1/gatherings/{gid}/schedule", org, json={"start": top["start"]}
        )
        assert scheduled.status_code == 200, scheduled.get_json()
        assert scheduled.get_json()["status"] == "scheduled"
        assert scheduled.get_json()["starts_at"] == top["start"]
        assert Queue(SLOTS, connection=redis_client).count == 0


def test_the_worker_schedules_the_top_slot_at_the_deadline(api, config, tmp_path):
    org, ann, bob = api.signup("Org"), api.signup("Ann"), api.signup("Bob")
    deadline = datetime.now(UTC) + timedelta(seconds=3)
    gid = create_poll(api, org, deadline=deadline.isoformat(), min_attendees=2)
    answer(api, ann, gid, (at(10), at(14), "yes"))
    answer(api, bob, gid, (at(12), at(16), "ifneedbe"))
    with running("worker", config, tmp_path, name="polls-deadline") as worker:
        gathering = wait_for(
            lambda: (
                (g := api.call("GET", f"/api/v1/gatherings/{gid}").get_json())["status"]
                == "scheduled"
                and g
            ),
            timeout=30,
        )
        assert gathering["starts_at"] == z(at(12)), worker.log()
        assert gathering["ends_at"] == z(at(13.5))
    assert datetime.now(UTC) >= deadline


def test_the_clock_recovers_rankings_lost_with_redis(api, config, redis_client, tmp_path):
    org, ann = api.signup("Org"), api.signup("Ann")
    gid = create_poll(api, org)
    answer(api, ann, gid, (at(30), at(33), "yes"))
    redis_client.flushdb()  # the queued job and its coalescing flag are gone
    with (
        running("worker", config, tmp_path, name="polls-sweep"),
        running("clock", config, tmp_path, SWEEP_INTERVAL_SECONDS="1") as clock,
    ):
        ready = wait_for(
            lambda: (s := get_slots(api, org, gid))["status"] == "ready" and s, timeout=30
        )
        assert ready["slots"][0]["start"] == z(at(30)), clock.log()
