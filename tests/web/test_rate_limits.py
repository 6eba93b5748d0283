"""Rate limits on the pages: a friendly 429 page with Retry-After for log-in, sign-up and
writes, sharing each budget with the API.

Unless a test says otherwise, the limits are the shipped defaults (scheduler/config.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from scheduler.config import Config
from tests.web.test_pages import PASSWORD, csrf, sign_up

WRONG = "not the password at all"


@pytest.fixture
def limits_settings() -> dict[str, Any]:
    """Settings a test changes (parametrize this fixture by name): none, the defaults."""
    return {}


@pytest.fixture
def config(config: Config, limits_settings: dict[str, Any]) -> Config:
    """The suite's test config with the rate limits switched on."""
    return replace(config, **{"ratelimit_enabled": True, **limits_settings})


def log_in(client: FlaskClient, email: str, password: str) -> Any:
    """Post the log-in form (with the page's CSRF token)."""
    token = csrf(client.get("/login").text)
    data = {"csrf_token": token, "email": email, "password": password}
    return client.post("/login", data=data)


def assert_refusal_page(response: Any, words: str) -> None:
    """A 429 that people can read: an HTML page saying what happened and when to retry."""
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert words in response.text
    assert "Try again in" in response.text
    assert int(response.headers["Retry-After"]) >= 1


def test_a_log_in_brute_force_gets_a_429_page_within_ten_attempts_and_the_right_password_waits(
    app,
):
    sign_up(app.test_client(), "Victim", "victim@example.org")
    attacker = app.test_client()
    statuses = []
    for _ in range(10):
        response = log_in(attacker, "victim@example.org", WRONG)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {422}  # the form again, "Wrong email or password."
    assert_refusal_page(response, "Too many sign-in attempts for this email address")

    right = log_in(attacker, "victim@example.org", PASSWORD)
    assert_refusal_page(right, "Too many sign-in attempts")
    # not signed in: the start page still offers to log in, and the form still shows
    assert attacker.get("/profile").status_code == 302
    assert attacker.get("/login").status_code == 200


def test_the_api_and_the_page_share_an_address_budget(app):
    client = app.test_client()
    sign_up(client, "Victim", "victim@example.org")
    body = {"email": "victim@example.org", "password": WRONG}
    api_statuses = [client.post("/api/v1/tokens", json=body).status_code for _ in range(5)]
    assert api_statuses == [401] * 5  # the default: 5 a minute for one address
    assert_refusal_page(log_in(app.test_client(), "victim@example.org", PASSWORD), "address")


@pytest.mark.parametrize("limits_settings", [{"ratelimit_sign_up_per_ip": "2 per minute"}])
def test_sign_ups_from_one_ip_get_a_429_page(app):
    sign_up(app.test_client(), "One", "one@example.org")
    sign_up(app.test_client(), "Two", "two@example.org")
    client = app.test_client()
    token = csrf(client.get("/signup").text)
    data = {
        "csrf_token": token,
        "name": "Three",
        "email": "three@example.org",
        "password": PASSWORD,
        "timezone": "UTC",
    }
    assert_refusal_page(client.post("/signup", data=data), "Too many sign-ups from your network")
    elsewhere = app.test_client()
    token = csrf(elsewhere.get("/signup").text)
    response = elsewhere.post(
        "/signup", data={**data, "csrf_token": token}, environ_base={"REMOTE_ADDR": "10.3.0.1"}
    )
    assert response.status_code == 302


@pytest.mark.parametrize("limits_settings", [{"ratelimit_writes_per_account": "2 per minute"}])
def test_page_writes_are_limited_per_account(app):
    client = app.test_client()
    sign_up(client, "Me", "me@example.org")

    def save_profile(name: str) -> Any:
        token = csrf(client.get("/profile").text)
        data = {"csrf_token": token, "name": name, "timezone": "UTC"}
        return client.post("/profile", data=data)

    assert save_profile("Me 1").status_code == 302
    assert save_profile("Me 2").status_code == 302
    assert_refusal_page(save_profile("Me 3"), "Too many changes from this account")
    assert "Me 2" in client.get("/profile").text
    other = app.test_client()
    sign_up(other, "Other", "other@example.org")
    token = csrf(other.get("/profile").text)
    response = other.post("/profile", data={"csrf_token": token, "name": "O", "timezone": "UTC"})
    assert response.status_code == 302
