"""Creating gatherings: a fixed time or a poll, and the validation around both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest


def iso(dt: datetime) -> str:
    return dt.isoformat()


@pytest.fixture
def soon():
    return (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def fixed(soon, **extra):
    return {
        "title": "Telescope night",
        "timezone": "Europe/Berlin",
        "duration_minutes": 120,
        # given in Berlin local time; the API answers in UTC
        "starts_at": iso(soon.astimezone(ZoneInfo("Europe/Berlin"))),
        **extra,
    }


def test_fixed_time_gathering_is_scheduled_with_utc_times(api, soon):
    alice = api.signup("Alice")
    response = api.call("POST", "/api/v1/gatherings", alice, json=fixed(soon, capacity=10))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "scheduled"
    assert body["starts_at"] == soon.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["ends_at"] == (soon + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["organizer"] == {"id": alice["id"], "name": "Alice"}
    assert body["reminders"] == [1440, 60]
    assert body["followup_minutes"] == 120
    assert body["seats_left"] == 10
    fetched = api.call("GET", f"/api/v1/gatherings/{body['id']}").get_json()
    assert fetched["uid"] == body["uid"]


def test_poll_gathering_is_polling(api, soon):
    alice = api.signup()
    body = {
        "title": "Book club",
        "timezone": "UTC",
        "duration_minutes": 60,
        "poll": {"window_start": iso(soon), "window_end": iso(soon + timedelta(days=7))},
    }
    response = api.call("POST", "/api/v1/gatherings", alice, json=body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["status"] == "polling"
    assert created["starts_at"] is None
    assert created["poll"]["step_minutes"] == 15


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"starts_at": "2030-01-01T18:00:00"}, "starts_at"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": "ten"}, "capacity"),
        ({"title": "x" * 100_000}, "title"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"starts_at": None}, "starts_at"),
        ({"group_id": 424242}, "group_id"),
        ({"reminders": [-5]}, "reminders.0"),
        ({"colour": "red"}, "colour"),
        ({"starts_at": "2001-01-01T18:00:00Z"}, "starts_at"),
    ],
)
def test_create_validation_names_the_field(api, soon, change, field):
    alice = api.signup()
    response = api.call("POST", "/api/v1/gatherings", alice, json={**fixed(soon), **change})
    assert response.status_code in (400, 413, 422), response.get_json()
    assert field in response.get_json()["errors"], response.get_json()


@pytest.mark.parametrize(
    ("poll", "field"),
    [
        ({"window_end_days": -1}, "poll.window_end"),
        ({"window_end_days": 91}, "poll.window_end"),
        ({"step_minutes": 7}, "poll.step_minutes"),
        ({"window_end_hours": 0.5}, "duration_minutes"),
        ({"deadline_days": 30}, "poll.deadline"),
    ],
)
def test_poll_validation_names_the_field(api, soon, poll, field):
    alice = api.signup()
    end = soon + timedelta(days=poll.pop("window_end_days", 7))
    if "window_end_hours" in poll:
        end = soon + timedelta(hours=poll.pop("window_end_hours"))
    body = {"window_start": iso(soon), "window_end": iso(end)}
    if "deadline_days" in poll:
        body["deadline"] = iso(soon + timedelta(days=poll.pop("deadline_days")))
    body.update(poll)
    response = api.call(
        "POST",
        "/api/v1/gatherings",
        alice,
        json={"title": "P", "timezone": "UTC", "duration_minutes": 60, "poll": body},
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()


def test_both_or_neither_time_is_422(api, soon):
    alice = api.signup()
    neither = {"title": "T", "timezone": "UTC", "duration_minutes": 60}
    response = api.call("POST", "/api/v1/gatherings", alice, json=neither)
    assert response.status_code == 422
    assert "starts_at" in response.get_json()["errors"]


def test_list_filters_by_group_and_interest_and_time(api, soon):
    alice = api.signup()
    group = api.call(
        "POST", "/api/v1/groups", alice, json={"name": "G", "interests": []}
    ).get_json()
    for i in range(3):
        api.call(
            "POST",
            "/api/v1/gatherings",
            alice,
            json=fixed(
                soon + timedelta(days=i), title=f"T{i}", group_id=group["id"], interests=["Go"]
            ),
        )
    api.call("POST", "/api/v1/gatherings", alice, json=fixed(soon, title="other"))
    # the group's gatherings are for its members: alice lists them (outsiders: test_group_access)
    in_group = api.call("GET", f"/api/v1/gatherings?group_id={group['id']}", alice).get_json()
    assert [g["title"] for g in in_group] == ["T0", "T1", "T2"]
    tagged = api.call("GET", "/api/v1/gatherings?interest=GO&page_size=2", alice).get_json()
    assert [g["title"] for g in tagged] == ["T0", "T1"]
    later = (soon + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    after = api.call("GET", f"/api/v1/gatherings?starts_after={later}", alice).get_json()
    assert [g["title"] for g in after] == ["T1", "T2"]
    naive = api.call("GET", "/api/v1/gatherings?starts_after=2030-01-01T00:00:00")
    assert naive.status_code == 422 and "starts_after" in naive.get_json()["errors"]


def test_only_members_create_in_a_group(api, soon):
    alice, bob = api.signup(), api.signup()
    group = api.call(
        "POST", "/api/v1/groups", alice, json={"name": "G", "interests": []}
    ).get_json()
    response = api.call("POST", "/api/v1/gatherings", bob, json=fixed(soon, group_id=group["id"]))
    assert response.status_code == 403
