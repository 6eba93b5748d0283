"""Announcements and poll chasers with a real worker, clock and SMTP server: a 200-member group
hears of a new poll once each, by Message-ID, although the worker is SIGKILLed mid-batch;
members who chose weekly or none get no announcement; non-respondents get exactly one poll
reminder, respondents none.

Small batches (OUTBOX_BATCH_SIZE=10) make the kill land inside the fan-out within a second
of the first mail; the killed worker's claims expire after 3 s and the other worker sends them.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from scheduler.domain.messages import stable_message_id
from scheduler.models import Gathering, GroupMember, OutboxMessage, OutboxStatus, utcnow
from scheduler.services.polls import scheduling
from tests.e2e.test_outbox_crash import _record_arrivals
from tests.services.outbox_factories import make_users
from tests.support.processes import running, wait_for

pytestmark = pytest.mark.e2e

FAST = {
    "SWEEP_INTERVAL_SECONDS": "1",
    "OUTBOX_CLAIM_SECONDS": "3",
    "OUTBOX_BATCH_SIZE": "10",
    "OUTBOX_RETRY_BASE_SECONDS": "1",
}
EACH, WEEKLY, NONE, ANSWERED = 200, 5, 5, 150


def test_200_members_hear_of_a_poll_once_each_through_a_worker_crash(
    app, config, session, smtp_sink, redis_client, tmp_path
):
    from scheduler.models import Group

    mail_config = dataclasses.replace(config, smtp_url=smtp_sink.url)
    now = utcnow()
    organizer, *members = make_users(session, 1 + EACH + WEEKLY + NONE)
    each, weekly, none = members[:EACH], members[EACH : EACH + WEEKLY], members[EACH + WEEKLY :]
    for person in weekly:
        person.announcements = "weekly"
    for person in none:
        person.announcements = "none"
    group = Group(name="Big club", organizer_id=organizer.id)
    session.add(group)
    session.flush()
    session.add(GroupMember(group_id=group.id, user_id=organizer.id, role="organizer"))
    session.add_all(GroupMember(group_id=group.id, user_id=p.id) for p in members)
    session.flush()
    window = now + timedelta(days=3)
    poll = scheduling.create_poll(
        session,
        organizer,
        {
            "title": "When do we meet?",
            "timezone": "Europe/Berlin",
            "duration_minutes": 60,
            "group_id": group.id,
            "poll": {
                "window_start": window,
                "window_end": window + timedelta(days=1),
                "step_minutes": 60,
                "deadline": now + timedelta(hours=1),
            },
        },
        now=now,
        uid_domain="kindred.test",
    )
    respondents = each[:ANSWERED]
    scheduling.record_participants(session, poll.id, [p.id for p in respondents], answered_at=now)
    # made a while ago: its chase time (half way to the deadline) has passed
    session.execute(
        update(Gathering).where(Gathering.id == poll.id).values(created_at=now - timedelta(hours=2))
    )
    session.commit()
    arrivals = _record_arrivals(smtp_sink, delay=0.005)
    expected_announce = {p.id for p in each}
    expected_reminder = {p.id for p in each[ANSWERED:]} | {p.id for p in weekly}
    total = len(expected_announce) + len(expected_reminder)

    # two workers share the fan-out; one is SIGKILLed mid-batch, the other finishes its rows
    # once their claims expire
    with (
        running("clock", mail_config, tmp_path, **FAST),
        running("worker", mail_config, tmp_path, name="survivor", **FAST) as survivor,
    ):
        with running("worker", mail_config, tmp_path, name="doomed", **FAST) as doomed:
            wait_for(lambda: len(arrivals) >= 30, timeout=30)
            doomed.kill()
        assert len(arrivals) < total, "the crash must land inside the fan-out"
        wait_for(lambda: len(arrivals) >= total, timeout=60)
        time.sleep(2)  # anything extra (a duplicate, a second reminder) would show up now
        log = survivor.log()

    session.expire_all()
    rows = list(session.scalars(select(OutboxMessage)))
    session.commit()
    by_kind: dict[str, set[int]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, set()).add(row.recipient_id)
    assert by_kind.get("announce") == expected_announce, log[-2000:]
    assert by_kind.get("poll_reminder") == expected_reminder
    assert Counter(r.status for r in rows if r.kind in ("announce", "poll_reminder")) == {
        OutboxStatus.SENT: total
    }
    wanted = {
        stable_message_id(r.key, mail_config.mail_domain)
        for r in rows
        if r.kind in ("announce", "poll_reminder")
    }
    assert wanted <= set(arrivals)
    duplicates = {mid: len(t) for mid, t in arrivals.items() if len(t) > 1}
    # at-least-once boundary: only a mail accepted in the instant of the kill may come twice
    assert sum(n - 1 for n in duplicates.values()) <= 1, duplicates
    received = Counter(
        (m["X-Kindred-Kind"], str(m["To"]).split("<")[-1].rstrip(">")) for m in smtp_sink.messages
    )
    for person in weekly + none:
        assert received[("announce", person.email)] == 0
    for person in none + respondents:
        assert received[("poll_reminder", person.email)] == 0
    for person in each[ANSWERED:]:
        assert 1 <= received[("poll_reminder", person.email)] <= 2  # 2 only as the duplicate
