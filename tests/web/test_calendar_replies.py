"""Calendar replies by HTTP (POST /inbound/mail): an Accept / Maybe / Decline from a calendar
app is the attendee's RSVP; forged, stale, automatic and non-calendar mail changes nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler.models import InboundMailCount, OutboxMessage
from scheduler.services.mail.renderers import render_outbox_message
from tests.support.calendar_reply import organizer_of, reply_icalendar, reply_icaljs, reply_mail
from tests.support.mail import calendar_text, run_planner, send_pending

SECRET = "inbound-test-secret"
AUTH = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def config(config):
    return dataclasses.replace(config, inbound_secret=SECRET)


@pytest.fixture
def db(app):
    session = app.extensions["kindred"].db.session_factory()
    yield session
    session.close()


def invites(db, config) -> dict[int, tuple[str, bytes]]:
    """Send what is owed; recipient id -> (kind, ICS text) of the last calendar mail."""
    return {
        row.recipient_id: (message["X-Kindred-Kind"], ics)
        for row, message in send_pending(db, config)
        if (ics := calendar_text(message)) is not None
    }


def kinds_owed(db, user_id) -> list[str]:
    run_planner(db)
    db.expire_all()
    return list(
        db.scalars(
            select(OutboxMessage.kind)
            .where(OutboxMessage.recipient_id == user_id, OutboxMessage.status == "pending")
            .order_by(OutboxMessage.id)
        )
    )


def gathering(api, organizer, **extra):
    start = (datetime.now(UTC) + timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
    body = {
        "title": "Board games",
        "timezone": "Europe/Berlin",
        "duration_minutes": 120,
        "starts_at": start.isoformat(),
        **extra,
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def rsvp(api, g, person, response="yes", **extra):
    answer = api.call(
        "PUT", f"/api/v1/gatherings/{g['id']}/rsvp", person, json={"response": response, **extra}
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def my_answer(api, g, person):
    attendees = api.call("GET", f"/api/v1/gatherings/{g['id']}/attendees", person).get_json()
    return {a["user_id"]: a["state"] for a in attendees}.get(person["id"])


def post(client, raw: bytes, headers=AUTH, **query):
    return client.post("/inbound/mail", data=raw, headers=headers, query_string=query)


def counts(db) -> dict[str, int]:
    db.expire_all()
    return {row.outcome: row.count for row in db.scalars(select(InboundMailCount))}


@pytest.mark.parametrize("build", [reply_icalendar, reply_icaljs])
def test_accepting_a_maybe_in_the_calendar_app_takes_a_seat(api, client, db, config, build):
    olga, ann = api.signup("Olga"), api.signup("Ann")
    g = gathering(api, olga, capacity=5)
    rsvp(api, g, ann, "maybe")
    _, invite = invites(db, config)[ann["id"]]
    address = organizer_of(invite)
    assert address.startswith("reply+g") and address.endswith("@localhost")

    raw = reply_mail(build(invite, ann["email"], "ACCEPTED"), sender=ann["email"], to=address)
    answered = post(client, raw)

    assert answered.status_code == 202 and answered.get_json() == {"outcome": "answered"}
    assert my_answer(api, g, ann) == "going"
    assert counts(db) == {"answered": 1}


def test_a_decline_by_mail_frees_the_seat_for_the_first_on_the_waitlist(api, client, db, config):
    olga, ann, bob, cid = (api.signup(n) for n in ("Olga", "Ann", "Bob", "Cid"))
    g = gathering(api, olga, capacity=1)
    rsvp(api, g, ann)
    rsvp(api, g, bob)
    rsvp(api, g, cid)
    sent = invites(db, config)
    _, invite = sent[ann["id"]]

    raw = reply_mail(
        reply_icalendar(invite, ann["email"], "DECLINED"),
        sender=ann["email"],
        to=organizer_of(invite),
    )
    assert post(client, raw).get_json() == {"outcome": "answered"}

    assert my_answer(api, g, bob) == "going"
    assert my_answer(api, g, cid) == "waitlisted"
    assert "promoted" in kinds_owed(db, bob["id"])


def test_a_yes_by_mail_to_a_full_gathering_is_the_waitlist_with_its_mail(api, client, db, config):
    olga, ann, bob = (api.signup(n) for n in ("Olga", "Ann", "Bob"))
    g = gathering(api, olga, capacity=1)
    rsvp(api, g, bob, "maybe")
    _, invite = invites(db, config)[bob["id"]]
    rsvp(api, g, bob, "no")  # the invite stays in Bob's inbox, its Accept button too
    rsvp(api, g, ann)
    invites(db, config)

    raw = reply_mail(
        reply_icalendar(invite, bob["email"], "ACCEPTED"),
        sender=bob["email"],
        to=organizer_of(invite),
    )
    assert post(client, raw).get_json() == {"outcome": "answered"}

    assert my_answer(api, g, bob) == "waitlisted"
    db.expire_all()
    sent = invites(db, config)
    kind, _ = sent[bob["id"]]
    assert kind == "invite"
    row = db.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient_id == bob["id"])
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert "on the waitlist" in render_outbox_message(db, row, config).text


def test_forged_altered_and_others_addresses_change_nothing(api, client, db, config):
    olga, ann, eve = (api.signup(n) for n in ("Olga", "Ann", "Eve"))
    g = gathering(api, olga)
    rsvp(api, g, ann, "maybe")
    rsvp(api, g, eve, "maybe")
    sent = invites(db, config)
    _, invite = sent[ann["id"]]
    address = organizer_of(invite)
    local, domain = address.split("@")
    tampered = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    other_user = local.replace(f"-{ann['id']}-", f"-{eve['id']}-", 1) + "@" + domain

    for to in (tampered, other_user, f"reply+g{g['id']}-{eve['id']}-{'a' * 26}@localhost"):
        raw = reply_mail(
            reply_icalendar(invite, eve["email"], "DECLINED"), sender=eve["email"], to=to
        )
        assert post(client, raw).get_json() == {"outcome": "bad_address"}
    # Eve sends Ann's own address an answer naming herself: the attendee must be Ann
    raw = reply_mail(
        reply_icalendar(invite, eve["email"], "DECLINED"), sender=ann["email"], to=address
    )
    assert post(client, raw).get_json() == {"outcome": "wrong_attendee"}

    assert my_answer(api, g, ann) == "maybe" and my_answer(api, g, eve) == "maybe"
    assert counts(db) == {"bad_address": 3, "wrong_attendee": 1}


def test_stale_automatic_and_plain_mail_are_dropped_and_counted(api, client, db, config):
    olga, ann = api.signup("Olga"), api.signup("Ann")
    g = gathering(api, olga)
    rsvp(api, g, ann, "maybe")
    _, old_invite = invites(db, config)[ann["id"]]
    address = organizer_of(old_invite)
    moved = datetime.fromisoformat(g["starts_at"]) + timedelta(hours=1)
    assert (
        api.call(
            "PATCH", f"/api/v1/gatherings/{g['id']}", olga, json={"starts_at": moved.isoformat()}
        ).status_code
        == 200
    )

    stale = reply_mail(
        reply_icalendar(old_invite, ann["email"], "DECLINED"), sender=ann["email"], to=address
    )
    assert post(client, stale).get_json() == {"outcome": "stale_sequence"}
    auto = reply_mail(
        reply_icalendar(old_invite, ann["email"], "DECLINED"),
        sender=ann["email"],
        to=address,
        Auto_Submitted="auto-replied",
    )
    assert post(client, auto).get_json() == {"outcome": "auto_reply"}
    plain = (
        b"From: ann@example.org\r\nTo: " + address.encode() + b"\r\nSubject: hi\r\n\r\nSee you!\r\n"
    )
    assert post(client, plain).get_json() == {"outcome": "not_itip"}
    assert post(client, b"\x00\xff garbage").get_json()["outcome"] in ("bad_address", "unreadable")

    assert my_answer(api, g, ann) == "maybe"
    assert counts(db)["stale_sequence"] == 1 and counts(db)["auto_reply"] == 1


def test_the_endpoint_is_404_without_a_secret_and_403_with_a_wrong_one(api, client, app, db):
    assert post(client, b"x", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert post(client, b"x", headers={}).status_code == 403
    services = app.extensions["kindred"]
    services.config = dataclasses.replace(services.config, inbound_secret=None)
    assert post(client, b"x").status_code == 404


SERIES = {
    "title": "Chess",
    "timezone": "America/New_York",
    "duration_minutes": 90,
    "recurrence": "FREQ=WEEKLY;COUNT=4",
}


def test_a_series_reply_answers_every_future_date_and_a_recurrence_id_one_date(
    api, client, db, config
):
    olga, ann = api.signup("Olga"), api.signup("Ann")
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    made = api.call(
        "POST", "/api/v1/gatherings", olga, json={**SERIES, "starts_at": start.isoformat()}
    ).get_json()
    occurrences = made["occurrences"]
    first = {"id": occurrences[0]["id"]}
    rsvp(api, first, ann, "maybe", all_future=True)
    kind, invite = invites(db, config)[ann["id"]]
    assert kind == "series_invite" and organizer_of(invite).startswith("reply+s")

    raw = reply_mail(
        reply_icaljs(invite, ann["email"], "ACCEPTED"), sender=ann["email"], to=organizer_of(invite)
    )
    assert post(client, raw).get_json() == {"outcome": "answered"}
    assert [my_answer(api, o, ann) for o in occurrences] == ["going"] * 4

    _, invite = invites(db, config)[ann["id"]]
    third = datetime.fromisoformat(occurrences[2]["starts_at"])
    raw = reply_mail(
        reply_icalendar(invite, ann["email"], "DECLINED", recurrence_id=third),
        sender=ann["email"],
        to=organizer_of(invite),
    )
    assert post(client, raw).get_json() == {"outcome": "answered"}
    assert [my_answer(api, o, ann) for o in occurrences] == ["going", "going", None, "going"]
