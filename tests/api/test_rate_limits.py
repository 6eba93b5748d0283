"""Rate limits on the API: sign-in and sign-up per address and per IP, writes per account
(the RSVP fast path included), 429 with Retry-After in the one error shape, and the switch.

Unless a test says otherwise, the limits are the shipped defaults (scheduler/config.py).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler import create_app
from scheduler.config import Config
from scheduler.web.rsvp_fastpath import RsvpFastPath

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
ATTACKER = "203.0.113.7"


@pytest.fixture
def limits_settings() -> dict[str, Any]:
    """Settings a test changes (parametrize this fixture by name): none, the defaults."""
    return {}


@pytest.fixture
def config(config: Config, limits_settings: dict[str, Any]) -> Config:
    """The suite's test config with the rate limits switched on."""
    return replace(config, **{"ratelimit_enabled": True, **limits_settings})


def sign_up(api, email: str, ip: str = "127.0.0.1") -> Any:
    """POST /api/v1/users from `ip` (no token asked for: no sign-in spent)."""
    body = {"email": email, "name": "Someone", "password": PASSWORD}
    return api.client.post("/api/v1/users", json=body, environ_base={"REMOTE_ADDR": ip})


def sign_in(api, email: str, password: str, ip: str = ATTACKER) -> Any:
    """POST /api/v1/tokens from `ip`."""
    body = {"email": email, "password": password}
    return api.client.post("/api/v1/tokens", json=body, environ_base={"REMOTE_ADDR": ip})


def wrong_until_refused(api, email: str, attempts: int = 10, ips: list[str] | None = None):
    """Wrong passwords until the first 429: the statuses, ending with the 429's response."""
    statuses = []
    for n in range(attempts):
        response = sign_in(api, email, WRONG, ip=(ips[n] if ips else ATTACKER))
        statuses.append(response.status_code)
        if response.status_code == 429:
            return statuses, response
    pytest.fail(f"no 429 within {attempts} attempts: {statuses}")


def assert_refusal(response: Any, words: str) -> int:
    """A 429 in the one error shape with a Retry-After in seconds; returns that."""
    assert response.status_code == 429
    body = response.get_json()
    assert set(body) == {"code", "status", "error", "message"}
    assert body["code"] == 429
    assert body["status"] == "Too Many Requests"
    assert body["error"] == "too_many_requests"
    assert words in body["message"]
    assert "Try again in" in body["message"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_a_login_brute_force_is_refused_within_ten_attempts_and_the_right_password_waits(api):
    assert sign_up(api, "victim@example.org").status_code == 201
    statuses, refused = wrong_until_refused(api, "victim@example.org")
    assert set(statuses[:-1]) == {401}
    retry_after = assert_refusal(refused, "this email address")
    assert retry_after <= 61  # the default's shortest window is a minute

    right = sign_in(api, "victim@example.org", PASSWORD)
    assert_refusal(right, "this email address")
    # the address is what is limited: the right password waits from anywhere
    assert_refusal(sign_in(api, "victim@example.org", PASSWORD, ip="198.51.100.1"), "address")


@pytest.mark.parametrize("limits_settings", [{"ratelimit_sign_in_per_address": "3 per 2 seconds"}])
def test_the_right_password_works_again_once_the_window_has_passed(api):
    assert sign_up(api, "victim@example.org").status_code == 201
    statuses, _ = wrong_until_refused(api, "victim@example.org")
    assert statuses == [401, 401, 401, 429]
    wait = assert_refusal(sign_in(api, "victim@example.org", PASSWORD), "address")
    assert wait <= 3
    time.sleep(wait)
    assert sign_in(api, "victim@example.org", PASSWORD).status_code == 201


def test_one_address_from_many_ips_is_stopped(api):
    assert sign_up(api, "victim@example.org").status_code == 201
    ips = [f"10.0.{n}.{n + 1}" for n in range(10)]
    statuses, refused = wrong_until_refused(api, "victim@example.org", ips=ips)
    assert len(statuses) <= 10
    assert_refusal(refused, "this email address")


def test_many_addresses_from_one_ip_are_stopped_and_other_ips_are_not(api):
    statuses = []
    for n in range(25):
        statuses.append(sign_in(api, f"guess{n}@example.org", WRONG).status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {401}
    assert len(statuses) == 21  # the default: 20 a minute from one address
    refused = sign_in(api, "another@example.org", WRONG)
    assert_refusal(refused, "from your network")
    assert sign_in(api, "another@example.org", WRONG, ip="198.51.100.2").status_code == 401


@pytest.mark.parametrize("limits_settings", [{"ratelimit_sign_in_per_ip": "2 per minute"}])
def test_an_ipv6_subscriber_is_one_network_of_64_bits(api):
    first, second, elsewhere = "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"
    assert sign_in(api, "a@example.org", WRONG, ip=first).status_code == 401
    assert sign_in(api, "b@example.org", WRONG, ip=second).status_code == 401
    assert_refusal(sign_in(api, "c@example.org", WRONG, ip=first), "from your network")
    assert sign_in(api, "d@example.org", WRONG, ip=elsewhere).status_code == 401


@pytest.mark.parametrize("limits_settings", [{"ratelimit_sign_up_per_ip": "3 per minute"}])
def test_sign_ups_from_one_ip_are_limited(api):
    for n in range(3):
        assert sign_up(api, f"new{n}@example.org", ip=ATTACKER).status_code == 201
    assert_refusal(sign_up(api, "new3@example.org", ip=ATTACKER), "sign-ups from your network")
    assert sign_up(api, "new3@example.org", ip="198.51.100.3").status_code == 201


def test_sign_ups_for_one_address_are_limited_from_any_ip(api):
    statuses = [sign_up(api, "taken@example.org", ip=f"10.1.0.{n}").status_code for n in range(7)]
    assert statuses[0] == 201
    assert 429 in statuses[:6], statuses  # the default: 5 an hour for one address
    first_refusal = statuses.index(429)
    # the first account's address is not confirmed yet: its owner is mailed, not refused
    assert set(statuses[1:first_refusal]) == {202}
    assert_refusal(sign_up(api, "taken@example.org", ip="10.2.0.1"), "sign-ups for this email")


@pytest.mark.parametrize("limits_settings", [{"ratelimit_writes_per_account": "3 per minute"}])
def test_writes_are_limited_per_account_and_reads_are_not(api):
    me, other = api.signup("Me"), api.signup("Other")
    for n in range(3):
        assert api.call("PATCH", "/api/v1/me", me, json={"name": f"Me {n}"}).status_code == 200
    refused = api.call("PATCH", "/api/v1/me", me, json={"name": "Me again"})
    assert_refusal(refused, "changes from this account")
    assert api.call("POST", "/api/v1/me/feed-token", me).status_code == 429
    # a second token of the same account spends the same budget
    token = sign_in(api, me["email"], PASSWORD, ip="127.0.0.1").get_json()["token"]
    again = api.call("PATCH", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 429
    assert api.call("GET", "/api/v1/me", me).get_json()["name"] == "Me 2"
    assert api.call("PATCH", "/api/v1/me", other, json={"name": "Still me"}).status_code == 200


def future(days: int = 3) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def create_gathering(api, organizer) -> int:
    body = {"title": "Soldering", "timezone": "UTC", "duration_minutes": 60, "starts_at": future()}
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def rsvp(api, user, gathering_id: int, answer: str) -> Any:
    path = f"/api/v1/gatherings/{gathering_id}/rsvp"
    return api.call("PUT", path, user, json={"response": answer})


@pytest.mark.parametrize("limits_settings", [{"ratelimit_writes_per_account": "3 per minute"}])
def test_the_rsvp_fast_path_spends_the_same_write_budget_and_refuses_alike(api, app, monkeypatch):
    gathering_id = create_gathering(api, api.signup("Organizer"))
    me = api.signup("Me")
    assert api.call("PATCH", "/api/v1/me", me, json={"name": "Me"}).status_code == 200

    def flask_must_not_answer(_environ, _start_response):
        raise AssertionError("Flask answered an RSVP the fast path should have")

    fast_path = app.wsgi_app
    while not isinstance(fast_path, RsvpFastPath):  # under the middleware around it
        fast_path = fast_path.app
    with monkeypatch.context() as patched:
        patched.setattr(fast_path, "app", flask_must_not_answer)
        assert rsvp(api, me, gathering_id, "yes").status_code == 200
        assert rsvp(api, me, gathering_id, "no").status_code == 200
        refused = rsvp(api, me, gathering_id, "yes")
        assert_refusal(refused, "changes from this account")
        assert refused.headers["Content-Type"] == "application/json"
    # Flask, for its part, counts the fast path's answers
    assert_refusal(api.call("PATCH", "/api/v1/me", me, json={"name": "Me"}), "this account")
    assert rsvp(api, api.signup("Other"), gathering_id, "yes").status_code == 200


@pytest.mark.parametrize("limits_settings", [{"ratelimit_writes_per_account": "2 per minute"}])
def test_an_rsvp_the_fast_path_passes_to_flask_is_counted_once(api):
    organizer = api.signup("Organizer")
    gathering_id = create_gathering(api, organizer)
    response = api.call("POST", f"/api/v1/gatherings/{gathering_id}/cancel", organizer)
    assert response.status_code == 200
    me = api.signup("Me")
    # the function refuses a cancelled gathering and Flask explains: one write each
    assert rsvp(api, me, gathering_id, "yes").status_code == 409
    assert rsvp(api, me, gathering_id, "yes").status_code == 409
    assert_refusal(rsvp(api, me, gathering_id, "yes"), "changes from this account")


TINY = {
    "ratelimit_sign_in_per_address": "1 per hour",
    "ratelimit_sign_in_per_ip": "1 per hour",
    "ratelimit_sign_up_per_address": "1 per hour",
    "ratelimit_sign_up_per_ip": "1 per hour",
    "ratelimit_writes_per_account": "1 per hour",
}


@pytest.mark.parametrize("limits_settings", [{**TINY, "ratelimit_enabled": False}])
def test_ratelimit_enabled_false_switches_every_limit_off(api):
    people = [api.signup(f"Person {n}") for n in range(3)]
    statuses = {sign_in(api, people[0]["email"], WRONG).status_code for _ in range(12)}
    assert statuses == {401}
    assert sign_in(api, people[0]["email"], PASSWORD).status_code == 201
    gathering_id = create_gathering(api, people[0])
    for answer in ("yes", "no", "yes", "no"):
        assert rsvp(api, people[1], gathering_id, answer).status_code == 200
    for n in range(4):
        assert api.call("PATCH", "/api/v1/me", people[2], json={"name": f"P{n}"}).status_code == 200


def test_the_switch_and_the_budgets_come_from_the_environment(tmp_path, config):
    def from_env(**env: str) -> Config:
        return Config.from_env(env, instance_path=tmp_path, database_url=config.database_url)

    assert from_env().ratelimit_enabled is True
    for off in ("false", "0", "no", "off", " False "):
        assert from_env(RATELIMIT_ENABLED=off).ratelimit_enabled is False
    assert from_env(RATELIMIT_ENABLED="true").ratelimit_enabled is True
    with pytest.raises(ValueError, match="RATELIMIT_ENABLED"):
        from_env(RATELIMIT_ENABLED="sometimes")
    read = from_env(RATELIMIT_WRITES_PER_ACCOUNT="50 per minute")
    assert read.ratelimit_writes_per_account == "50 per minute"
    assert read.ratelimit_sign_in_per_ip == Config.ratelimit_sign_in_per_ip


def test_an_unreadable_budget_stops_the_app_naming_its_variable(config):
    with pytest.raises(ValueError, match="RATELIMIT_SIGN_IN_PER_IP"):
        create_app(replace(config, ratelimit_sign_in_per_ip="lots"))


@pytest.mark.parametrize("limits_settings", [{"redis_url": "redis://127.0.0.1:1/0"}])
def test_while_redis_is_unreachable_each_process_keeps_the_limits_in_memory(api):
    assert sign_up(api, "victim@example.org").status_code == 201
    statuses, refused = wrong_until_refused(api, "victim@example.org")
    assert set(statuses[:-1]) == {401}
    assert_refusal(refused, "this email address")
    assert_refusal(sign_in(api, "victim@example.org", PASSWORD), "this email address")


@pytest.mark.parametrize("limits_settings", [{"ratelimit_exports_per_account": "3 per minute"}])
def test_downloads_are_limited_per_account_across_the_api_and_the_pages(api):
    organizer, other = api.signup("Organizer"), api.signup("Other")
    gathering_id = create_gathering(api, organizer)
    csv = f"/api/v1/gatherings/{gathering_id}/attendees.csv"
    assert api.call("GET", csv, organizer).status_code == 200
    assert api.call("GET", "/api/v1/me/export", organizer).status_code == 200
    assert api.call("GET", csv, organizer).status_code == 200
    assert_refusal(api.call("GET", "/api/v1/me/export", organizer), "downloads from this account")
    assert api.call("GET", csv, organizer).status_code == 429
    # other reads of the same account, and other accounts' downloads, are not counted
    assert api.call("GET", f"/api/v1/gatherings/{gathering_id}", organizer).status_code == 200
    assert api.call("GET", "/api/v1/me/export", other).status_code == 200
