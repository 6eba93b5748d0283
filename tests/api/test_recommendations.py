"""GET /api/v1/me/recommendations, people on a group page and people I've met."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler.models import Gathering, GatheringStatus, Rsvp, utcnow
from scheduler.services.interests.vocabulary import resolve_interests
from tests.support.people import past_gathering_together


@pytest.fixture
def session(app):
    """The requests' own scoped session, without holding an app context open.

    conftest's `session` keeps an app context pushed, so Flask's `g` (and the API's cached
    `g.api_user`) would leak from one test-client request to the next.
    """
    db = app.extensions["kindred"].db
    yield db.session  # the scoped proxy: requests end (remove) the session they used
    db.remove()


def future(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def make_gathering(api, user, title: str, interests: list[str], days: float = 7, **extra: Any):
    body = {
        "title": title,
        "timezone": "Europe/Berlin",
        "duration_minutes": 120,
        "starts_at": future(days),
        "interests": interests,
        **extra,
    }
    response = api.call("POST", "/api/v1/gatherings", user, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_group(api, user, name: str, interests: list[str]) -> dict[str, Any]:
    response = api.call("POST", "/api/v1/groups", user, json={"name": name, "interests": interests})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def rsvp(session, gathering_id: int, user_id: int, state: str = "going", ticket=None) -> None:
    response = {"going": "yes", "waitlisted": "yes", "maybe": "maybe", "not_going": "no"}[state]
    session.add(
        Rsvp(
            gathering_id=gathering_id,
            user_id=user_id,
            response=response,
            state=state,
            waitlist_ticket=ticket,
        )
    )
    session.commit()


def recommendations(api, user, **params: Any) -> dict[str, Any]:
    response = api.call("GET", "/api/v1/me/recommendations", user, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def discoverable(api, user) -> None:
    response = api.call("PATCH", "/api/v1/me", user, json={"discoverable": True})
    assert response.status_code == 200, response.get_json()


def crowd_uses(api, session, tag: str, n: int) -> None:
    """Make `tag` common: n more things use it (cheaply, as interests of fresh groups)."""
    organizer = api.signup("Crowd")
    for i in range(n):
        make_group(api, organizer, f"{tag} club {i}", [tag])


def test_rare_interest_ranks_first_and_explains_itself(api, session):
    me = api.signup("Me", interests=["coding", "radio astronomy"])
    host = api.signup("Host")
    crowd_uses(api, session, "coding", 8)
    common = make_gathering(api, host, "Code night", ["coding"], days=2)
    rare = make_gathering(api, host, "Dish pointing", ["radio astronomy"], days=5)
    unrelated = make_gathering(api, host, "Knitting", ["knitting"], days=1)

    found = recommendations(api, me)["gatherings"]

    ids = [g["id"] for g in found]
    assert ids[:2] == [rare["id"], common["id"]]
    assert unrelated["id"] not in ids
    top = found[0]
    assert top["shared_interests"] == ["radio astronomy"]
    assert "shares the rare interest 'radio astronomy'" in top["reasons"]
    assert top["starts_at"].endswith("Z")
    assert top["score"] > found[1]["score"]


def test_people_i_met_going_boost_a_gathering(api, session):
    me = api.signup("Me", interests=["hiking"])
    friends = [api.signup(f"Friend {i}") for i in range(3)]
    for f in friends:
        discoverable(api, f)
    host = api.signup("Host")
    past_gathering_together(session, host["id"], [me["id"], *(f["id"] for f in friends)])
    strangers = make_gathering(api, host, "Hike A", ["hiking"], days=2)
    with_friends = make_gathering(api, host, "Hike B", ["hiking"], days=3)
    for f in friends:
        rsvp(session, with_friends["id"], f["id"])

    found = recommendations(api, me)["gatherings"]

    assert [g["id"] for g in found] == [with_friends["id"], strangers["id"]]
    assert "3 people you've met are going" in found[0]["reasons"]


def test_full_past_cancelled_and_answered_gatherings_sink_or_vanish(api, session):
    me = api.signup("Me", interests=["radio astronomy", "coding"])
    host = api.signup("Host")
    full = make_gathering(api, host, "Full rare", ["radio astronomy"], days=2, capacity=2)
    row = session.get(Gathering, full["id"])
    row.going_count = 2
    session.commit()
    for i in range(6):
        waiting = api.signup(f"Waiting {i}")
        rsvp(session, full["id"], waiting["id"], state="waitlisted", ticket=i + 1)
    open_common = make_gathering(api, host, "Open common", ["coding"], days=3)
    cancelled = make_gathering(api, host, "Cancelled rare", ["radio astronomy"], days=2)
    row = session.get(Gathering, cancelled["id"])
    row.status = GatheringStatus.CANCELLED
    session.commit()
    answered = make_gathering(api, host, "Answered", ["radio astronomy"], days=2)
    rsvp(session, answered["id"], me["id"], state="not_going")
    past = make_gathering(api, host, "Already happened", ["radio astronomy"], days=1)
    row = session.get(Gathering, past["id"])
    row.starts_at = utcnow() - timedelta(days=1)
    row.ends_at = row.starts_at + timedelta(hours=2)
    session.commit()

    found = recommendations(api, me)["gatherings"]

    assert [g["id"] for g in found] == [open_common["id"], full["id"]]
    assert "full, 6 people on the waitlist" in found[1]["reasons"]


def test_groups_i_am_not_in_ranked_by_rarity(api, session):
    me = api.signup("Me", interests=["coding", "radio astronomy"])
    host = api.signup("Host")
    crowd_uses(api, session, "coding", 5)
    rare = make_group(api, host, "Dish people", ["radio astronomy"])
    mine = make_group(api, me, "My own circle", ["radio astronomy"])

    found = recommendations(api, me)["groups"]

    ids = [g["id"] for g in found]
    assert ids[0] == rare["id"]
    assert mine["id"] not in ids
    assert len(ids) == 6  # the rare one plus five coding clubs
    assert found[0]["reasons"] == ["shares the rare interest 'radio astronomy'"]
    assert set(found[0]) >= {"id", "name", "shared_interests", "reasons", "score"}


def test_recommendations_are_paginated_per_list(api, session):
    me = api.signup("Me", interests=["chess"])
    host = api.signup("Host")
    ids = [make_gathering(api, host, f"Chess {i}", ["chess"], days=1 + i)["id"] for i in range(5)]

    first = recommendations(api, me, page=1, page_size=2)
    second = recommendations(api, me, page=2, page_size=2)
    third = recommendations(api, me, page=3, page_size=2)

    seen = [g["id"] for page in (first, second, third) for g in page["gatherings"]]
    assert seen == ids  # equal scores: the sooner first
    assert first["gatherings_total"] == 5
    bad = api.call("GET", "/api/v1/me/recommendations", me, query_string={"page_size": 0})
    assert bad.status_code == 422
    assert "page_size" in bad.get_json()["errors"]


def test_recommendations_need_a_login(api):
    response = api.call("GET", "/api/v1/me/recommendations")
    assert response.status_code == 401


def test_group_people_show_only_discoverable_members_sharing_my_interests(api, session):
    me = api.signup("Me", interests=["radio astronomy", "coding"])
    host = api.signup("Host", interests=["radio astronomy"])
    open_member = api.signup("Open Olga", interests=["radio astronomy", "coding"])
    hidden = api.signup("Hidden Hans", interests=["radio astronomy"])
    unrelated = api.signup("Other Otto", interests=["knitting"])
    discoverable(api, open_member)
    discoverable(api, unrelated)
    group = make_group(api, host, "Dish people", ["radio astronomy"])
    for person in (me, open_member, hidden, unrelated):
        assert api.call("POST", f"/api/v1/groups/{group['id']}/members", person).status_code == 201

    response = api.call("GET", f"/api/v1/groups/{group['id']}/people", me)

    assert response.status_code == 200
    people = response.get_json()
    assert [(p["id"], p["name"], p["times_met"]) for p in people] == [
        (open_member["id"], "Open Olga", 0)
    ]
    assert sorted(people[0]["shared_interests"]) == ["coding", "radio astronomy"]
    assert api.call("GET", "/api/v1/groups/99999/people", me).status_code == 404


def test_people_i_met_with_counts_never_include_the_undiscoverable(api, session):
    me = api.signup("Me", interests=["hiking"])
    often = api.signup("Often Olga", interests=["hiking"])
    once = api.signup("Once Otto")
    hidden = api.signup("Hidden Hans")
    for person in (often, once):
        discoverable(api, person)
    past_gathering_together(session, me["id"], [me["id"], often["id"], once["id"], hidden["id"]])
    past_gathering_together(session, me["id"], [me["id"], often["id"], hidden["id"]])

    met = api.call("GET", "/api/v1/me/met", me).get_json()

    assert [(p["name"], p["times_met"]) for p in met] == [("Often Olga", 2), ("Once Otto", 1)]
    assert met[0]["shared_interests"] == ["hiking"]


def test_a_hidden_person_is_not_counted_in_reasons_either(api, session):
    me = api.signup("Me", interests=["hiking"])
    hidden = api.signup("Hidden Hans")
    host = api.signup("Host")
    past_gathering_together(session, host["id"], [me["id"], hidden["id"]])
    hike = make_gathering(api, host, "Hike", ["hiking"], days=2)
    rsvp(session, hike["id"], hidden["id"])

    found = recommendations(api, me)["gatherings"]

    assert [g["id"] for g in found] == [hike["id"]]
    assert not any("met" in reason for reason in found[0]["reasons"])
    assert api.call("GET", "/api/v1/me/met", me).get_json() == []


def test_met_people_alone_can_recommend_a_gathering_without_shared_interests(api, session):
    me = api.signup("Me", interests=["hiking"])
    friend = api.signup("Friend")
    discoverable(api, friend)
    host = api.signup("Host")
    past_gathering_together(session, host["id"], [me["id"], friend["id"]])
    board_games = make_gathering(api, host, "Board games", ["board games"], days=2)
    rsvp(session, board_games["id"], friend["id"])

    found = recommendations(api, me)["gatherings"]

    assert [g["id"] for g in found] == [board_games["id"]]
    assert found[0]["shared_interests"] == []
    assert found[0]["reasons"][0] == "1 person you've met is going"


def test_alias_applies_where_interests_are_resolved(api, session):
    me = api.signup("Me", interests=["astro", "ML"])
    assert me["interests"] == ["astronomy", "machine learning"]
    assert [i.name for i in resolve_interests(session, ["JS", "javascript"])] == ["javascript"]
