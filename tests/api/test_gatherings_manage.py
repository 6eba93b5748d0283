"""Managing a gathering: PATCH (organizer only), cancel, and `completed` after the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler.models import Gathering
from scheduler.services.gatherings.lifecycle import complete_ended_gatherings
from tests.api.test_rsvps import answer, create, future


def z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def db(app):
    """Short transactions of our own, outside any request."""
    return app.extensions["kindred"].db.session_factory


def patch(api, user, gathering_id, body):
    return api.call("PATCH", f"/api/v1/gatherings/{gathering_id}", user, json=body)


def test_moving_a_gathering_bumps_sequence_and_moves_the_end(api):
    org = api.signup()
    g = create(api, org)
    new_start = future(days=5)
    response = patch(api, org, g["id"], {"starts_at": new_start.isoformat()})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["starts_at"] == z(new_start)
    assert body["ends_at"] == z(new_start + timedelta(minutes=90))
    assert body["sequence"] == g["sequence"] + 1
    assert body["uid"] == g["uid"]

    longer = patch(api, org, g["id"], {"duration_minutes": 120, "location": "Room 2"}).get_json()
    assert longer["ends_at"] == z(new_start + timedelta(minutes=120))
    assert longer["location"] == "Room 2"
    assert longer["sequence"] == g["sequence"] + 2


def test_a_change_bumps_the_revision_and_an_empty_change_bumps_nothing(api, db):
    org = api.signup()
    g = create(api, org)
    with db() as s:
        before = s.get(Gathering, g["id"])
    same = patch(api, org, g["id"], {"title": g["title"], "reminders": [60, 1440]}).get_json()
    assert same["sequence"] == before.sequence
    reminders = patch(api, org, g["id"], {"reminders": [30], "interests": ["Rust"]}).get_json()
    assert reminders["reminders"] == [30]
    assert reminders["interests"] == ["rust"]
    # reminders are not part of the invite: no new SEQUENCE, but a new revision
    assert reminders["sequence"] == before.sequence
    with db() as s:
        assert s.get(Gathering, g["id"]).revision == before.revision + 1


def test_only_the_organizer_may_change_or_cancel(api):
    org = api.signup()
    g = create(api, org)
    other = api.signup()
    assert patch(api, other, g["id"], {"title": "Mine now"}).status_code == 403
    assert api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel", other).status_code == 403
    assert patch(api, None, g["id"], {"title": "x"}).status_code == 401
    assert api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel").status_code == 401
    assert patch(api, org, 999_999, {"title": "x"}).status_code == 404
    assert api.call("POST", "/api/v1/gatherings/999999/cancel", org).status_code == 404
    assert api.call("GET", f"/api/v1/gatherings/{g['id']}").get_json()["title"] == g["title"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"starts_at": "2030-01-01T18:00:00"}, "starts_at"),
        ({"starts_at": "next tuesday"}, "starts_at"),
        ({"starts_at": "2001-01-01T18:00:00Z"}, "starts_at"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": "ten"}, "capacity"),
        ({"capacity": 10**12}, "capacity"),
        ({"title": "x" * 100_000}, "title"),
        ({"title": "   "}, "title"),
        ({"title": 5}, "title"),
        ({"duration_minutes": 1.5}, "duration_minutes"),
        ({"reminders": "soon"}, "reminders"),
        ({"group_id": 1}, "group_id"),
        ({"status": "completed"}, "status"),
    ],
)
def test_bad_changes_name_the_field(api, body, field):
    org = api.signup()
    g = create(api, org)
    response = patch(api, org, g["id"], body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_a_polling_gathering_is_scheduled_through_schedule_not_patch(api):
    org = api.signup()
    start = future()
    g = create(
        api,
        org,
        starts_at=None,
        poll={
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(days=2)).isoformat(),
        },
    )
    response = patch(api, org, g["id"], {"starts_at": start.isoformat()})
    assert response.status_code == 422
    assert "starts_at" in response.get_json()["errors"]
    assert patch(api, org, g["id"], {"title": "Renamed poll"}).get_json()["status"] == "polling"


def test_cancel_bumps_sequence_once_and_freezes_the_gathering(api):
    org = api.signup()
    g = create(api, org)
    first = api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel", org)
    assert first.status_code == 200
    assert first.get_json()["status"] == "cancelled"
    assert first.get_json()["sequence"] == g["sequence"] + 1
    again = api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel", org).get_json()
    assert again["sequence"] == g["sequence"] + 1
    changed = patch(api, org, g["id"], {"title": "Back on"})
    assert changed.status_code == 409
    listed = api.call("GET", "/api/v1/gatherings?status=cancelled").get_json()
    assert [x["id"] for x in listed] == [g["id"]]


def _end_it(db, gathering_id):
    with db.begin() as s:
        row = s.get(Gathering, gathering_id)
        row.starts_at = datetime.now(UTC) - timedelta(hours=5)
        row.ends_at = row.starts_at + timedelta(hours=2)


def test_an_ended_gathering_shows_as_completed_and_the_sweep_persists_it(api, db):
    org = api.signup()
    ended = create(api, org)
    upcoming = create(api, org)
    answer(api, org, ended["id"], "yes")
    _end_it(db, ended["id"])

    shown = api.call("GET", f"/api/v1/gatherings/{ended['id']}").get_json()
    assert shown["status"] == "completed"
    completed = api.call("GET", "/api/v1/gatherings?status=completed").get_json()
    assert [x["id"] for x in completed] == [ended["id"]]
    scheduled = api.call("GET", "/api/v1/gatherings?status=scheduled").get_json()
    assert [x["id"] for x in scheduled] == [upcoming["id"]]
    assert api.call("POST", f"/api/v1/gatherings/{ended['id']}/cancel", org).status_code == 409
    assert patch(api, org, ended["id"], {"title": "x"}).status_code == 409

    with db.begin() as s:
        assert complete_ended_gatherings(s, now=datetime.now(UTC)) == 1
    with db.begin() as s:
        assert complete_ended_gatherings(s, now=datetime.now(UTC)) == 0  # idempotent
        assert s.get(Gathering, ended["id"]).status == "completed"
        assert s.get(Gathering, upcoming["id"]).status == "scheduled"


def test_the_clock_job_completes_ended_gatherings(api, db, backends, monkeypatch):
    from workers import gatherings as jobs
    from workers import runtime

    org = api.signup()
    ended = create(api, org)
    _end_it(db, ended["id"])
    monkeypatch.setenv("DATABASE_URL", backends.database_url)
    monkeypatch.setenv("REDIS_URL", backends.redis_url)
    monkeypatch.setenv("SECRET_KEY", "test")
    monkeypatch.setattr(runtime, "_services", None)
    try:
        assert jobs.complete_ended() == 1
        assert jobs.complete_ended() == 0
    finally:
        runtime.services().db.dispose()
    with db() as s:
        assert s.get(Gathering, ended["id"]).status == "completed"
