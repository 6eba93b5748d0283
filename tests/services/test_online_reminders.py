"""Reminders of an online gathering put "Join: <link>" first, for the people going only."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from scheduler.extensions import Services
from scheduler.models import utcnow
from scheduler.services.mail import delivery
from tests.services.outbox_factories import answer_all, make_gathering, make_users

LINK = "https://meet.example.com/board-games"


def test_a_reminder_puts_the_join_link_first_for_people_going_only(session, config, smtp_sink):
    mailer = Services(dataclasses.replace(config, smtp_url=smtp_sink.url))
    try:
        organizer, going, maybe = make_users(session, 3)
        starts = datetime(2030, 1, 15, 18, 0, tzinfo=UTC)
        g = make_gathering(session, organizer, starts_at=starts, reminders_minutes=[60])
        g.attendance_mode, g.online_url = "online", LINK
        answer_all(session, g, [going], now=utcnow())
        answer_all(session, g, [maybe], "maybe", now=utcnow())
        session.commit()

        delivery.deliver_due(mailer, now_fn=lambda: starts - timedelta(minutes=59))
    finally:
        mailer.db.dispose()

    texts = {
        m["To"].addresses[0].addr_spec: m.get_body(preferencelist=("plain",)).get_content()
        for m in smtp_sink.messages
        if m["X-Kindred-Kind"] == "reminder"
    }
    assert texts[going.email].splitlines()[0] == f"Join: {LINK}"
    assert LINK not in texts[maybe.email]
    assert "Online:" in texts[maybe.email]  # they still learn it happens online
