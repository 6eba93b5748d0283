"""Sign-up, log-in, tokens, the caller's profile and feed URL rotation."""

from __future__ import annotations

import re

import pytest


def test_signup_returns_the_user_with_normalised_email_and_interests(api):
    response = api.call(
        "POST",
        "/api/v1/users",
        json={
            "email": "  Ada@Example.ORG ",
            "name": "Ada",
            "password": "a long enough password",
            "timezone": "Europe/Berlin",
            "interests": ["Radio  Astronomy", "radio astronomy", "Chess"],
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "ada@example.org"
    assert body["timezone"] == "Europe/Berlin"
    assert sorted(body["interests"]) == ["chess", "radio astronomy"]
    assert "password" not in body and "password_hash" not in body


def test_email_taken_is_409_whatever_the_case(api):
    api.signup(email="bo@example.org")
    response = api.call(
        "POST",
        "/api/v1/users",
        json={"email": "BO@example.org", "name": "Bo", "password": "another password!"},
    )
    assert response.status_code == 409
    assert response.get_json()["errors"] == {
        "email": ["An account with this email already exists."]
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "name": "X", "password": "long enough pw"}, "email"),
        ({"email": "x@example.org", "name": "X", "password": "short"}, "password"),
        (
            {
                "email": "x@example.org",
                "name": "X",
                "password": "long enough pw",
                "timezone": "Mars/Base",
            },
            "timezone",
        ),
        ({"email": "x@example.org", "name": "", "password": "long enough pw"}, "name"),
        ({"email": "x@example.org", "name": 5, "password": "long enough pw"}, "name"),
        (
            {
                "email": "x@example.org",
                "name": "X",
                "password": "long enough pw",
                "interests": "chess",
            },
            "interests",
        ),
        (
            {"email": "x@example.org", "name": "X", "password": "long enough pw", "admin": True},
            "admin",
        ),
        ({"name": "X", "password": "long enough pw"}, "email"),
        ({"email": "x@example.org", "name": "X" * 101, "password": "long enough pw"}, "name"),
    ],
)
def test_signup_validation_names_the_field(api, body, field):
    response = api.call("POST", "/api/v1/users", json=body)
    assert response.status_code == 422
    payload = response.get_json()
    assert field in payload["errors"], payload
    assert payload["error"] == "validation_error"
    assert field in payload["message"]


def test_malformed_json_is_400_with_the_error_shape(api):
    response = api.call(
        "POST", "/api/v1/users", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["message"] == "The request body is not valid JSON."


def test_a_json_array_body_is_422_not_500(api):
    response = api.call("POST", "/api/v1/users", json=["email"])
    assert response.status_code == 422


def test_login_gives_a_working_token_and_wrong_password_is_401(api):
    user = api.signup(email="cy@example.org", password="the right password")
    wrong = api.call(
        "POST", "/api/v1/tokens", json={"email": "cy@example.org", "password": "the wrong password"}
    )
    assert wrong.status_code == 401
    unknown = api.call(
        "POST", "/api/v1/tokens", json={"email": "nobody@example.org", "password": "whatever1234"}
    )
    assert unknown.status_code == 401
    assert wrong.get_json()["message"] == unknown.get_json()["message"]
    me = api.call("GET", "/api/v1/me", user)
    assert me.status_code == 200
    assert me.get_json()["email"] == "cy@example.org"


def test_tokens_are_stored_hashed(api, session):
    from scheduler.models import ApiToken

    user = api.signup()
    stored = [row.token_hash for row in session.query(ApiToken)]
    assert user["token"] not in stored
    assert len(stored) == 1 and len(stored[0]) == 64


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_me_without_a_valid_token_is_401(api, header):
    headers = {"Authorization": header} if header else {}
    response = api.call("GET", "/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_feed_url_is_secret_and_rotation_revokes_the_old_one(api, client):
    user = api.signup()
    feed_url = api.call("GET", "/api/v1/me", user).get_json()["feed_url"]
    token = re.search(r"/feeds/([0-9a-f]+)\.ics$", feed_url).group(1)
    assert len(token) * 4 >= 128  # hex digits → bits
    # the URL is stable until rotated
    assert api.call("GET", "/api/v1/me", user).get_json()["feed_url"] == feed_url
    rotated = api.call("POST", "/api/v1/me/feed-token", user)
    assert rotated.status_code == 200
    new_url = rotated.get_json()["feed_url"]
    assert new_url != feed_url
    assert rotated.get_json()["webcal_url"].startswith("webcal://")
    assert api.call("GET", "/api/v1/me", user).get_json()["feed_url"] == new_url


def test_feed_token_is_stored_only_as_a_hash(api, session):
    from scheduler.models import User

    user = api.signup()
    token = api.call("GET", "/api/v1/me", user).get_json()["feed_url"].rsplit("/", 1)[1][:-4]
    row = session.get(User, user["id"])
    assert token not in (row.feed_token_hash, row.feed_token_nonce)


def test_profile_update_validates_time_zone_and_normalises_interests(api):
    user = api.signup()
    bad = api.call("PATCH", "/api/v1/me", user, json={"timezone": "Europe/Atlantis"})
    assert bad.status_code == 422 and "timezone" in bad.get_json()["errors"]
    ok = api.call(
        "PATCH", "/api/v1/me", user, json={"timezone": "Asia/Kolkata", "interests": [" Go "]}
    )
    assert ok.status_code == 200
    assert ok.get_json()["timezone"] == "Asia/Kolkata"
    assert ok.get_json()["interests"] == ["go"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/users",
            {"email": "a@b.org", "name": "A\u0000", "password": "long enough pw"},
            "name",
        ),
        ("/api/v1/tokens", {"email": "a\u0000@b.org", "password": "long enough pw"}, "email"),
        ("/api/v1/groups", {"name": "G", "description": "\u0000", "interests": []}, "description"),
        ("/api/v1/groups", {"name": "G", "interests": ["go\u0000"]}, "interests"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(api, path, body, field):
    user = api.signup()
    response = api.call("POST", path, user, json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_a_nul_in_the_login_form_is_a_wrong_login_not_a_crash(client):
    page = client.get("/login").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        "/login", data={"csrf_token": token, "email": "a\u0000@b.org", "password": "x" * 12}
    )
    assert response.status_code < 500
    assert "Wrong email or password" in response.text
