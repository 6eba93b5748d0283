"""Every ICS the service produces, read by two independent parsers (icalendar and vobject),
across create → reschedule → cancel, with hostile user text."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import vobject
from sqlalchemy import select

from scheduler.domain.messages import build_message
from scheduler.models import OutboxMessage, OutboxStatus
from scheduler.services.mail.renderers import render_outbox_message
from tests.support.mail import run_planner

HOSTILE_TITLE = 'Semi;colon, comma\\ back "quote" 🎉 a\r\nBcc: victim@example.org\rlone CR'
HOSTILE_LOCATION = "Room 1;2,3\\4\nEND:VEVENT\nBEGIN:VEVENT"
# an emoji placed so it straddles the 75-octet fold, then 10 kB of mixed text
HOSTILE_DESCRIPTION = (
    "x" * 61
    + "🎉🎉🎉 "
    + "Line one\r\nDESCRIPTION:injected\r\n\r\nATTENDEE:mailto:evil@example.org\n"
    + ("Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich; ÆØÅ 漢字 🚀\n" * 140)
)
HOSTILE_NAME = "Ann\r\nBcc: victim@example.org"
# mail that carries a calendar part (reminders and others are not this test's subject)
CALENDAR_MAIL = ("invite", "update", "cancel", "promoted")


@pytest.fixture
def db(app):
    session = app.extensions["kindred"].db.session_factory()
    yield session
    session.close()


def future(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def check_ics(raw: bytes, *, method: str | None) -> icalendar.Event:
    """Structural checks on the raw text, then both parsers; returns the one VEVENT."""
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in lines), max(lines, key=len)
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    raw.decode("utf-8")  # folding never splits a UTF-8 sequence
    starts = [line for line in lines if not line.startswith((b" ", b"\t"))]
    assert sum(1 for line in starts if line == b"BEGIN:VEVENT") == 1
    assert not any(line.startswith((b"Bcc", b"DESCRIPTION:injected")) for line in starts)

    cal = icalendar.Calendar.from_ical(raw)
    (event,) = cal.walk("VEVENT")
    assert cal.get("METHOD") == method
    assert str(event["SUMMARY"]) == HOSTILE_TITLE.replace("\r\n", "\n").replace("\r", "\n")
    assert str(event["LOCATION"]) == HOSTILE_LOCATION
    assert str(event["DESCRIPTION"]) == HOSTILE_DESCRIPTION.replace("\r\n", "\n")
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert {tz["TZID"] for tz in cal.walk("VTIMEZONE")} == {"America/New_York"}
    assert raw.count(b"\r\nATTENDEE") <= 1

    parsed = vobject.readOne(raw.decode("utf-8"))
    vevent = parsed.vevent
    assert vevent.uid.value == str(event["UID"])
    assert int(vevent.sequence.value) == event["SEQUENCE"]
    assert vevent.summary.value == str(event["SUMMARY"])
    assert vevent.location.value == HOSTILE_LOCATION
    assert vevent.description.value == str(event["DESCRIPTION"])
    assert vevent.dtstart.value == event.decoded("DTSTART")
    assert vevent.dtstart.value.utcoffset() is not None
    assert len(parsed.contents.get("vevent", [])) == 1
    return event


def mail_ics(db, config) -> list[tuple[email.message.EmailMessage, bytes]]:
    """Render and 'send' every pending outbox row; the messages and their calendar parts."""
    run_planner(db)  # the worker's part: owe what the recorded events call for
    db.expire_all()
    found = []
    rows = db.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.kind.in_(CALENDAR_MAIL))
        .order_by(OutboxMessage.id)
    ).all()
    for row in rows:
        mail = render_outbox_message(db, row, config)
        row.status = OutboxStatus.SENT
        if mail is None:
            continue
        message = email.message_from_bytes(bytes(build_message(mail)), policy=email.policy.default)
        (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        assert part.get_param("method") == mail.ics_method
        found.append((message, part.get_payload(decode=True)))
    db.commit()
    return found


def test_create_reschedule_cancel_with_hostile_text_reads_the_same_in_both_parsers(api, db, config):
    org = api.signup("Olga " + HOSTILE_NAME)
    body = {
        "title": HOSTILE_TITLE,
        "description": HOSTILE_DESCRIPTION,
        "location": HOSTILE_LOCATION,
        "timezone": "America/New_York",
        "duration_minutes": 120,
        "starts_at": future(10).isoformat(),
        "interests": ["board games", "c++; rust, go"],
    }
    g = api.call("POST", "/api/v1/gatherings", org, json=body).get_json()
    people = [api.signup(HOSTILE_NAME, timezone=tz) for tz in ("UTC", "Asia/Kolkata")]
    for person in people:
        api.call("PUT", f"/api/v1/gatherings/{g['id']}/rsvp", person, json={"response": "yes"})
    feed = (
        api.call("GET", "/api/v1/me", org)
        .get_json()["feed_url"]
        .removeprefix("http://kindred.test")
    )

    stages = []
    invites = mail_ics(db, config)
    stages.append(("create", invites, "REQUEST"))
    api.call(
        "PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"starts_at": future(11).isoformat()}
    )
    stages.append(("reschedule", mail_ics(db, config), "REQUEST"))
    api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel", org)
    stages.append(("cancel", mail_ics(db, config), "CANCEL"))

    uids, sequences = set(), []
    for stage, messages, method in stages:
        assert len(messages) == 2, stage
        for message, raw in messages:
            assert message["Bcc"] is None
            assert "\n" not in str(message["To"]) and "\n" not in str(message["Subject"])
            event = check_ics(raw, method=method)
            uids.add(str(event["UID"]))
            sequences.append((stage, event["SEQUENCE"]))
            if method == "CANCEL":
                assert event["STATUS"] == "CANCELLED"
    assert len(uids) == 1
    assert [s for _, s in sequences] == [0, 0, 1, 1, 2, 2]

    for path in (feed, f"/gatherings/{g['id']}.ics"):
        response = api.client.get(path)
        assert response.status_code == 200
        event = check_ics(response.data, method=None)
        assert str(event["UID"]) in uids
        assert event["SEQUENCE"] == 2
        assert event["STATUS"] == "CANCELLED"
        assert [str(c) for c in event["CATEGORIES"].cats] == ["board games", "c++; rust, go"]
