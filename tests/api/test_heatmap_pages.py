"""The API's poll heatmap comes a week at a time: bounded answers on a 90-day poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import workers.runtime
from workers.slots import recompute_slots

# Ten days at 15-minute steps, a one-hour gathering: 10 * 96 - 3 candidates, two pages.
WINDOW_START = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
WINDOW_END = WINDOW_START + timedelta(days=10)
WEEK = 7 * 96


def z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def in_process_worker(app, monkeypatch):
    """Job functions run in this process on the test's backends."""
    monkeypatch.setattr(workers.runtime, "_services", app.extensions["kindred"])
    monkeypatch.setattr(workers.runtime, "_pid", __import__("os").getpid())


@pytest.fixture
def poll(api, in_process_worker):
    """A ranked ten-day poll: its organizer, its id; Ann can make day 8, 10:00-12:00."""
    org, ann = api.signup("Org"), api.signup("Ann")
    body = {
        "title": "Long poll",
        "timezone": "UTC",
        "duration_minutes": 60,
        "poll": {"window_start": z(WINDOW_START), "window_end": z(WINDOW_END)},
    }
    gid = api.call("POST", "/api/v1/gatherings", org, json=body).get_json()["id"]
    day8 = WINDOW_START + timedelta(days=8, hours=10)
    span = {"start": z(day8), "end": z(day8 + timedelta(hours=2))}
    answered = api.call(
        "PUT", f"/api/v1/gatherings/{gid}/availability", ann, json={"intervals": [span]}
    )
    assert answered.status_code == 200
    recompute_slots(gid)
    return org, gid


def heatmap(api, user, gid, query=""):
    response = api.call("GET", f"/api/v1/gatherings/{gid}/slots?view=heatmap{query}", user)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_pages_of_a_week_follow_next_since_to_every_candidate(api, poll):
    org, gid = poll
    first = heatmap(api, org, gid)
    assert first["status"] == "ready"
    assert len(first["candidates"]) == WEEK
    assert first["candidates"][0]["start"] == z(WINDOW_START)
    assert first["next_since"] == z(WINDOW_START + timedelta(days=7))

    second = heatmap(api, org, gid, f"&since={first['next_since']}")
    assert len(second["candidates"]) == 3 * 96 - 3
    assert second["next_since"] is None
    starts = [c["start"] for c in first["candidates"] + second["candidates"]]
    assert starts == [z(WINDOW_START + timedelta(minutes=15 * k)) for k in range(10 * 96 - 3)]
    counts = {c["start"]: c["available_count"] for c in second["candidates"]}
    day8 = WINDOW_START + timedelta(days=8, hours=10)
    assert [counts[z(day8 + timedelta(minutes=m))] for m in (0, 15, 60, 75)] == [1, 1, 1, 0]


def test_since_between_candidates_starts_at_the_next_one(api, poll):
    org, gid = poll
    since = WINDOW_START + timedelta(days=9, minutes=7)
    page = heatmap(api, org, gid, f"&since={z(since)}")
    assert page["candidates"][0]["start"] == z(WINDOW_START + timedelta(days=9, minutes=15))
    assert len(page["candidates"]) == 96 - 4
    assert page["next_since"] is None
    # the window's end is within the window: an empty last page, not an error
    assert heatmap(api, org, gid, f"&since={z(WINDOW_END)}")["candidates"] == []


@pytest.mark.parametrize(
    "since",
    [
        z(WINDOW_START - timedelta(minutes=15)),
        z(WINDOW_END + timedelta(minutes=15)),
        "yesterday",
        "2026-12-01T18:00:00",  # no offset
    ],
)
def test_since_outside_the_window_or_unreadable_is_422_naming_it(api, poll, since):
    org, gid = poll
    response = api.call(
        "GET",
        f"/api/v1/gatherings/{gid}/slots",
        org,
        query_string={"view": "heatmap", "since": since},
    )
    assert response.status_code == 422
    assert "since" in str(response.get_json()["errors"])


def test_the_openapi_document_describes_the_paging(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    parameters = spec["paths"]["/api/v1/gatherings/{gathering_id}/slots"]["get"]["parameters"]
    assert "since" in {p["name"] for p in parameters}
    slots = spec["components"]["schemas"]["Slots"]["properties"]
    assert "next_since" in slots
    assert "week" in slots["candidates"]["description"]
