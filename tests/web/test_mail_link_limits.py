"""Rate limits on the links in mail: RSVP and unsubscribe links, per IP, opened or answered.

The signed token is these links' only credential, so nobody can use them without a mail;
the budget bounds what one network can make the site do with them (page renders, answers,
attempts at tokens).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from scheduler.config import Config
from scheduler.services.gatherings.rsvp_links import rsvp_link
from scheduler.services.mail.unsubscribe import unsubscribe_url
from scheduler.services.tribe.nudges import digest_unsubscribe_token
from tests.api.test_rsvps import create

FIRST, SECOND = "203.0.113.7", "198.51.100.9"
BUDGETS = {
    "ratelimit_rsvp_links_per_ip": "3 per minute",
    "ratelimit_unsubscribe_links_per_ip": "3 per minute",
}


@pytest.fixture
def config(config: Config) -> Config:
    """The suite's test config with the limits on and small link budgets."""
    return replace(config, ratelimit_enabled=True, **BUDGETS)


def opened(client, method: str, path: str, ip: str) -> Any:
    return client.open(path, method=method, environ_base={"REMOTE_ADDR": ip})


def assert_refusal_page(response: Any, words: str) -> None:
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert words in response.text
    assert "Try again in" in response.text
    assert int(response.headers["Retry-After"]) >= 1


def test_rsvp_links_opened_and_answered_share_a_budget_per_ip(api, config):
    org, guest = api.signup("Org"), api.signup("Gita")
    gathering = create(api, org)
    link = rsvp_link(config, gathering["id"], guest["id"], "yes").removeprefix(config.base_url)
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")

    statuses = [
        opened(api.client, "GET", link, FIRST).status_code,
        opened(api.client, "POST", link, FIRST).status_code,
        opened(api.client, "GET", tampered, FIRST).status_code,  # a guess spends too
    ]
    assert statuses[:2] == [200, 200]
    assert statuses[2] >= 400
    assert_refusal_page(opened(api.client, "GET", link, FIRST), "Too many RSVP links")
    assert_refusal_page(opened(api.client, "POST", link, FIRST), "Too many RSVP links")
    # another network is not held back, nor are other pages from the first one
    assert opened(api.client, "GET", link, SECOND).status_code == 200
    assert opened(api.client, "GET", "/", FIRST).status_code == 200


def test_unsubscribe_links_pages_and_one_click_and_the_digest_link_share_a_budget(api, config):
    org = api.signup("Org")
    gathering = create(api, org)
    page = unsubscribe_url(config, org["id"], gathering["id"]).removeprefix(config.base_url)
    digest = f"/api/v1/unsubscribe/digest/{digest_unsubscribe_token(config.secret_key, org['id'])}"

    assert opened(api.client, "GET", page, FIRST).status_code == 200
    one_click = api.client.post(
        page, data={"List-Unsubscribe": "One-Click"}, environ_base={"REMOTE_ADDR": FIRST}
    )
    assert one_click.status_code == 200
    assert opened(api.client, "POST", digest, FIRST).status_code == 200

    assert_refusal_page(opened(api.client, "GET", page, FIRST), "Too many unsubscribe links")
    refused = opened(api.client, "POST", digest, FIRST)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "too_many_requests"
    assert "Too many unsubscribe links" in refused.get_json()["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert opened(api.client, "GET", page, SECOND).status_code == 200


def test_the_link_budgets_are_settings_with_defaults(tmp_path):
    defaults = Config.from_env(env={}, instance_path=tmp_path, database_url="postgresql://x/y")
    assert defaults.ratelimit_rsvp_links_per_ip == "60 per minute; 600 per hour"
    assert defaults.ratelimit_unsubscribe_links_per_ip == "60 per minute; 600 per hour"
    chosen = Config.from_env(
        env={"RATELIMIT_RSVP_LINKS_PER_IP": "5 per minute"},
        instance_path=tmp_path,
        database_url="postgresql://x/y",
    )
    assert chosen.ratelimit_rsvp_links_per_ip == "5 per minute"
