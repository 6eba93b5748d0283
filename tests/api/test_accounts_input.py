"""Bad input to the account endpoints is a 4xx naming the field, never a 5xx."""

from __future__ import annotations

import pytest

PASSWORD = "correct horse battery"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/auth/email-link", {}, "email"),
        ("/api/v1/auth/email-link", {"email": "a" * 300}, "email"),
        ("/api/v1/auth/email-link", {"email": "a@b.org", "next": 5}, "next"),
        ("/api/v1/auth/password-reset", {"email": None}, "email"),
        ("/api/v1/auth/password-reset", {"email": "a@b.org", "extra": 1}, "extra"),
    ],
)
def test_link_requests_name_the_bad_field(client, path, body, field):
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize("email", ["nobody@example.org", "not an address", " NOBODY@example.org "])
def test_link_requests_answer_202_whoever_is_named(client, email):
    assert client.post("/api/v1/auth/email-link", json={"email": email}).status_code == 202
    assert client.post("/api/v1/auth/password-reset", json={"email": email}).status_code == 202


@pytest.mark.parametrize("email", ["x\u0000@example.org", "\ud800@x.org"])
def test_text_no_database_can_hold_is_422(client, email):
    for path in ("/api/v1/auth/email-link", "/api/v1/auth/password-reset"):
        response = client.post(path, json={"email": email})
        assert response.status_code == 422 and "email" in response.get_json()["errors"]


def test_token_options_are_checked(api, client):
    api.signup("Sam", email="sam@example.org")
    login = {"email": "sam@example.org", "password": PASSWORD}
    no_offset = client.post("/api/v1/tokens", json={**login, "expires_at": "2030-01-01T10:00"})
    assert no_offset.status_code == 422 and "expires_at" in no_offset.get_json()["errors"]
    long_label = client.post("/api/v1/tokens", json={**login, "label": "x" * 101})
    assert long_label.status_code == 422 and "label" in long_label.get_json()["errors"]


def test_account_changes_name_their_fields(api):
    sam = api.signup("Sam", email="sam@example.org")
    missing = api.call("DELETE", "/api/v1/me", sam, json={})
    assert missing.status_code == 422 and "password" in missing.get_json()["errors"]
    short = api.call(
        "POST",
        "/api/v1/me/password",
        sam,
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert short.status_code == 422 and "new_password" in short.get_json()["errors"]
    wrong = api.call(
        "POST",
        "/api/v1/me/password",
        sam,
        json={"current_password": "no", "new_password": "x" * 12},
    )
    assert wrong.status_code == 403 and "current_password" in wrong.get_json()["errors"]
    bad_address = api.call(
        "POST", "/api/v1/me/email", sam, json={"email": "not-an-address", "password": PASSWORD}
    )
    assert bad_address.status_code == 422 and "email" in str(bad_address.get_json()["errors"])
    taken = api.signup("Olga", email="olga@example.org")
    assert taken
    clash = api.call(
        "POST", "/api/v1/me/email", sam, json={"email": "olga@example.org", "password": PASSWORD}
    )
    assert clash.status_code == 409
    assert api.call("DELETE", "/api/v1/me/tokens/2147483647", sam).status_code == 404
    assert api.call("DELETE", "/api/v1/me/tokens/99999999999999", sam).status_code == 404
    verified = api.call("POST", "/api/v1/me/verify-email", sam)
    assert verified.status_code == 409  # confirmed already: nothing to send


def test_me_shows_verification_and_locale(api):
    sam = api.signup("Sam", verified=False, email="sam@example.org")
    me = api.call("GET", "/api/v1/me", sam).get_json()
    assert me["email_verified"] is False and me["locale"] == "en" and me["has_password"] is True
