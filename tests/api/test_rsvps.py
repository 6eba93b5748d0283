"""RSVPs through the API: seats, the FIFO waitlist, promotion, closed gatherings, attendees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler.models import Gathering, OutboxMessage
from tests.support.mail import run_planner


@pytest.fixture
def db(app):
    """Short transactions of our own, outside any request."""
    return app.extensions["kindred"].db.session_factory


def revision_of(db, gathering_id):
    with db() as s:
        return s.get(Gathering, gathering_id).revision


def future(days: int = 3) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def create(api, organizer, **extra):
    body = {
        "title": "Soldering evening",
        "timezone": "Europe/Berlin",
        "duration_minutes": 90,
        "starts_at": future().isoformat(),
        **extra,
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def rsvp(api, user, gathering_id, answer):
    return api.call(
        "PUT", f"/api/v1/gatherings/{gathering_id}/rsvp", user, json={"response": answer}
    )


def answer(api, user, gathering_id, value):
    response = rsvp(api, user, gathering_id, value)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_yes_takes_seats_then_joins_the_waitlist_in_order(api):
    org = api.signup("Olga")
    g = create(api, org, capacity=2)
    people = [api.signup() for _ in range(4)]
    answers = [answer(api, p, g["id"], "yes") for p in people]
    assert [a["state"] for a in answers] == ["going", "going", "waitlisted", "waitlisted"]
    assert "waitlist_position" not in answers[0]
    assert [a.get("waitlist_position") for a in answers[2:]] == [1, 2]
    assert answers[3]["seats_left"] == 0
    shown = api.call("GET", f"/api/v1/gatherings/{g['id']}").get_json()
    assert shown["going_count"] == 2
    assert shown["seats_left"] == 0


def test_leaving_frees_the_seat_for_the_first_waitlisted_who_is_told(api, db):
    org = api.signup()
    g = create(api, org, capacity=1)
    first, second, third = (api.signup() for _ in range(3))
    answer(api, first, g["id"], "yes")
    answer(api, second, g["id"], "yes")
    answer(api, third, g["id"], "yes")

    left = answer(api, first, g["id"], "no")
    assert left["state"] == "not_going"
    # the promotion happened in the same request
    assert answer(api, second, g["id"], "yes")["state"] == "going"
    assert answer(api, third, g["id"], "yes")["waitlist_position"] == 1
    with db() as s:
        run_planner(s)  # the worker's part: owe what the recorded events call for
        mail = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "promoted")).all()
    assert [m.recipient_id for m in mail] == [second["id"]]


def test_maybe_holds_no_seat_and_switching_from_going_to_maybe_promotes(api):
    org = api.signup()
    g = create(api, org, capacity=1)
    a, b, c = (api.signup() for _ in range(3))
    assert answer(api, a, g["id"], "maybe")["state"] == "maybe"
    assert answer(api, b, g["id"], "yes")["state"] == "going"
    assert answer(api, c, g["id"], "yes")["state"] == "waitlisted"
    assert answer(api, b, g["id"], "maybe")["state"] == "maybe"
    assert answer(api, c, g["id"], "yes")["state"] == "going"
    # back to yes: the seat is gone, so b queues behind nobody (position 1)
    back = answer(api, b, g["id"], "yes")
    assert (back["state"], back["waitlist_position"]) == ("waitlisted", 1)


def test_the_same_answer_again_changes_nothing(api, db):
    org = api.signup()
    g = create(api, org, capacity=1)
    a, b = api.signup(), api.signup()
    answer(api, a, g["id"], "yes")
    answer(api, b, g["id"], "yes")
    revision = revision_of(db, g["id"])
    again = answer(api, b, g["id"], "yes")
    assert (again["state"], again["waitlist_position"]) == ("waitlisted", 1)
    assert revision_of(db, g["id"]) == revision


def test_every_real_rsvp_change_bumps_the_revision(api, db):
    org = api.signup()
    g = create(api, org)
    a = api.signup()
    before = revision_of(db, g["id"])
    answer(api, a, g["id"], "yes")
    answer(api, a, g["id"], "maybe")
    assert revision_of(db, g["id"]) == before + 2


def test_unlimited_capacity_never_waitlists(api):
    org = api.signup()
    g = create(api, org)
    assert all(answer(api, api.signup(), g["id"], "yes")["state"] == "going" for _ in range(5))


def test_raising_capacity_promotes_as_many_as_fit_and_lowering_below_going_is_refused(api):
    org = api.signup()
    g = create(api, org, capacity=1)
    people = [api.signup() for _ in range(5)]
    for person in people:
        answer(api, person, g["id"], "yes")

    raised = api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"capacity": 3})
    assert raised.status_code == 200, raised.get_json()
    assert raised.get_json()["going_count"] == 3
    states = [answer(api, p, g["id"], "yes")["state"] for p in people]
    assert states == ["going", "going", "going", "waitlisted", "waitlisted"]

    lowered = api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"capacity": 2})
    assert lowered.status_code == 422
    assert "capacity" in lowered.get_json()["errors"]

    unlimited = api.call("PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"capacity": None})
    assert unlimited.status_code == 200
    assert unlimited.get_json()["going_count"] == 5
    assert unlimited.get_json()["seats_left"] is None


def test_rsvps_close_when_cancelled(api):
    org = api.signup()
    g = create(api, org)
    assert api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel", org).status_code == 200
    response = rsvp(api, api.signup(), g["id"], "yes")
    assert response.status_code == 409
    assert "cancelled" in response.get_json()["message"]


def test_rsvps_close_once_the_gathering_has_ended(api, db):
    org = api.signup()
    g = create(api, org)
    with db.begin() as s:
        row = s.get(Gathering, g["id"])
        row.starts_at = datetime.now(UTC) - timedelta(hours=3)
        row.ends_at = row.starts_at + timedelta(minutes=90)
    response = rsvp(api, api.signup(), g["id"], "yes")
    assert response.status_code == 409
    assert "ended" in response.get_json()["message"]


def test_rsvps_wait_for_a_poll_to_be_scheduled(api):
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
    response = rsvp(api, api.signup(), g["id"], "yes")
    assert response.status_code == 409
    assert "scheduled" in response.get_json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"response": "perhaps"}, "response"),
        ({"response": 1}, "response"),
        ({"response": None}, "response"),
        ({}, "response"),
        ({"response": "yes", "plus_one": True}, "plus_one"),
        ({"response": "y" * 100_000}, "response"),
    ],
)
def test_bad_rsvp_bodies_name_the_field(api, body, field):
    org = api.signup()
    g = create(api, org)
    response = api.call("PUT", f"/api/v1/gatherings/{g['id']}/rsvp", org, json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_rsvp_needs_a_token_and_an_existing_gathering(api):
    org = api.signup()
    g = create(api, org)
    assert rsvp(api, None, g["id"], "yes").status_code == 401
    assert rsvp(api, org, 999_999, "yes").status_code == 404
    assert rsvp(api, org, 2**40, "yes").status_code == 404
    not_json = api.call("PUT", f"/api/v1/gatherings/{g['id']}/rsvp", org, data="yes")
    assert 400 <= not_json.status_code < 500


def test_attendee_list_for_organizer_members_and_outsiders(api):
    org = api.signup("Olga")
    group = api.call(
        "POST", "/api/v1/groups", org, json={"name": "Makers", "interests": ["electronics"]}
    ).get_json()
    g = create(api, org, capacity=1, group_id=group["id"])
    member, waiting, decliner, outsider = (api.signup(n) for n in ("Mia", "Wes", "Dan", "Ola"))
    for person in (member, waiting, decliner):
        assert api.call("POST", f"/api/v1/groups/{group['id']}/members", person).status_code in (
            200,
            201,
        )
    answer(api, member, g["id"], "yes")
    answer(api, waiting, g["id"], "yes")
    answer(api, decliner, g["id"], "no")
    path = f"/api/v1/gatherings/{g['id']}/attendees"

    full = api.call("GET", path, org).get_json()
    assert [(a["name"], a["state"]) for a in full] == [
        ("Mia", "going"),
        ("Wes", "waitlisted"),
        ("Dan", "not_going"),
    ]
    assert full[1]["waitlist_position"] == 1
    assert full[0]["email"] == member["email"]

    names_only = api.call("GET", path, member).get_json()
    assert [(a["name"], a["state"]) for a in names_only] == [
        ("Mia", "going"),
        ("Wes", "waitlisted"),
    ]
    assert all("email" not in a for a in names_only)

    assert api.call("GET", path, outsider).status_code == 404  # members only: not there
    assert api.call("GET", path).status_code == 401
    assert api.call("GET", "/api/v1/gatherings/999999/attendees", org).status_code == 404


def test_attendees_of_a_gathering_without_group_are_visible_to_signed_in_users(api):
    org = api.signup()
    g = create(api, org)
    shy = api.signup("Shy")
    assert api.call("PATCH", "/api/v1/me", shy, json={"share_name": False}).status_code == 200
    answer(api, shy, g["id"], "yes")
    seen = api.call("GET", f"/api/v1/gatherings/{g['id']}/attendees", api.signup()).get_json()
    assert [a["state"] for a in seen] == ["going"]
    assert seen[0]["name"] != "Shy"  # they chose not to share their name
    assert (
        api.call("GET", f"/api/v1/gatherings/{g['id']}/attendees", org).get_json()[0]["name"]
        == "Shy"
    )
