"""Which mail each change owes (outbox rows) and what that mail says when it is rendered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import vobject
from sqlalchemy import select

from scheduler.models import OutboxMessage, OutboxStatus
from scheduler.services.mail.renderers import RENDERERS, render_outbox_message
from tests.support.mail import run_planner, send_pending

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# the kinds this module owes (reminders and the like are owed by others)
CALENDAR_MAIL = ("invite", "update", "cancel", "promoted", "poll_failed")


@pytest.fixture
def db(app):
    """A session of our own, separate from the request sessions."""
    session = app.extensions["kindred"].db.session_factory()
    yield session
    session.close()


def future(days: int = 10) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def create(api, organizer, **extra):
    body = {
        "title": "Soldering evening",
        "timezone": "Europe/Berlin",
        "duration_minutes": 90,
        "location": "Hackspace, Room 2",
        "starts_at": future().isoformat(),
        **extra,
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def answer(api, user, gathering_id, value):
    response = api.call(
        "PUT", f"/api/v1/gatherings/{gathering_id}/rsvp", user, json={"response": value}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rows(db, status=None):
    run_planner(db)  # the worker's part: owe what the recorded events call for
    db.expire_all()
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.kind.in_(CALENDAR_MAIL))
        .order_by(OutboxMessage.id)
    )
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    found = list(db.scalars(stmt))
    db.commit()  # end our snapshot: the next read sees what later requests write
    return found


def owed(db):
    """(kind, recipient email) of every pending row."""
    return sorted((r.kind, r.recipient_email) for r in rows(db, OutboxStatus.PENDING))


def deliver(db, config):
    """Render every pending row as delivery would and mark it sent; returns the messages."""
    return [message for _, message in send_pending(db, config, now=NOW, kinds=CALENDAR_MAIL)]


def calendar_part(message):
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    raw = parts[0].get_payload(decode=True)
    return parts[0], raw


def parsed_event(raw: bytes):
    """The VEVENT as icalendar and vobject read it (both must accept the text)."""
    cal = icalendar.Calendar.from_ical(raw)
    (event,) = cal.walk("VEVENT")
    vcal = vobject.readOne(raw.decode("utf-8"))
    return cal, event, vcal


def test_every_kind_the_calendars_issue_owes_has_a_renderer():
    assert {"invite", "update", "cancel", "promoted", "poll_failed"} <= set(RENDERERS)


def test_yes_and_maybe_owe_one_invite_each_and_no_change_of_mind_owes_another(api, db):
    org = api.signup("Olga")
    g = create(api, org)
    ann, bob = api.signup("Ann"), api.signup("Bob")
    answer(api, ann, g["id"], "yes")
    answer(api, bob, g["id"], "maybe")
    answer(api, bob, g["id"], "yes")  # still in the calendar: nothing new
    assert owed(db) == [("invite", ann["email"]), ("invite", bob["email"])]
    assert all(r.key.startswith(f"invite:{g['id']}:") for r in rows(db))


def test_invite_mail_is_multipart_with_a_request_in_the_recipients_zone(api, db, config):
    org = api.signup("Olga")
    start = datetime(2030, 3, 5, 17, 0, tzinfo=UTC)  # 18:00 in Berlin, 12:00 in New York
    g = create(api, org, starts_at=start.isoformat(), interests=["electronics"])
    ann = api.signup("Ann", timezone="America/New_York")
    answer(api, ann, g["id"], "yes")
    (message,) = deliver(db, config)

    assert message["To"].addresses[0].addr_spec == ann["email"]
    assert message["X-Kindred-Kind"] == "invite"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].startswith("<kindred.")
    types = [p.get_content_type() for p in message.walk()]
    assert types[:1] == ["multipart/alternative"]
    assert {"text/plain", "text/html", "text/calendar"} <= set(types)
    text = message.get_body(("plain",)).get_content()
    assert "Tuesday, 5 March 2030, 12:00 to 13:30 (America/New_York)" in text
    assert "18:00 to 19:30 (Europe/Berlin)" in text  # where it happens

    part, raw = calendar_part(message)
    assert part.get_param("method") == "REQUEST"
    cal, event, vcal = parsed_event(raw)
    assert cal["METHOD"] == "REQUEST"
    assert event["SEQUENCE"] == 0
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event.decoded("DTSTART") == start
    assert cal.walk("VTIMEZONE")[0]["TZID"] == "Europe/Berlin"
    assert str(event["URL"]) == f"http://kindred.test/g/{g['id']}"
    assert event["STATUS"] == "CONFIRMED"
    assert [str(c) for c in event["CATEGORIES"].cats] == ["electronics"]
    attendee = event["ATTENDEE"]
    assert str(attendee) == f"mailto:{ann['email']}"
    assert attendee.params["PARTSTAT"] == "ACCEPTED"
    assert event["ORGANIZER"].params["CN"] == "Olga"
    assert vcal.vevent.uid.value == str(event["UID"])
    assert vcal.vevent.dtstart.value == start


def test_the_same_row_renders_the_same_message_id_twice(api, db, config):
    org = api.signup("Olga")
    g = create(api, org)
    ann = api.signup("Ann")
    answer(api, ann, g["id"], "yes")
    (row,) = rows(db)
    first = render_outbox_message(db, row, config, NOW)
    again = render_outbox_message(db, row, config, NOW + timedelta(minutes=5))
    db.rollback()
    assert first.message_id == again.message_id


def test_reschedule_owes_updates_with_a_higher_sequence_to_everyone_in_it(api, db, config):
    org = api.signup("Olga")
    g = create(api, org, capacity=1)
    ann, bob, cid, dan = (api.signup(n) for n in ("Ann", "Bob", "Cid", "Dan"))
    answer(api, ann, g["id"], "yes")  # going
    answer(api, bob, g["id"], "yes")  # waitlisted
    answer(api, cid, g["id"], "maybe")
    answer(api, dan, g["id"], "no")
    invites = deliver(db, config)
    assert len(invites) == 3
    uid = str(parsed_event(calendar_part(invites[0])[1])[1]["UID"])

    moved = future(12).isoformat()
    response = api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"starts_at": moved})
    assert response.status_code == 200, response.get_json()
    updates = deliver(db, config)
    assert sorted(m["To"].addresses[0].display_name for m in updates) == ["Ann", "Bob", "Cid"]
    for message in updates:
        assert message["X-Kindred-Kind"] == "update"
        _, event, vcal = parsed_event(calendar_part(message)[1])
        assert str(event["UID"]) == uid
        assert event["SEQUENCE"] == 1
        assert int(vcal.vevent.sequence.value) == 1
        assert event.decoded("DTSTART") == datetime.fromisoformat(moved)


def test_a_detail_change_owes_no_mail_but_a_place_change_does(api, db, config):
    org = api.signup("Olga")
    g = create(api, org)
    ann = api.signup("Ann")
    answer(api, ann, g["id"], "yes")
    deliver(db, config)
    api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"reminders": [30]})
    assert owed(db) == []
    api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"location": "Room 3"})
    assert owed(db) == [("update", ann["email"])]


def test_an_unsent_invite_is_superseded_by_the_update(api, db, config):
    org = api.signup("Olga")
    g = create(api, org)
    ann = api.signup("Ann")
    answer(api, ann, g["id"], "yes")
    api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"location": "Room 3"})
    (message,) = deliver(db, config)
    assert message["X-Kindred-Kind"] == "update"
    assert "Room 3" in message.get_body(("plain",)).get_content()


def test_saying_no_after_an_invite_owes_that_person_a_cancel(api, db, config):
    org = api.signup("Olga")
    g = create(api, org)
    ann, bob = api.signup("Ann"), api.signup("Bob")
    answer(api, ann, g["id"], "yes")
    answer(api, bob, g["id"], "yes")
    deliver(db, config)
    answer(api, ann, g["id"], "no")
    (message,) = deliver(db, config)
    assert message["To"].addresses[0].addr_spec == ann["email"]
    assert message["X-Kindred-Kind"] == "cancel"
    part, raw = calendar_part(message)
    assert part.get_param("method") == "CANCEL"
    cal, event, _ = parsed_event(raw)
    assert cal["METHOD"] == "CANCEL"
    # it removes one attendee: no STATUS (RFC 5546 §3.2.5), a SEQUENCE above the invite's
    assert "STATUS" not in event
    assert event["SEQUENCE"] == 1
    # and yes again: a fresh invite (their calendar lost the event)
    answer(api, ann, g["id"], "yes")
    (again,) = deliver(db, config)
    assert again["X-Kindred-Kind"] == "invite"
    assert again["Message-ID"] != message["Message-ID"]


def test_yes_then_no_before_anything_was_sent_sends_nothing_and_yes_again_invites(api, db, config):
    org = api.signup("Olga")
    g = create(api, org)
    ann = api.signup("Ann")
    answer(api, ann, g["id"], "yes")
    answer(api, ann, g["id"], "no")
    assert deliver(db, config) == []
    answer(api, ann, g["id"], "yes")
    (message,) = deliver(db, config)
    assert message["X-Kindred-Kind"] == "invite"


def test_cancelling_owes_a_cancel_to_everyone_who_was_sent_it(api, db, config):
    org = api.signup("Olga")
    g = create(api, org)
    ann, bob, cid = api.signup("Ann"), api.signup("Bob"), api.signup("Cid")
    answer(api, ann, g["id"], "yes")
    answer(api, bob, g["id"], "maybe")
    deliver(db, config)
    answer(api, cid, g["id"], "yes")  # owed an invite that never went out
    assert api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel", org).status_code == 200
    cancels = deliver(db, config)
    assert sorted(m["To"].addresses[0].display_name for m in cancels) == ["Ann", "Bob"]
    for message in cancels:
        cal, event, _ = parsed_event(calendar_part(message)[1])
        assert cal["METHOD"] == "CANCEL"
        assert event["SEQUENCE"] == 1
        assert "cancelled by Olga" in message.get_body(("plain",)).get_content()


def test_promotion_mail_carries_the_invite_as_going(api, db, config):
    org = api.signup("Olga")
    g = create(api, org, capacity=1)
    ann, bob = api.signup("Ann"), api.signup("Bob")
    answer(api, ann, g["id"], "yes")
    answer(api, bob, g["id"], "yes")
    deliver(db, config)
    answer(api, ann, g["id"], "no")
    messages = {m["X-Kindred-Kind"]: m for m in deliver(db, config)}
    assert set(messages) == {"cancel", "promoted"}
    promoted = messages["promoted"]
    assert promoted["To"].addresses[0].display_name == "Bob"
    assert promoted["Subject"].startswith("A seat opened for you: Soldering evening, ")
    _, event, _ = parsed_event(calendar_part(promoted)[1])
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"


def test_hostile_names_and_titles_never_make_a_header_or_property(api, db, config):
    org = api.signup("Olga\r\nBcc: victim@example.org")
    title = "Evil\r\nBcc: victim@example.org\rX-Injected: 1"
    g = create(api, org, title=title, description="a\nATTENDEE:mailto:x@example.org\r\nEND:VEVENT")
    ann = api.signup("Ann\r\nBcc: victim@example.org")
    answer(api, ann, g["id"], "yes")
    (message,) = deliver(db, config)
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert "\n" not in str(message["Subject"])
    raw = calendar_part(message)[1]
    _, event, vcal = parsed_event(raw)
    assert raw.count(b"\r\nATTENDEE") == 1
    assert "END:VEVENT" in str(event["DESCRIPTION"])
    assert len(vcal.vevent.contents.get("attendee", [])) == 1
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html


def test_html_part_escapes_user_text(api, db, config):
    org = api.signup("Olga")
    g = create(api, org, title="<script>alert(1)</script>", location="<b>here</b>")
    ann = api.signup("Ann")
    answer(api, ann, g["id"], "yes")
    (message,) = deliver(db, config)
    html = message.get_body(("html",)).get_content()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>here</b>" not in html
