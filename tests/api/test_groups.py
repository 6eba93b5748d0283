"""Groups: create, list by interest with pagination, join."""

from __future__ import annotations

import json


def test_create_group_makes_the_caller_organizer_and_member(api):
    alice = api.signup("Alice")
    response = api.call(
        "POST", "/api/v1/groups", alice, json={"name": "Sky Watchers", "interests": ["Astronomy"]}
    )
    assert response.status_code == 201
    group = response.get_json()
    assert group["organizer"] == {"id": alice["id"], "name": "Alice"}
    assert group["interests"] == ["astronomy"]
    assert group["member_count"] == 1
    assert group["feed_url"].endswith(f"/groups/{group['id']}.ics")


def test_create_group_needs_a_token(api):
    response = api.call("POST", "/api/v1/groups", json={"name": "x", "interests": []})
    assert response.status_code == 401


def test_list_groups_filters_by_normalised_interest_and_paginates(api):
    alice = api.signup()
    for i in range(12):
        tags = ["Astronomy"] if i % 2 == 0 else ["chess"]
        api.call("POST", "/api/v1/groups", alice, json={"name": f"G{i}", "interests": tags})
    first = api.call("GET", "/api/v1/groups?interest=ASTRONOMY&page_size=4")
    assert first.status_code == 200
    assert [g["name"] for g in first.get_json()] == ["G10", "G8", "G6", "G4"]
    assert json.loads(first.headers["X-Pagination"])["total"] == 6
    second = api.call("GET", "/api/v1/groups?interest=astronomy&page_size=4&page=2")
    assert [g["name"] for g in second.get_json()] == ["G2", "G0"]
    assert api.call("GET", "/api/v1/groups?interest=knitting").get_json() == []


def test_bad_pagination_is_422(api):
    response = api.call("GET", "/api/v1/groups?page=0")
    assert response.status_code == 422
    assert "page" in response.get_json()["errors"]


def test_join_is_201_then_idempotent(api):
    alice, bob = api.signup(), api.signup()
    group = api.call(
        "POST", "/api/v1/groups", alice, json={"name": "G", "interests": []}
    ).get_json()
    first = api.call("POST", f"/api/v1/groups/{group['id']}/members", bob)
    assert first.status_code == 201
    assert first.get_json()["user_id"] == bob["id"]
    again = api.call("POST", f"/api/v1/groups/{group['id']}/members", bob)
    assert again.status_code == 200
    assert api.call("GET", f"/api/v1/groups/{group['id']}").get_json()["member_count"] == 2


def test_unknown_group_is_404_with_the_error_shape(api):
    bob = api.signup()
    response = api.call("POST", "/api/v1/groups/999999/members", bob)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert api.call("GET", "/api/v1/groups/999999").status_code == 404


def test_unknown_route_under_the_api_is_json_404(api):
    response = api.call("GET", "/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404
