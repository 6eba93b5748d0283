"""Mail throttles: a flip storm mails the latest state once; nobody gets more than the hourly
cap, and what is held back goes out later, not lost."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduler.extensions import Services
from scheduler.models import OutboxMessage, OutboxStatus, utcnow
from scheduler.services.gatherings import attendance
from scheduler.services.mail import delivery
from scheduler.services.mail.outbox import owe_many
from tests.services.outbox_factories import make_gathering, make_users
from tests.support.mail import run_planner

SPACING = timedelta(seconds=60)  # the default calendar_mail_spacing_seconds


@pytest.fixture
def mailer(app, config, smtp_sink) -> Iterator[Services]:
    """Delivery's own process view: same database, mail to the aiosmtpd sink."""
    services = Services(dataclasses.replace(config, smtp_url=smtp_sink.url))
    yield services
    services.close()


def calendar_mail(smtp_sink) -> list[str]:
    """The kinds of the calendar mail the SMTP server received, in order."""
    return [
        str(m["X-Kindred-Kind"])
        for m in smtp_sink.messages
        if str(m["X-Kindred-Kind"]) in ("invite", "update", "cancel", "promoted")
    ]


def test_a_flip_storm_of_30_answers_mails_the_first_and_then_only_the_latest_state(
    app, session, mailer, smtp_sink
):
    organizer, flipper = make_users(session, 2)
    gathering = make_gathering(session, organizer, starts_at=utcnow() + timedelta(days=3))
    session.commit()
    now = utcnow()
    for n in range(30):  # yes, no, yes, ... ending on "no"; the worker keeps up throughout
        moment = now + timedelta(seconds=n)
        attendance.set_rsvp(session, gathering.id, flipper.id, ("yes", "no")[n % 2], now=moment)
        session.commit()
        run_planner(app, moment)
        delivery.deliver_due(mailer, now_fn=lambda moment=moment: moment)
    assert calendar_mail(smtp_sink) == ["invite"]  # the rest waits for the spacing

    settled = now + timedelta(seconds=29) + SPACING
    delivery.deliver_due(mailer, now_fn=lambda: settled)
    assert calendar_mail(smtp_sink) == ["invite", "cancel"]  # the latest state, once
    pending = session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
    ).all()
    assert pending == []


def test_a_storm_ending_where_it_began_mails_nothing_more(app, session, mailer, smtp_sink):
    organizer, flipper = make_users(session, 2)
    gathering = make_gathering(session, organizer, starts_at=utcnow() + timedelta(days=3))
    session.commit()
    now = utcnow()
    for n in range(31):  # ends on "yes": their calendar already holds the invite they got
        moment = now + timedelta(seconds=n)
        attendance.set_rsvp(session, gathering.id, flipper.id, ("yes", "no")[n % 2], now=moment)
        session.commit()
        run_planner(app, moment)
        delivery.deliver_due(mailer, now_fn=lambda moment=moment: moment)
    delivery.deliver_due(mailer, now_fn=lambda: now + timedelta(hours=1))
    assert calendar_mail(smtp_sink) == ["invite"]


def test_no_one_gets_more_than_the_hourly_cap_and_the_rest_goes_later(
    app, session, mailer, smtp_sink
):
    organizer, person = make_users(session, 2)
    gathering = make_gathering(session, organizer, starts_at=utcnow() + timedelta(days=3))
    now = utcnow()
    cap = mailer.config.mail_per_recipient_per_hour
    owe_many(
        session,
        [
            {
                "key": f"promoted:{gathering.id}:{person.id}:{n}",
                "kind": "promoted",
                "gathering_id": gathering.id,
                "recipient_id": person.id,
                "recipient_email": person.email,
                "due_at": now,
                "payload": {"sequence": 0},
            }
            for n in range(cap + 5)
        ],
    )
    attendance.set_rsvp(session, gathering.id, person.id, "yes", now=now)  # they are going
    session.commit()
    run_planner(app, now)  # (its invite is one more mail for them)

    report = delivery.deliver_due(mailer, now_fn=lambda: now)
    assert report.sent == cap and report.held == 6
    assert len(smtp_sink.messages) == cap
    held = session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
    ).all()
    assert len(held) == 6 and all(row.due_at > now + timedelta(minutes=59) for row in held)
    assert all(row.attempts == 0 for row in held)

    assert delivery.deliver_due(mailer, now_fn=lambda: now + timedelta(minutes=30)).sent == 0
    later = delivery.deliver_due(mailer, now_fn=lambda: now + timedelta(hours=1, seconds=1))
    assert later.sent == 6
    assert len(smtp_sink.messages) == cap + 6
