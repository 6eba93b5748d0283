"""Malformed and hostile input to the API: a 4xx naming the field, never a 5xx, nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from scheduler.domain.date_bounds import OUT_OF_RANGE
from scheduler.models import Gathering, Group, User

PASSWORD = "correct horse battery"


def soon(days: int = 3) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def fixed(**extra: Any) -> dict[str, Any]:
    return {
        "title": "Hack night",
        "timezone": "Europe/Berlin",
        "duration_minutes": 60,
        "starts_at": soon().isoformat(),
        **extra,
    }


def poll(**window: Any) -> dict[str, Any]:
    start = soon()
    return {
        "title": "Find a time",
        "timezone": "UTC",
        "duration_minutes": 60,
        "poll": {
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(days=2)).isoformat(),
            **window,
        },
    }


def refused(response: Any, field: str, status: int = 422) -> dict[str, Any]:
    """The answer is `status` in the one error shape, naming `field`."""
    body = response.get_json()
    assert response.status_code == status, body
    assert field in body["errors"], body
    return body  # type: ignore[no-any-return]


def count(session: Any, model: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "starts_at",
    [
        "9999-12-31T18:00:00+01:00",
        "9999-12-31T23:00:00Z",
        "2201-01-01T00:00:00Z",
        "1969-07-20T20:17:00Z",
    ],
)
def test_a_start_outside_the_years_kindred_keeps_is_422(api, session, starts_at):
    me = api.signup()
    response = api.call("POST", "/api/v1/gatherings", me, json=fixed(starts_at=starts_at))
    body = refused(response, "starts_at")
    assert body["errors"]["starts_at"] == [OUT_OF_RANGE]
    assert count(session, Gathering) == 0


def test_the_last_accepted_day_works_end_to_end_feed_included(api):
    me = api.signup()
    created = api.call(
        "POST", "/api/v1/gatherings", me, json=fixed(starts_at="2200-12-31T22:00:00+01:00")
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["ends_at"] == "2200-12-31T22:00:00Z"
    ics = api.client.get(f"/gatherings/{created.get_json()['id']}.ics")
    assert ics.status_code == 200
    assert b"DTSTART;TZID=Europe/Berlin:22001231T220000" in ics.data


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"window_end": "2300-01-01T00:00:00Z"}, "poll.window_end"),
        ({"window_start": "1900-01-01T00:00:00Z"}, "poll.window_start"),
        ({"deadline": "9999-12-31T23:59:59Z"}, "poll.deadline"),
    ],
)
def test_a_poll_window_outside_the_years_is_422_naming_it(api, session, window, field):
    me = api.signup()
    refused(api.call("POST", "/api/v1/gatherings", me, json=poll(**window)), field)
    assert count(session, Gathering) == 0


def test_moving_a_gathering_outside_the_years_is_422(api):
    me = api.signup()
    gid = api.call("POST", "/api/v1/gatherings", me, json=fixed()).get_json()["id"]
    response = api.call(
        "PATCH", f"/api/v1/gatherings/{gid}", me, json={"starts_at": "9999-12-31T23:00:00Z"}
    )
    refused(response, "starts_at")
    shown = api.call("GET", f"/api/v1/gatherings/{gid}", me).get_json()
    assert shown["starts_at"] == soon().strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "rule", ["FREQ=YEARLY;INTERVAL=100;COUNT=3", "FREQ=WEEKLY;UNTIL=99991231T000000Z"]
)
def test_a_series_running_past_the_years_is_422_naming_the_rule(api, session, rule):
    me = api.signup()
    response = api.call("POST", "/api/v1/gatherings", me, json=fixed(recurrence=rule))
    refused(response, "recurrence")
    assert count(session, Gathering) == 0


def test_poll_answers_and_queries_outside_the_years_are_422(api):
    me = api.signup()
    gid = api.call("POST", "/api/v1/gatherings", me, json=poll()).get_json()["id"]
    far = "9999-12-31T23:00:00Z"
    answer = {"intervals": [{"start": soon().isoformat(), "end": far}]}
    refused(
        api.call("PUT", f"/api/v1/gatherings/{gid}/availability", me, json=answer),
        "intervals.0.end",
    )
    refused(api.call("GET", f"/api/v1/gatherings/{gid}/slots?start={far}", me), "start")
    refused(
        api.call("POST", f"/api/v1/gatherings/{gid}/schedule", me, json={"start": far}), "start"
    )
    refused(api.call("GET", f"/api/v1/gatherings?starts_before={far}", me), "starts_before")


# --------------------------------------------------------------------------- bodies


def test_json_nested_100k_deep_is_400(api, session):
    me = api.signup()
    deep = "[" * 100_000 + "]" * 100_000
    for text in (deep, '{"title": ' + deep + "}"):
        response = api.call(
            "POST", "/api/v1/gatherings", me, data=text, content_type="application/json"
        )
        body = refused(response, "_schema", status=400)
        assert body["message"] == "The request body is not valid JSON."
        assert body["errors"]["_schema"] == ["Invalid JSON body: it nests too deeply."]
    assert count(session, Gathering) == 0


def test_a_5000_digit_integer_is_422_naming_its_field(api, session):
    me = api.signup()
    digits = "9" * 5000
    text = (
        '{"title": "x", "timezone": "UTC", "duration_minutes": 60, '
        f'"capacity": {digits}, "poll": {{"min_attendees": {digits}}}}}'
    )
    response = api.call(
        "POST", "/api/v1/gatherings", me, data=text, content_type="application/json"
    )
    body = refused(response, "capacity")
    assert body["errors"] == {
        "capacity": ["Number has too many digits."],
        "poll.min_attendees": ["Number has too many digits."],
    }
    assert count(session, Gathering) == 0


@pytest.mark.parametrize("group_id", [2**31, 10**30, 0])
def test_a_group_id_no_column_can_hold_is_422(api, session, group_id):
    me = api.signup()
    refused(api.call("POST", "/api/v1/gatherings", me, json=fixed(group_id=group_id)), "group_id")
    refused(api.call("GET", f"/api/v1/gatherings?group_id={group_id}", me), "group_id")
    assert count(session, Gathering) == 0


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/gatherings", fixed(title="Lone \ud800 surrogate"), "title"),
        ("/api/v1/gatherings", fixed(interests=["ok", "bad\udfff"]), "interests"),
        (
            "/api/v1/groups",
            {"name": "G", "description": "\ud83d", "interests": ["go"]},
            "description",
        ),
        (
            "/api/v1/users",
            {"email": "a@example.org", "name": "\ud800", "password": PASSWORD},
            "name",
        ),
        ("/api/v1/tokens", {"email": "\ud800@example.org", "password": PASSWORD}, "email"),
    ],
)
def test_a_lone_surrogate_in_any_text_is_422_naming_the_field(api, session, path, body, field):
    me = api.signup()
    before = (count(session, Gathering), count(session, Group), count(session, User))
    refused(api.call("POST", path, me, json=body), field)
    assert (count(session, Gathering), count(session, Group), count(session, User)) == before


def test_a_lone_surrogate_in_a_patch_and_an_rsvp_is_422(api):
    me = api.signup()
    gid = api.call("POST", "/api/v1/gatherings", me, json=fixed()).get_json()["id"]
    refused(
        api.call("PATCH", f"/api/v1/gatherings/{gid}", me, json={"location": "\ud800"}), "location"
    )
    refused(api.call("PATCH", "/api/v1/me", me, json={"name": "A\udc00"}), "name")
    # the RSVP fast path hands what it cannot read to Flask, which names the field
    refused(
        api.call("PUT", f"/api/v1/gatherings/{gid}/rsvp", me, json={"response": "\ud800"}),
        "response",
    )
    shown = api.call("GET", f"/api/v1/gatherings/{gid}", me).get_json()
    assert shown["location"] == ""


# --------------------------------------------------------------------------- accounts


@pytest.mark.parametrize(
    "email",
    [
        "ünïcode@example.org",  # needs SMTPUTF8
        'a"b@example.org',
        '"a b"@example.org',  # a quoted local part
        "a@[127.0.0.1]",
        "someone@localhost",
        "someone@printer.local",
        "no-at-sign.example.org",
    ],
)
def test_addresses_smtp_cannot_deliver_to_are_422(api, session, email):
    body = {"email": email, "name": "X", "password": PASSWORD}
    response = api.call("POST", "/api/v1/users", json=body)
    assert refused(response, "email")["errors"]["email"][0].startswith("Not a valid email address")
    assert count(session, User) == 0


def test_an_internationalised_domain_is_kept_in_its_ascii_form(api):
    response = api.call(
        "POST",
        "/api/v1/users",
        json={"email": " Ana@Bücher.example ", "name": "Ana", "password": PASSWORD},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["email"] == "ana@xn--bcher-kva.example"
    for typed in ("ana@bücher.example", "ANA@xn--bcher-kva.example"):
        token = api.call("POST", "/api/v1/tokens", json={"email": typed, "password": PASSWORD})
        assert token.status_code == 201, token.get_json()


def test_an_account_from_before_validation_can_still_sign_in(api, session):
    """Addresses were stored trimmed and lower-cased without validation: those people keep
    their accounts (and any mail sent to them is the mail package's business)."""
    api.signup(email="old@example.org")
    user = session.scalars(select(User)).one()
    user.email = "ünïcode@example.org"
    session.commit()
    response = api.call(
        "POST", "/api/v1/tokens", json={"email": "ÜNÏCODE@example.org", "password": PASSWORD}
    )
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize(
    "zone", ["localtime", "posixrules", "Europe/../Europe/Berlin", "europe/berlin"]
)
def test_only_real_iana_zones_are_accepted(api, session, zone):
    body = {"email": "z@example.org", "name": "Z", "password": PASSWORD, "timezone": zone}
    refused(api.call("POST", "/api/v1/users", json=body), "timezone")
    me = api.signup()
    refused(api.call("PATCH", "/api/v1/me", me, json={"timezone": zone}), "timezone")
    refused(api.call("POST", "/api/v1/gatherings", me, json=fixed(timezone=zone)), "timezone")
    assert count(session, Gathering) == 0
    assert api.call("GET", "/api/v1/me", me).get_json()["timezone"] == "UTC"
