"""The outbox survives a SIGKILLed worker and a wiped Redis: every mail once, none early.

Real worker and clock processes, real Redis, a real SMTP server (aiosmtpd). Reminder offsets
are whole minutes, so the attendees "joined" three minutes ago (their rows were owed then)
and the gathering starts 15 s from now: both reminders are due at once (the first fan-out, in
which the worker is killed), and the follow-up falls due a minute after the start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduler.domain.messages import stable_message_id
from scheduler.models import OutboxMessage, OutboxStatus, utcnow
from scheduler.services.gatherings import lifecycle
from tests.services.outbox_factories import answer_all, make_gathering, make_users
from tests.support.mail import run_planner
from tests.support.processes import running, wait_for
from tests.support.smtp import pipelining_smtp_sink  # noqa: F401 - a fixture

pytestmark = pytest.mark.e2e

FAST = {
    "SWEEP_INTERVAL_SECONDS": "2",
    "OUTBOX_CLAIM_SECONDS": "6",
    "OUTBOX_BATCH_SIZE": "10",
    "OUTBOX_RETRY_BASE_SECONDS": "1",
}


def _record_arrivals(sink, delay: float = 0.0) -> dict[str, list[float]]:
    """Arrival times per Message-ID; `delay` makes the server a little slow, like a real one."""
    arrivals: dict[str, list[float]] = {}
    original = sink.handler.handle_DATA

    async def handle_data(server, session, envelope):
        if delay:
            await asyncio.sleep(delay)
        answer = await original(server, session, envelope)
        if answer.startswith("250"):
            message_id = sink.handler.messages[-1]["Message-ID"]
            arrivals.setdefault(str(message_id).strip(), []).append(time.time())
        return answer

    sink.handler.handle_DATA = handle_data
    return arrivals


@pytest.fixture
def sink(request, backends):
    """With PIPELINING against the machine's servers, without on the embedded defaults.

    The worker's two SMTP dialogues share the crash boundary; CI runs both configurations, so
    each dialogue is crashed once per CI run without paying the test's 85 s twice per run.
    """
    name = "pipelining_smtp_sink" if backends.external else "smtp_sink"
    return request.getfixturevalue(name)


def test_sigkill_and_flushdb_during_the_first_fan_out_lose_nothing(
    app, config, session, sink, redis_client, tmp_path
):
    smtp_sink = sink
    mail_config = dataclasses.replace(config, smtp_url=smtp_sink.url)
    now = utcnow()
    organizer, *people = make_users(session, 121)
    gathering = make_gathering(
        session,
        organizer,
        starts_at=now + timedelta(seconds=15),
        duration_minutes=1,
        reminders_minutes=[2, 1],
        followup_minutes=0,
    )
    answer_all(session, gathering, people, now=now - timedelta(minutes=3))
    session.commit()
    rows = list(session.scalars(select(OutboxMessage)))
    session.commit()
    assert Counter(r.kind for r in rows) == {"reminder": 240, "followup": 120}
    due = {stable_message_id(r.key, mail_config.mail_domain): r.due_at for r in rows}
    arrivals = _record_arrivals(smtp_sink, delay=0.02)

    with running("clock", mail_config, tmp_path, **FAST):
        with running("worker", mail_config, tmp_path, name="doomed", **FAST) as doomed:
            wait_for(lambda: len(arrivals) >= 30, timeout=30)
            doomed.kill()
        redis_client.flushdb()
        sent_at_crash = len(arrivals)
        assert sent_at_crash < 240, "the crash must land inside the first fan-out"

        with running("worker", mail_config, tmp_path, name="survivor", **FAST) as survivor:
            wait_for(lambda: len(arrivals) == 360, timeout=90)
            time.sleep(3)  # anything extra (a duplicate) would show up now
            log = survivor.log()

    assert set(arrivals) == set(due), log[-2000:]
    for message_id, times in arrivals.items():
        assert min(times) >= due[message_id].timestamp() - 0.001, "sent before it was due"
    duplicates = {mid: len(t) for mid, t in arrivals.items() if len(t) > 1}
    # at-least-once boundary: only a mail accepted by the server in the instant of the kill,
    # before its row was marked sent, may arrive twice (with the same Message-ID)
    assert sum(n - 1 for n in duplicates.values()) <= 1, duplicates
    session.expire_all()
    statuses = Counter(session.scalars(select(OutboxMessage.status)))
    session.commit()
    assert statuses == {OutboxStatus.SENT: 360}


def test_reschedule_cancel_and_a_451_in_the_normal_path(
    app, config, session, smtp_sink, redis_client, tmp_path
):
    mail_config = dataclasses.replace(config, smtp_url=smtp_sink.url)
    now = utcnow()
    organizer, *people = make_users(session, 7)
    moved = make_gathering(
        session, organizer, starts_at=now + timedelta(seconds=70), reminders_minutes=[1]
    )
    called_off = make_gathering(
        session, organizer, starts_at=now + timedelta(seconds=68), reminders_minutes=[1]
    )
    answer_all(session, moved, people[:3], now=now)
    answer_all(session, called_off, people[3:], now=now)
    session.commit()
    stale = {
        stable_message_id(r.key, mail_config.mail_domain)
        for r in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
    }
    session.commit()
    # while the reminders are pending: one gathering moves 5 s earlier, the other is cancelled
    lifecycle.update_gathering(
        session,
        moved.id,
        organizer,
        {"starts_at": moved.starts_at - timedelta(seconds=5)},
        now=utcnow(),
    )
    lifecycle.cancel_gathering(session, called_off.id, organizer, now=utcnow())
    session.commit()
    run_planner(app)  # what a worker does at once: owe the updates, plan the new time
    fresh = {
        r.key: r.due_at
        for r in session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == "reminder", OutboxMessage.status == OutboxStatus.PENDING
            )
        )
    }
    session.commit()
    assert len(fresh) == 3 and all(key.startswith(f"reminder:{moved.id}:") for key in fresh)
    arrivals = _record_arrivals(smtp_sink)
    smtp_sink.handler.reject_next.append((451, "greylisted, try again"))

    with (
        running("clock", mail_config, tmp_path, **FAST),
        running("worker", mail_config, tmp_path, name="steady", **FAST) as worker,
    ):
        wait_for(
            lambda: sum(1 for m in smtp_sink.messages if m["X-Kindred-Kind"] == "reminder") >= 3,
            timeout=45,
        )
        time.sleep(3)
        log = worker.log()

    reminders_received = [m for m in smtp_sink.messages if m["X-Kindred-Kind"] == "reminder"]
    ids = [str(m["Message-ID"]).strip() for m in reminders_received]
    assert len(ids) == len(set(ids)) == 3, log[-2000:]  # no duplicates in the normal path
    assert not set(ids) & stale, "a reminder for the old time or the cancelled gathering"
    expected = {stable_message_id(key, mail_config.mail_domain): due for key, due in fresh.items()}
    assert set(ids) == set(expected)
    for message_id in ids:
        assert min(arrivals[message_id]) >= expected[message_id].timestamp() - 0.001
    session.expire_all()
    # the first mail out (an update for the moved gathering, or a reminder) met the 451
    retried = session.scalars(select(OutboxMessage).where(OutboxMessage.attempts > 1)).all()
    session.commit()
    assert len(retried) == 1 and "451" in (retried[0].last_error or "")
    assert retried[0].status == OutboxStatus.SENT
    all_ids = [str(m["Message-ID"]).strip() for m in smtp_sink.messages]
    assert len(all_ids) == len(set(all_ids))
