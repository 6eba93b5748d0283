"""Every request that mails an account link has budgets per address, per IP and (signed in)
per account: nobody can make Kindred flood an inbox with sign-in, reset or verify mail."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from scheduler.config import Config
from scheduler.models import OutboxMessage


@pytest.fixture
def config(config: Config) -> Config:
    """The suite's test config with the rate limits switched on (the shipped defaults)."""
    return replace(config, ratelimit_enabled=True)


def ask(api: Any, path: str, email: str, ip: str = "127.0.0.1") -> Any:
    return api.client.post(path, json={"email": email}, environ_base={"REMOTE_ADDR": ip})


def owed(app: Any, kind: str) -> int:
    with app.extensions["kindred"].db.session_factory() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.kind == kind)) or 0


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/api/v1/auth/email-link", "sign_in"), ("/api/v1/auth/password-reset", "password_reset")],
)
def test_mailed_links_are_limited_per_address_from_any_ip(app, api, path, kind):
    api.signup("Sam", email="sam@example.org")
    statuses = [ask(api, path, "sam@example.org", ip=f"10.9.0.{n}").status_code for n in range(6)]
    assert statuses[:3] == [202, 202, 202]  # the default: 3 in 15 minutes for one address
    assert set(statuses[3:]) == {429}
    assert owed(app, kind) == 3
    refused = ask(api, path, "sam@example.org", ip="10.9.9.9")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "this email address" in refused.get_json()["message"]


def test_mailed_links_are_limited_per_ip_across_addresses(app, api):
    statuses = [
        ask(api, "/api/v1/auth/email-link", f"someone{n}@example.org", ip="203.0.113.9").status_code
        for n in range(22)
    ]
    assert statuses[:20] == [202] * 20  # the default: 20 an hour from one IP
    assert statuses[20:] == [429, 429]
    # the page form spends the same budget
    page = api.client.post(
        "/account/sign-in-link",
        data={"email": "x@example.org"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert page.status_code == 429


def test_the_verify_link_is_sent_again_at_most_three_times_in_15_minutes(app, api):
    sam = api.signup("Sam", verified=False, email="sam@example.org")
    statuses = [api.call("POST", "/api/v1/me/verify-email", sam).status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    assert owed(app, "verify") == 4  # the sign-up's and three more
