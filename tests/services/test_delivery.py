"""Delivering the outbox over real SMTP (aiosmtpd): once per row, retries, failures, claims."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import select

from scheduler.domain.messages import RenderedMail
from scheduler.extensions import Services
from scheduler.models import OutboxMessage, OutboxStatus, utcnow
from scheduler.services.gatherings import attendance
from scheduler.services.mail import delivery, planner
from scheduler.services.mail.transport import FileTransport, SmtpSettings
from tests.services.outbox_factories import answer_all, make_gathering, make_users
from tests.support.mail import run_planner
from workers import mail as mail_jobs


@pytest.fixture
def mailer(app, config, smtp_sink) -> Iterator[Services]:
    """Delivery's own process view: same database, mail to the aiosmtpd sink."""
    services = Services(dataclasses.replace(config, smtp_url=smtp_sink.url))
    yield services
    services.db.dispose()


def _rows(session) -> list[OutboxMessage]:
    session.expire_all()
    rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    return rows


def _due_reminders(session, count: int = 3):
    """`count` attendees with a reminder due now (the start is 59 minutes away)."""
    now = utcnow()
    organizer, *people = make_users(session, count + 1)
    gathering = make_gathering(
        session, organizer, starts_at=now + timedelta(minutes=61), reminders_minutes=[60]
    )
    answer_all(session, gathering, people, now=now)
    session.commit()
    return gathering, people, now + timedelta(minutes=2)


def test_due_mail_goes_out_once_with_a_stable_message_id(session, mailer, smtp_sink):
    _gathering, people, later = _due_reminders(session)

    report = delivery.deliver_due(mailer, now_fn=lambda: later)
    again = delivery.deliver_due(mailer, now_fn=lambda: later)

    assert (report.sent, again.claimed) == (3, 0)
    ids = smtp_sink.handler.message_ids()
    assert len(ids) == len(set(ids)) == 3
    for message in smtp_sink.messages:
        assert message["X-Kindred-Kind"] == "reminder"
        assert message["Auto-Submitted"] == "auto-generated"
        assert (
            str(message["List-Unsubscribe"]).strip().startswith("<http://kindred.test/unsubscribe/")
        )
    assert sorted(str(m["To"]).split("<")[1].rstrip(">") for m in smtp_sink.messages) == sorted(
        p.email for p in people
    )
    rows = [r for r in _rows(session) if r.kind == "reminder"]
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert all(r.sent_at is not None and r.claimed_until is None for r in rows)


def test_nothing_goes_out_before_it_is_due(session, mailer, smtp_sink):
    _due_reminders(session)
    report = delivery.deliver_due(mailer, now_fn=lambda: utcnow() - timedelta(minutes=5))
    assert report.claimed == 0
    assert smtp_sink.messages == []


def test_a_451_is_retried_later_with_the_same_message_id(session, mailer, smtp_sink):
    _, _, later = _due_reminders(session, count=1)
    smtp_sink.handler.reject_next.append((451, "try later"))

    first = delivery.deliver_due(mailer, now_fn=lambda: later)
    row = next(r for r in _rows(session) if r.kind == "reminder")
    assert (first.sent, first.retried) == (0, 1)
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert "451" in (row.last_error or "")
    assert row.due_at >= later + timedelta(seconds=mailer.config.outbox_retry_base_seconds)

    too_soon = delivery.deliver_due(mailer, now_fn=lambda: later + timedelta(seconds=5))
    assert too_soon.claimed == 0
    retry = delivery.deliver_due(mailer, now_fn=lambda: row.due_at + timedelta(seconds=1))
    assert retry.sent == 1
    assert len(smtp_sink.handler.message_ids()) == 1
    assert [r.status for r in _rows(session) if r.kind == "reminder"] == [OutboxStatus.SENT]


def test_backoff_grows_exponentially_and_is_capped(config):
    delays = [delivery.retry_delay(config, n).total_seconds() for n in (1, 2, 3, 10)]
    assert delays == [60, 120, 240, config.outbox_retry_max_seconds]


def test_a_550_fails_for_good_and_the_organizer_sees_why(app, mailer, smtp_sink, api):
    # no `session` fixture here: its app context would make every request share flask.g
    organizer = api.signup("Olga")
    person = api.signup("Pat")
    starts = (utcnow() + timedelta(minutes=61)).isoformat()
    created = api.call(
        "POST",
        "/api/v1/gatherings",
        organizer,
        json={
            "title": "Chess",
            "timezone": "UTC",
            "duration_minutes": 60,
            "starts_at": starts,
            "reminders": [60],
        },
    ).get_json()
    assert (
        api.call(
            "PUT", f"/api/v1/gatherings/{created['id']}/rsvp", person, json={"response": "yes"}
        ).status_code
        == 200
    )
    run_planner(app)  # as the worker does once the answer is committed
    delivery.deliver_due(mailer)  # the invites, due at once
    smtp_sink.handler.reject_next.append((550, "no such user here"))

    delivery.deliver_due(mailer, now_fn=lambda: utcnow() + timedelta(minutes=2))

    status = api.call("GET", f"/api/v1/gatherings/{created['id']}/mail-status", organizer)
    assert status.status_code == 200
    body = status.get_json()
    assert [(f["recipient_email"], f["kind"]) for f in body["failed"]] == [
        (person["email"], "reminder")
    ]
    assert "550 no such user here" in body["failed"][0]["error"]
    assert body["counts"]["reminder"] == {"failed": 1}
    assert (
        api.call("GET", f"/api/v1/gatherings/{created['id']}/mail-status", person).status_code
        == 403
    )
    assert api.call("GET", "/api/v1/gatherings/999999/mail-status", organizer).status_code == 404


def test_a_claim_left_by_a_dead_worker_is_taken_over_after_it_expires(session, mailer, smtp_sink):
    _, _, later = _due_reminders(session, count=2)
    ids, token = delivery.claim_due(session, now=later, limit=10, claim_seconds=60)
    session.commit()  # ...and the worker that claimed them dies here

    assert delivery.deliver_due(mailer, now_fn=lambda: later).claimed == 0
    report = delivery.deliver_due(mailer, now_fn=lambda: later + timedelta(seconds=61))
    assert report.sent == 2
    assert len(set(smtp_sink.handler.message_ids())) == 2

    # the dead worker's token no longer matches: it cannot undo the new owner's work
    with mailer.db.engine.connect() as connection:
        assert delivery._mark(connection, ids, token, {"status": OutboxStatus.PENDING}) == 0


def test_a_batch_too_slow_for_its_claim_hands_the_rest_back_unsent(session, config, smtp_sink):
    # half the claim is the budget: with a zero-second claim, one mail uses all of it
    _, _, later = _due_reminders(session, count=3)
    services = Services(dataclasses.replace(config, smtp_url=smtp_sink.url, outbox_claim_seconds=0))
    try:
        report = delivery.deliver_due(services, now_fn=lambda: later)
        rows = [r for r in _rows(session) if r.kind == "reminder"]
        assert (report.sent, report.released) == (1, 2)
        assert sorted((r.status, r.attempts) for r in rows) == [
            (OutboxStatus.PENDING, 0),
            (OutboxStatus.PENDING, 0),
            (OutboxStatus.SENT, 1),
        ]
        # the next runs send what was handed back, each mail once
        while delivery.deliver_due(services, now_fn=lambda: later).claimed:
            pass
    finally:
        services.db.dispose()
    ids = smtp_sink.handler.message_ids()
    assert len(ids) == len(set(ids)) == 3


def test_an_unreachable_server_hands_the_batch_back(session, app, config):
    _, _, later = _due_reminders(session, count=3)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    services = Services(dataclasses.replace(config, smtp_url=f"smtp://127.0.0.1:{port}"))
    try:
        report = delivery.deliver_due(services, now_fn=lambda: later)
    finally:
        services.db.dispose()
    assert (report.sent, report.retried, report.released) == (0, 1, 2)
    rows = [r for r in _rows(session) if r.kind == "reminder"]
    assert {r.status for r in rows} == {OutboxStatus.PENDING}
    assert sorted(r.attempts for r in rows) == [0, 0, 1]


def test_mail_no_longer_owed_at_send_time_is_withdrawn_not_sent(session, mailer, smtp_sink):
    gathering, _people, later = _due_reminders(session, count=2)
    gathering.status = "cancelled"  # behind the outbox's back: delivery re-checks anyway
    session.commit()
    report = delivery.deliver_due(mailer, now_fn=lambda: later)
    assert (report.sent, report.withdrawn) == (0, 2)
    assert smtp_sink.messages == []


def test_file_transport_writes_one_eml_per_message_id(session, app, config, tmp_path):
    _, _, later = _due_reminders(session, count=2)
    services = Services(config)  # no SMTP_URL: .eml files
    try:
        assert delivery.deliver_due(services, now_fn=lambda: later).sent == 2
    finally:
        services.db.dispose()
    files = sorted(config.outbox_path.glob("*.eml"))
    assert len(files) == 2
    assert b"X-Kindred-Kind: reminder" in files[0].read_bytes()
    # a resend of the same Message-ID overwrites its file instead of adding one
    from email import message_from_bytes, policy

    data = files[0].read_bytes()
    message_id = str(message_from_bytes(data, policy=policy.SMTP)["Message-ID"])
    FileTransport(config.outbox_path).send(RenderedMail(message_id, data), "a@b", "c@d")
    assert len(list(config.outbox_path.glob("*.eml"))) == 2


def test_smtp_url_with_credentials_and_tls_modes():
    plain = SmtpSettings.from_url("smtp://mailer:s%40cret@mail.example.org:2525")
    assert (plain.host, plain.port, plain.username, plain.password) == (
        "mail.example.org",
        2525,
        "mailer",
        "s@cret",
    )
    assert SmtpSettings.from_url("smtps://mail.example.org").port == 465
    assert SmtpSettings.from_url("smtp://h?starttls=1").starttls
    with pytest.raises(ValueError):
        SmtpSettings.from_url("http://nope")


def test_answers_ask_for_one_planner_run_after_commit_and_the_run_wakes_delivery(
    app, session, redis_client
):
    services = app.extensions["kindred"]
    organizer, *people = make_users(session, 3)
    gathering = make_gathering(session, organizer, starts_at=utcnow() + timedelta(days=2))
    session.commit()
    queue = Queue("mail", connection=redis_client)
    for person in people:
        attendance.set_rsvp(session, gathering.id, person.id, "yes", now=utcnow())
    assert not planner.run_when_requested(services, timeout=0.2)  # nothing before the commit
    session.commit()
    # what the clock does between its periodic tasks: one run for the transaction's events
    assert planner.run_when_requested(services, timeout=5)
    assert not planner.run_when_requested(services, timeout=0.2)
    assert [job.func_name for job in queue.jobs] == ["workers.mail.plan"]

    queue.empty()
    report = run_planner(app)
    assert report.events == 2
    assert [job.func_name for job in queue.jobs] == ["workers.mail.deliver_due"]
    invites = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "invite")).all()
    assert sorted(row.recipient_id for row in invites) == sorted(p.id for p in people)


def test_the_sweep_enqueues_delivery_only_when_mail_is_owed(
    session, app, config, redis_client, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("REDIS_URL", config.redis_url or "")
    monkeypatch.setenv("SECRET_KEY", config.secret_key)
    monkeypatch.setenv("KINDRED_INSTANCE_PATH", str(config.instance_path))
    queue = Queue("mail", connection=redis_client)
    assert mail_jobs.sweep_outbox() == 0
    assert queue.count == 0

    _due_reminders(session, count=2)  # due in a minute: scheduled, not queued
    assert mail_jobs.sweep_outbox() == 0
    session.execute(OutboxMessage.__table__.update().values(due_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert mail_jobs.sweep_outbox() == 1
    assert mail_jobs.sweep_outbox() == 0  # one already waits in the queue


def test_operator_cli_lists_and_retries_failures(session, app, mailer, smtp_sink):
    _, _, later = _due_reminders(session, count=1)
    smtp_sink.handler.reject_next.append((554, "rejected"))
    delivery.deliver_due(mailer, now_fn=lambda: later)
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["outbox", "list"])
    assert listed.exit_code == 0, listed.output
    assert "failed: 1" in listed.output and "554 rejected" in listed.output

    retried = runner.invoke(args=["outbox", "retry"])
    assert "1 failed mail queued again" in retried.output
    assert delivery.deliver_due(mailer, now_fn=lambda: later + timedelta(seconds=1)).sent == 1
    assert "sent: 1" in runner.invoke(args=["outbox", "list", "--status", "sent"]).output


def test_operator_cli_shows_the_planners_backlog(session, app):
    organizer, person = make_users(session, 2)
    gathering = make_gathering(session, organizer, starts_at=utcnow() + timedelta(days=2))
    attendance.set_rsvp(session, gathering.id, person.id, "yes", now=utcnow())
    session.commit()
    runner = app.test_cli_runner()
    assert "planner has not handled yet: 1 (oldest " in runner.invoke(args=["outbox", "list"]).output
    run_planner(app)
    assert "planner has not handled yet: 0\n" in runner.invoke(args=["outbox", "list"]).output
