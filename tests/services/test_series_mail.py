"""Who holds what of a series, and the mail each holder gets when it changes."""

from __future__ import annotations

import icalendar
import pytest

from tests.support.mail import calendar_text, send_pending

SERIES = {
    "title": "Chess",
    "timezone": "Europe/Berlin",
    "duration_minutes": 90,
    "starts_at": "2027-03-04T19:00:00+01:00",
    "recurrence": "FREQ=WEEKLY;BYDAY=TH;COUNT=6",
}


@pytest.fixture
def db(app):
    session = app.extensions["kindred"].db.session_factory()
    yield session
    session.close()


def ok(api, method, path, user, **body):
    response = api.call(method, path, user, json=body or None)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def deliver(db, config) -> list[tuple[int, str, icalendar.Calendar]]:
    """Send what is owed: (recipient id, X-Kindred-Kind, calendar part) per mail, in order."""
    return [
        (row.recipient_id, message["X-Kindred-Kind"], icalendar.Calendar.from_ical(ics))
        for row, message in send_pending(db, config)
        if (ics := calendar_text(message)) is not None
    ]


def vevents(calendar):
    return list(calendar.walk("VEVENT"))


def test_a_single_occurrence_is_a_plain_event_with_its_own_uid_in_mail_and_in_its_file(
    api, db, config
):
    olga, kiran = api.signup("Olga"), api.signup("Kiran")
    occurrences = ok(api, "POST", "/api/v1/gatherings", olga, **SERIES)["occurrences"]
    ok(api, "PUT", f"/api/v1/gatherings/{occurrences[1]['id']}/rsvp", kiran, response="yes")

    ((_, kind, invite),) = deliver(db, config)

    (event,) = vevents(invite)
    assert kind == "invite"
    assert "RECURRENCE-ID" not in event and "RRULE" not in event
    assert str(event["UID"]) == f"occurrence-{occurrences[1]['id']}@{config.mail_domain}"
    file = icalendar.Calendar.from_ical(
        api.client.get(f"/gatherings/{occurrences[1]['id']}.ics").data
    )
    assert [str(e["UID"]) for e in vevents(file)] == [str(event["UID"])]


def test_cancelling_one_occurrence_reaches_whole_series_and_single_holders_alike(api, db, config):
    olga, nick, kiran = api.signup("Olga"), api.signup("Nick"), api.signup("Kiran")
    occurrences = ok(api, "POST", "/api/v1/gatherings", olga, **SERIES)["occurrences"]
    ok(
        api,
        "PUT",
        f"/api/v1/gatherings/{occurrences[0]['id']}/rsvp",
        nick,
        response="yes",
        all_future=True,
    )
    ok(api, "PUT", f"/api/v1/gatherings/{occurrences[2]['id']}/rsvp", kiran, response="yes")
    ((_, _, series_invite), _) = deliver(db, config)
    (master,) = vevents(series_invite)

    ok(api, "POST", f"/api/v1/gatherings/{occurrences[2]['id']}/cancel", olga)
    mails = {recipient: (kind, calendar) for recipient, kind, calendar in deliver(db, config)}

    kind, update = mails[nick["id"]]
    assert kind == "series_update" and update["METHOD"] == "REQUEST"
    (again,) = vevents(update)  # the whole series again, that evening excluded
    assert str(again["UID"]) == str(master["UID"]) and "RRULE" in again
    assert int(again["SEQUENCE"]) > int(master["SEQUENCE"])
    assert "EXDATE" in again
    kind, cancel = mails[kiran["id"]]
    assert kind == "cancel" and cancel["METHOD"] == "CANCEL"
    (event,) = vevents(cancel)
    assert str(event["UID"]) == f"occurrence-{occurrences[2]['id']}@{config.mail_domain}"
    assert str(event["STATUS"]) == "CANCELLED"


def test_this_and_following_sends_holders_the_old_series_with_until_and_the_new_one(
    api, db, config
):
    olga, nick = api.signup("Olga"), api.signup("Nick")
    occurrences = ok(api, "POST", "/api/v1/gatherings", olga, **SERIES)["occurrences"]
    ok(
        api,
        "PUT",
        f"/api/v1/gatherings/{occurrences[0]['id']}/rsvp",
        nick,
        response="yes",
        all_future=True,
    )
    ((_, _, first),) = deliver(db, config)
    (old_master,) = vevents(first)

    ok(
        api,
        "PATCH",
        f"/api/v1/gatherings/{occurrences[3]['id']}",
        olga,
        scope="following",
        starts_at="2027-03-25T20:00:00+01:00",
    )
    mails = deliver(db, config)

    assert [kind for _, kind, _ in mails] == ["series_update", "series_update"]
    masters = {str(e["UID"]): e for _, _, calendar in mails for e in vevents(calendar)}
    old = masters.pop(str(old_master["UID"]))
    assert "UNTIL" in old["RRULE"] and int(old["SEQUENCE"]) > int(old_master["SEQUENCE"])
    ((_, new),) = masters.items()
    assert new["RRULE"]["COUNT"] == [3]
    assert new["DTSTART"].dt.hour == 20


def test_a_whole_series_holder_changing_yes_to_maybe_on_one_date_is_sent_nothing(api, db, config):
    olga, nick = api.signup("Olga"), api.signup("Nick")
    occurrences = ok(api, "POST", "/api/v1/gatherings", olga, **SERIES)["occurrences"]
    ok(
        api,
        "PUT",
        f"/api/v1/gatherings/{occurrences[0]['id']}/rsvp",
        nick,
        response="yes",
        all_future=True,
    )
    deliver(db, config)

    ok(api, "PUT", f"/api/v1/gatherings/{occurrences[1]['id']}/rsvp", nick, response="maybe")
    assert deliver(db, config) == []
    ok(api, "PUT", f"/api/v1/gatherings/{occurrences[1]['id']}/rsvp", nick, response="no")
    ((_, kind, update),) = deliver(db, config)
    assert kind == "series_update" and "EXDATE" in vevents(update)[0]


def test_a_series_invite_describes_the_rule_in_the_recipients_language(api, db, config):
    olga, kiran = api.signup("Olga"), api.signup("Kiran")
    ok(api, "PATCH", "/api/v1/me", kiran, locale="de")
    occurrences = ok(api, "POST", "/api/v1/gatherings", olga, **SERIES)["occurrences"]
    first = occurrences[0]["id"]
    ok(api, "PUT", f"/api/v1/gatherings/{first}/rsvp", kiran, response="yes", all_future=True)
    sent = send_pending(db, config, kinds=("series_invite",))
    (message,) = [message for row, message in sent if row.recipient_id == kiran["id"]]
    text = message.get_body(("plain",)).get_content()
    assert "jede Woche am Donnerstag, 6-mal" in text
    assert "every week" not in text.lower()
