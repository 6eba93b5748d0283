"""Slot services and jobs: deadlines, results that only move forward, sweeps after Redis loss."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from sqlalchemy import select

import workers.runtime
from scheduler.models import Gathering, OutboxMessage, Poll
from scheduler.queues import DEFAULT, SLOTS
from scheduler.services.polls import scheduling, slots
from tests.support.mail import run_planner
from workers.slots import close_poll_at_deadline, recompute_slots, sweep_polls

WINDOW_START = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
WINDOW_END = WINDOW_START + timedelta(days=2)
DEADLINE = WINDOW_START - timedelta(hours=1)


def at(hours: float) -> datetime:
    return WINDOW_START + timedelta(hours=hours)


def z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def in_process_worker(app, monkeypatch):
    """Job functions run in this process on the test's backends."""
    monkeypatch.setattr(workers.runtime, "_services", app.extensions["kindred"])
    monkeypatch.setattr(workers.runtime, "_pid", os.getpid())


@pytest.fixture
def db(app):
    """Open a short-lived session of the test's own, outside any request."""
    factory = app.extensions["kindred"].db.session_factory

    def open_session():
        return factory()

    return open_session


def poll_gathering(api, organizer, **poll_extra):
    body = {
        "title": "Pottery",
        "timezone": "UTC",
        "duration_minutes": 60,
        "poll": {"window_start": z(WINDOW_START), "window_end": z(WINDOW_END), **poll_extra},
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def answer(api, user, gid, start, end):
    response = api.call(
        "PUT",
        f"/api/v1/gatherings/{gid}/availability",
        user,
        json={"intervals": [{"start": z(start), "end": z(end)}]},
    )
    assert response.status_code == 200, response.get_json()


def test_creating_a_poll_with_a_deadline_schedules_the_deadline_job(api, redis_client):
    org = api.signup("Org")
    gid = poll_gathering(api, org, deadline=z(DEADLINE))
    scheduled = Queue(DEFAULT, connection=redis_client).scheduled_job_registry
    assert scheduled.get_job_ids() == [f"poll-deadline-{gid}"]
    assert scheduled.get_scheduled_time(f"poll-deadline-{gid}") == DEADLINE


def test_deadline_schedules_the_best_future_slot(api, db):
    org, ann, bob = api.signup("Org"), api.signup("Ann"), api.signup("Bob")
    gid = poll_gathering(api, org, deadline=z(DEADLINE), min_attendees=2)
    answer(api, ann, gid, at(0), at(6))
    answer(api, bob, gid, at(4), at(8))
    with db() as session:
        early = DEADLINE - timedelta(seconds=1)
        assert scheduling.close_at_deadline(session, gid, now=early) == "not_due"
        assert scheduling.close_at_deadline(session, gid, now=DEADLINE) == "scheduled"
        session.commit()
    with db() as session:
        gathering = session.get(Gathering, gid)
        assert (gathering.status, gathering.starts_at) == ("scheduled", at(4))
        assert gathering.poll.deadline_outcome == "scheduled"
        # a second run (a duplicate job, the sweep) changes nothing
        assert scheduling.close_at_deadline(session, gid, now=DEADLINE) is None


def test_deadline_skips_slots_that_have_already_begun(api, db):
    org, ann, bob = api.signup("Org"), api.signup("Ann"), api.signup("Bob")
    gid = poll_gathering(api, org, deadline=z(WINDOW_START + timedelta(hours=5)))
    answer(api, ann, gid, at(1), at(3))
    answer(api, bob, gid, at(1), at(3))
    answer(api, org, gid, at(6), at(7))
    with db() as session:
        now = at(5) + timedelta(minutes=1)
        assert scheduling.close_at_deadline(session, gid, now=now) == "scheduled"
        assert session.get(Gathering, gid).starts_at == at(6)


def test_no_qualifying_slot_tells_the_organizer_and_schedules_nothing(api, db):
    org, ann = api.signup("Org"), api.signup("Ann")
    gid = poll_gathering(api, org, deadline=z(DEADLINE), min_attendees=2)
    answer(api, ann, gid, at(0), at(6))
    for _ in range(2):
        with db() as session:
            scheduling.close_at_deadline(session, gid, now=DEADLINE)
            session.commit()
    with db() as session:
        run_planner(session)
        gathering = session.get(Gathering, gid)
        assert (gathering.status, gathering.starts_at) == ("polling", None)
        assert gathering.poll.deadline_outcome == "no_slot"
        mail = session.scalars(select(OutboxMessage)).all()
        assert [(m.kind, m.recipient_id, m.gathering_id) for m in mail] == [
            ("poll_failed", org["id"], gid)
        ]


def test_the_deadline_job_is_a_noop_once_scheduled_by_hand(api, db, in_process_worker):
    org, ann = api.signup("Org"), api.signup("Ann")
    gid = poll_gathering(api, org, deadline=z(DEADLINE))
    answer(api, ann, gid, at(2), at(3))
    response = api.call("POST", f"/api/v1/gatherings/{gid}/schedule", org, json={"start": z(at(2))})
    assert response.status_code == 200
    assert close_poll_at_deadline(gid) is None
    assert close_poll_at_deadline(987654) is None


def test_an_older_result_never_replaces_a_newer_one(api, db):
    org, ann = api.signup("Org"), api.signup("Ann")
    gid = poll_gathering(api, org)
    answer(api, ann, gid, at(0), at(2))
    answer(api, ann, gid, at(5), at(6))
    with db() as session:
        snapshot = slots.take_snapshot(session, gid)
    assert snapshot is not None and snapshot.revision == 2
    newer = slots.rank_snapshot(snapshot)
    with db() as session:
        slots.store_result(session, gid, 2, newer, now=datetime.now(UTC))
        session.commit()
    with db() as session:
        slots.store_result(session, gid, 1, {"slots": []}, now=datetime.now(UTC))
        session.commit()
    with db() as session:
        poll = session.get(Poll, gid)
        assert poll.computed_revision == 2
        assert poll.result["slots"][0]["start"] == at(5).isoformat()


def test_the_sweep_recovers_a_recompute_lost_with_redis(api, db, redis_client, in_process_worker):
    org, ann = api.signup("Org"), api.signup("Ann")
    gid = poll_gathering(api, org)
    answer(api, ann, gid, at(1), at(2))
    redis_client.flushdb()  # the queued job and its flag are gone
    queue = Queue(SLOTS, connection=redis_client)
    assert queue.count == 0
    sweep_polls()
    assert queue.count == 1
    sweep_polls()  # the flag keeps a second sweep from queueing it twice
    assert queue.count == 1
    assert recompute_slots(gid) == 1
    with db() as session:
        assert slots.stale_polls(session) == []
    sweep_polls()
    assert queue.count == 1


def test_the_sweep_enqueues_overdue_deadlines(api, db, redis_client, in_process_worker):
    org = api.signup("Org")
    gid = poll_gathering(api, org, deadline=z(DEADLINE))
    redis_client.flushdb()
    with db() as session:
        session.get(Poll, gid).deadline = datetime.now(UTC) - timedelta(seconds=5)
        session.commit()
    sweep_polls()
    queued = Queue(DEFAULT, connection=redis_client).jobs
    assert [(job.func_name, job.args) for job in queued] == [(scheduling.DEADLINE_JOB, (gid,))]
    assert queued[0].perform() == "no_slot"
    with db() as session:
        assert scheduling.overdue_deadlines(session, now=datetime.now(UTC)) == []


def test_a_deadline_job_that_runs_early_comes_back_at_the_deadline(
    api, redis_client, in_process_worker
):
    org = api.signup("Org")
    deadline = DEADLINE + timedelta(microseconds=250_000)
    gid = poll_gathering(api, org, deadline=deadline.isoformat())
    scheduled = Queue(DEFAULT, connection=redis_client).scheduled_job_registry
    # RQ keeps whole seconds: the job is due at the next second, never before the deadline
    assert scheduled.get_scheduled_time(f"poll-deadline-{gid}") == DEADLINE + timedelta(seconds=1)
    assert close_poll_at_deadline(gid) == "not_due"
    assert len(scheduled.get_job_ids()) == 2
