"""Recommendations follow every change to a gathering.

Candidates are read from gathering_interests.scheduled_start (a copy of the gathering's start
while it is scheduled): every write path must keep that copy right, or a moved, cancelled or
finished gathering would be recommended wrongly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from scheduler.models import Gathering
from scheduler.models.interest import Interest, gathering_interests
from scheduler.services.gatherings.lifecycle import complete_ended_gatherings
from tests.api.test_recommendations import future, make_gathering, recommendations

WINDOW_START = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def copies(app, gathering_id: int) -> dict[str, datetime | None]:
    """Tag name → the scheduled start stored on that tag's row, read in a session of its own."""
    gi = gathering_interests
    with app.extensions["kindred"].db.session_factory() as db:
        rows = db.execute(
            select(Interest.name, gi.c.scheduled_start)
            .join(Interest, Interest.id == gi.c.interest_id)
            .where(gi.c.gathering_id == gathering_id)
        )
        return dict(rows.all())


def starts(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["starts_at"])


def recommended_ids(api, user) -> list[int]:
    return [g["id"] for g in recommendations(api, user)["gatherings"]]


def create_poll(api, organizer) -> dict[str, Any]:
    """A "find a time" poll about radio astronomy over a day from WINDOW_START."""
    response = api.call(
        "POST",
        "/api/v1/gatherings",
        organizer,
        json={
            "title": "When shall we observe?",
            "timezone": "UTC",
            "duration_minutes": 60,
            "interests": ["radio astronomy"],
            "poll": {
                "window_start": z(WINDOW_START),
                "window_end": z(WINDOW_START + timedelta(days=1)),
            },
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_new_gathering_carries_its_start_and_a_poll_carries_none(api, app):
    org = api.signup("Org")
    fixed = make_gathering(api, org, "Dish night", ["radio astronomy", "hiking"])
    poll = create_poll(api, org)
    assert copies(app, fixed["id"]) == {"radio astronomy": starts(fixed), "hiking": starts(fixed)}
    assert copies(app, poll["id"]) == {"radio astronomy": None}


def test_moving_and_retagging_a_gathering_moves_its_rows_and_its_recommendation(api, app):
    org, fan = api.signup("Org"), api.signup("Fan", interests=["radio astronomy"])
    body = make_gathering(api, org, "Dish night", ["hiking"])
    assert body["id"] not in recommended_ids(api, fan)

    later = future(20)
    response = api.call(
        "PATCH",
        f"/api/v1/gatherings/{body['id']}",
        org,
        json={"starts_at": later, "interests": ["radio astronomy", "hiking"]},
    )
    assert response.status_code == 200, response.get_json()
    moved = starts(response.get_json())
    assert moved == datetime.fromisoformat(later)
    assert copies(app, body["id"]) == {"radio astronomy": moved, "hiking": moved}
    assert recommended_ids(api, fan) == [body["id"]]

    response = api.call(
        "PATCH", f"/api/v1/gatherings/{body['id']}", org, json={"starts_at": future(3)}
    )
    assert response.status_code == 200, response.get_json()
    assert set(copies(app, body["id"]).values()) == {starts(response.get_json())}


def test_a_cancelled_gathering_loses_its_start_and_its_recommendation(api, app):
    org, fan = api.signup("Org"), api.signup("Fan", interests=["radio astronomy"])
    body = make_gathering(api, org, "Dish night", ["radio astronomy"])
    assert recommended_ids(api, fan) == [body["id"]]
    response = api.call("POST", f"/api/v1/gatherings/{body['id']}/cancel", org)
    assert response.status_code == 200, response.get_json()
    assert copies(app, body["id"]) == {"radio astronomy": None}
    assert recommended_ids(api, fan) == []


def test_a_scheduled_poll_gains_its_start_and_is_recommended(api, app):
    org, fan = api.signup("Org"), api.signup("Fan", interests=["radio astronomy"])
    gid = create_poll(api, org)["id"]
    assert recommended_ids(api, fan) == []
    start = WINDOW_START + timedelta(hours=3)
    response = api.call("POST", f"/api/v1/gatherings/{gid}/schedule", org, json={"start": z(start)})
    assert response.status_code == 200, response.get_json()
    assert copies(app, gid) == {"radio astronomy": start}
    assert recommended_ids(api, fan) == [gid]


def test_completing_ended_gatherings_clears_their_start(api, app):
    org = api.signup("Org")
    ended = make_gathering(api, org, "Dish night", ["radio astronomy"], days=1)
    later = make_gathering(api, org, "Second night", ["radio astronomy"], days=10)
    with app.extensions["kindred"].db.session_factory() as db:
        assert complete_ended_gatherings(db, now=datetime.now(UTC) + timedelta(days=2)) == 1
        db.commit()
        assert db.get(Gathering, ended["id"]).status == "completed"
    assert copies(app, ended["id"]) == {"radio astronomy": None}
    assert copies(app, later["id"]) == {"radio astronomy": starts(later)}


@pytest.mark.parametrize("scope", ["this", "following"])
def test_every_occurrence_of_a_series_carries_its_own_start(api, app, scope):
    org = api.signup("Org")
    first = datetime.now(UTC).replace(hour=18, minute=0, second=0, microsecond=0)
    first += timedelta(days=3)
    response = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={
            "title": "Weekly dish night",
            "timezone": "UTC",
            "duration_minutes": 60,
            "starts_at": first.isoformat(),
            "recurrence": "FREQ=WEEKLY;COUNT=4",
            "interests": ["radio astronomy"],
        },
    )
    assert response.status_code == 201, response.get_json()
    occurrences = response.get_json()["occurrences"]
    assert len(occurrences) == 4
    for occurrence in occurrences:
        assert copies(app, occurrence["id"]) == {"radio astronomy": starts(occurrence)}

    second = occurrences[1]
    moved = starts(second) + timedelta(hours=1)
    body: dict[str, Any] = {"starts_at": moved.isoformat()}
    if scope == "following":
        body["scope"] = "following"
    response = api.call("PATCH", f"/api/v1/gatherings/{second['id']}", org, json=body)
    assert response.status_code == 200, response.get_json()
    for occurrence in occurrences[1:] if scope == "following" else [second]:
        shown = api.call("GET", f"/api/v1/gatherings/{occurrence['id']}").get_json()
        assert starts(shown) != starts(occurrence)
        assert copies(app, occurrence["id"]) == {"radio astronomy": starts(shown)}
    assert copies(app, occurrences[0]["id"]) == {"radio astronomy": starts(occurrences[0])}
