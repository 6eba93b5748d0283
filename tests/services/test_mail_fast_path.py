"""The fan-out's fast paths: SMTP PIPELINING, bodies rendered once per batch, kept signers.

Each must behave exactly like the plain path it replaces: the same mail, the same per-row
outcome (sent, retried, failed for good), the same tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from scheduler.domain import messages
from scheduler.domain.messages import RenderedMail
from scheduler.extensions import Services
from scheduler.models import OutboxMessage, OutboxStatus, utcnow
from scheduler.services.gatherings import rsvp_links
from scheduler.services.gatherings.rsvp_links import read_rsvp_token, rsvp_link
from scheduler.services.mail import delivery, follow_through_mail, unsubscribe
from scheduler.services.mail.renderers import render_outbox_message
from scheduler.services.mail.transport import SmtpSettings, SmtpTransport
from scheduler.services.mail.unsubscribe import read_token, unsubscribe_url
from tests.services.outbox_factories import answer_all, make_gathering, make_users
from tests.support.smtp import CountingSinkProcess, SmtpSink, aiosmtpd_sink

SINKS = ["smtp_sink", "pipelining_sink"]


@pytest.fixture
def pipelining_sink() -> Iterator[SmtpSink]:
    """aiosmtpd advertising PIPELINING."""
    yield from aiosmtpd_sink(pipelining=True)


def _mail(n: int, body: bytes = b"Hello.\r\n") -> RenderedMail:
    message_id = f"<m{n}@kindred.test>"
    data = b"Message-ID: " + message_id.encode() + b"\r\nSubject: n\r\n\r\n" + body
    return RenderedMail(message_id, data)


def _reminders_due(session, count: int, **gathering):
    now = utcnow()
    organizer, *people = make_users(session, count + 1)
    found = make_gathering(
        session,
        organizer,
        starts_at=now + timedelta(minutes=61),
        reminders_minutes=[60],
        **gathering,
    )
    answer_all(session, found, people, now=now)
    session.commit()
    return found, people, now + timedelta(minutes=2)


def _statuses(session) -> dict[str, tuple[str, str | None]]:
    session.expire_all()
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).all()
    found = {row.recipient_email: (row.status, row.last_error) for row in rows}
    session.commit()
    return found


@pytest.fixture
def sink(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("sink", SINKS, indirect=True)
def test_pipelining_is_used_only_when_the_server_offers_it(sink):
    transport = SmtpTransport(SmtpSettings.from_url(sink.url))
    with transport:
        dotted = b".starts with a dot\r\n..two dots\r\nplain\r\n.\r\n"
        results = list(
            transport.send_many([(_mail(n, dotted), "k@kindred.test", "a@b.org") for n in range(5)])
        )
        assert transport.pipelining is sink.handler.pipelining
    assert all(result.ok for result in results)
    assert sink.handler.message_ids() == [f"<m{n}@kindred.test>" for n in range(5)]
    for message in sink.messages:  # dot-stuffing undone by the server: content arrives intact
        assert message.get_payload() == dotted.decode()


def test_pipelining_can_be_turned_off_in_the_url(pipelining_sink):
    with SmtpTransport(SmtpSettings.from_url(pipelining_sink.url + "?pipelining=0")) as t:
        assert t.send(_mail(1), "k@kindred.test", "a@b.org").ok
        assert not t.pipelining


@pytest.mark.parametrize("sink", SINKS, indirect=True)
def test_a_refused_recipient_mid_batch_fails_only_its_own_row(session, app, config, sink):
    _, people, later = _reminders_due(session, 5)
    sink.handler.refuse_rcpt[people[1].email] = "550 no such user here"
    sink.handler.refuse_rcpt[people[3].email] = "451 greylisted, try again"
    mailer = Services(dataclasses.replace(config, smtp_url=sink.url))
    try:
        report = delivery.deliver_due(mailer, now_fn=lambda: later)
    finally:
        mailer.db.dispose()

    assert (report.sent, report.failed, report.retried) == (3, 1, 1)
    received = sorted(str(m["To"]).split("<")[1].rstrip(">") for m in sink.messages)
    assert received == sorted(p.email for i, p in enumerate(people) if i not in (1, 3))
    assert len(set(sink.handler.message_ids())) == 3
    statuses = _statuses(session)
    assert statuses[people[1].email] == (OutboxStatus.FAILED, "550 no such user here")
    assert statuses[people[3].email] == (OutboxStatus.PENDING, "451 greylisted, try again")
    assert {statuses[p.email][0] for i, p in enumerate(people) if i not in (1, 3)} == {
        OutboxStatus.SENT
    }


@pytest.mark.parametrize("sink", SINKS, indirect=True)
def test_a_refusal_after_the_content_retries_that_mail_and_the_next_still_goes(
    session, app, config, sink
):
    _reminders_due(session, 3)
    later = utcnow() + timedelta(minutes=2)
    sink.handler.reject_next.append((452, "mailbox full, later"))
    mailer = Services(dataclasses.replace(config, smtp_url=sink.url))
    try:
        first = delivery.deliver_due(mailer, now_fn=lambda: later)
        retry = delivery.deliver_due(mailer, now_fn=lambda: later + timedelta(hours=1))
    finally:
        mailer.db.dispose()
    assert (first.sent, first.retried, retry.sent) == (2, 1, 1)
    ids = sink.handler.message_ids()
    assert len(ids) == len(set(ids)) == 3
    assert {status for status, _ in _statuses(session).values()} == {OutboxStatus.SENT}


def test_stopping_early_never_sends_the_mail_already_announced(pipelining_sink):
    transport = SmtpTransport(SmtpSettings.from_url(pipelining_sink.url))
    results = transport.send_many([(_mail(n), "k@kindred.test", "a@b.org") for n in range(3)])
    assert next(results).ok  # mail 1's MAIL/RCPT/DATA went out with mail 0's content
    results.close()
    # the same transport carries on (on a new connection)
    assert transport.send(_mail(9), "k@kindred.test", "a@b.org").ok
    transport.close()
    assert pipelining_sink.handler.message_ids() == ["<m0@kindred.test>", "<m9@kindred.test>"]


def test_an_address_no_smtp_server_can_take_fails_for_good_without_stopping_the_rest(
    pipelining_sink,
):
    with SmtpTransport(SmtpSettings.from_url(pipelining_sink.url)) as transport:
        results = list(
            transport.send_many(
                [
                    (_mail(1), "k@kindred.test", "ana@bücher.example"),
                    (_mail(2), "k@kindred.test", "jörg@example.org"),
                    (_mail(3), "k@kindred.test", "c@example.org"),
                ]
            )
        )
    assert [(r.ok, r.permanent) for r in results] == [(True, False), (False, True), (True, False)]
    assert [rcpts for _, rcpts in pipelining_sink.handler.envelopes] == [
        ["ana@xn--bcher-kva.example"],
        ["c@example.org"],
    ]


def test_the_bench_sink_counts_each_message_id_over_both_dialogues():
    sink = CountingSinkProcess()
    try:
        for url in (sink.url, sink.url + "?pipelining=0"):
            with SmtpTransport(SmtpSettings.from_url(url)) as transport:
                mails = [(_mail(n, b"..x\r\n"), "k@kindred.test", "a@b.org") for n in range(4)]
                assert all(r.ok for r in transport.send_many(mails))
    finally:
        count, message_ids = sink.stop()
    assert count == 8
    assert message_ids == [f"<m{n}@kindred.test>" for n in range(4)]


def test_bodies_rendered_once_per_batch_equal_the_plain_rendering(
    session, app, config, monkeypatch
):
    # one-click links carry the second they were signed in: both renderings sign in the same one
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_000)
    now = utcnow()
    organizer, *people = make_users(session, 7)
    people[0].name = 'Zoë <b>"&amp;"</b> O\'Neil'
    people[1].name = "Ann \x1e0\x1f Marker"
    people[2].timezone = "America/New_York"
    people[3].timezone = "Asia/Tokyo"
    people[4].name = "Lee"
    gathering = make_gathering(
        session, organizer, starts_at=now + timedelta(minutes=61), reminders_minutes=[60]
    )
    answer_all(session, gathering, people[:4], now=now)
    answer_all(session, gathering, people[4:], "maybe", now=now)
    session.commit()
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "reminder").order_by(OutboxMessage.id)
    ).all()
    assert len(rows) == 6

    shared = [render_outbox_message(session, row, config, now) for row in rows]
    bodies = session.info["mail_body_cache"]
    assert len(bodies) >= 3 and None not in bodies.values()  # shared by zone and answer
    plain = []
    for row in rows:
        session.info.pop("mail_body_cache")  # each one the first of its kind: composed plainly
        plain.append(render_outbox_message(session, row, config, now))
    session.commit()
    assert shared == plain
    assert all(
        messages.render_message(a) == messages.render_message(b)
        for a, b in zip(shared, plain, strict=True)
    )
    zoe = next(m for m in shared if m.to_email == people[0].email)
    assert "Zoë &lt;b&gt;&#34;&amp;amp;&#34;&lt;/b&gt; O&#39;Neil" in (zoe.html or "")
    assert 'Hello Zoë <b>"&amp;"</b> O\'Neil,' in zoe.text


def test_kept_signers_make_the_same_tokens_and_they_verify(config):
    sign_rsvp, sign_unsubscribe = follow_through_mail._signers(config)
    for gathering_id, user_id in ((1, 2), (40_000, 7), (123_456_789_012, 123_456_789_012)):
        for response in ("yes", "maybe", "no"):
            token = sign_rsvp([gathering_id, user_id, response])
            claim = read_rsvp_token(config, token)
            assert (claim.gathering_id, claim.user_id, claim.response) == (
                gathering_id,
                user_id,
                response,
            )
            link = rsvp_link(config, gathering_id, user_id, response)
            mine = f"{config.base_url}/r/{sign_rsvp([gathering_id, user_id, response])}"
            if "/r/." in link:  # itsdangerous zlib-compressed this one; ours is plain, still valid
                assert mine != link and "/r/." not in mine
            elif link.rsplit(".", 2)[1] == mine.rsplit(".", 2)[1]:  # signed in the same second
                assert mine == link
        token = sign_unsubscribe([user_id, gathering_id])
        assert read_token(config, token).user_id == user_id
        theirs = unsubscribe_url(config, user_id, gathering_id)
        if "/unsubscribe/." not in theirs:  # not compressed by itsdangerous: the very same
            assert f"{config.base_url}/unsubscribe/{token}" == theirs
    assert rsvp_links.RSVP_LINK_SALT != unsubscribe.UNSUBSCRIBE_SALT  # two different signers


@pytest.mark.parametrize(
    ("name", "email"),
    [
        ("Bench Person 1", "bench1@example.org"),
        ("", "a.b+c@sub.example.org"),
        ("O'Neil-Smith", "x@EXAMPLE.org"),
        ("Dr. Who", "who@example.org"),  # a special: quoted
        ("Zoë", "z@example.org"),  # non-ASCII: an encoded word
        ("Ann  Spaced ", "a@example.org"),  # collapsed by _one_line
        ("Ann", "ann@bücher.example"),  # IDNA
        ("Ann", "a..b@example.org"),  # not a dot-atom: the parser decides
    ],
)
def test_plain_addresses_skip_the_parser_with_the_same_header(name, email):
    try:
        expected = messages._parsed_address_header.__wrapped__(name, email)
    except ValueError:
        with pytest.raises(ValueError):
            messages._address_header(name, email)
        return
    assert messages._address_header(name, email) == expected
