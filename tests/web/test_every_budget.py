"""Every budget in the rate-limit table refuses at each endpoint it names, API and pages alike.

A budget names its endpoints by Flask endpoint name, so one renamed view would leave its
budget unspent without a word; here each (budget, endpoint, method) gets one request through
and the next refused with that budget's own message.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from scheduler.config import Config
from scheduler.web.rate_limits import RULES, RateRule, email_address
from tests.web.test_pages import csrf, sign_up

# sorted: xdist needs every process to collect the same order (sets iterate by hash)
NAMED = [(rule, e) for rule in RULES if rule.endpoints for e in sorted(rule.endpoints)]
TRIED_METHODS = ("GET", "POST")


@pytest.fixture
def budget(request) -> RateRule:
    return request.param


@pytest.fixture
def config(config: Config, budget: RateRule) -> Config:
    """Limits on; every budget roomy but the one under test, which allows one request."""
    roomy = {rule.setting: "1000 per minute" for rule in RULES}
    return replace(config, ratelimit_enabled=True, **{**roomy, budget.setting: "1 per minute"})


def concrete_path(rule: str) -> str:
    """A URL for a route: 1 for every number, the first choice of an `any`, "x" otherwise."""

    def one(match: re.Match[str]) -> str:
        converter = match.group(1) or ""
        if converter == "int":
            return "1"
        if converter.startswith("any("):
            return converter[4:].split(",")[0].strip()
        return "x"

    return re.sub(r"<(?:([^:<>]+):)?[^<>]+>", one, rule)


@pytest.mark.parametrize(
    ("budget", "endpoint"),
    NAMED,
    indirect=["budget"],
    ids=[f"{rule.scope}-{endpoint}" for rule, endpoint in NAMED],
)
def test_the_budget_refuses_the_second_request_at_its_endpoint(app, api, budget, endpoint):
    routes = list(app.url_map.iter_rules(endpoint=endpoint))
    assert routes, f"{budget.scope} names {endpoint}, which no route has"
    (limiter,) = app.extensions["limiter"]
    client = api.client
    bearer = api.signup("Api person")["headers"]
    limiter.reset()  # the budget under test may be sign-up's
    sign_up(client, "Page person", "page.person@example.org")
    token = csrf(client.get("/profile").text)
    tried = 0
    for route in routes:
        path = concrete_path(route.rule)
        for method in sorted(set(TRIED_METHODS) & budget.methods & (route.methods or set())):
            limiter.reset()
            answers = []
            for attempt in range(2):
                # a budget by address sees one address twice; any other sees two addresses
                email = "same@example.org" if budget.key is email_address else f"{attempt}@x.org"
                answers.append(request_as(client, method, path, bearer, token, email))
            first, second = answers
            assert first.status_code != 429, (method, path)
            assert second.status_code == 429, (method, path, second.status_code)
            assert budget.refusal in second.get_data(as_text=True), (method, path)
            tried += 1
    assert tried, f"{budget.scope} names {endpoint} but none of its methods"


def request_as(client, method: str, path: str, bearer: dict, token: str, email: str) -> Any:
    """The API with a bearer token and a JSON body; pages with the session and a form."""
    if path.startswith("/api/"):
        return client.open(path, method=method, headers=bearer, json={"email": email})
    data = {"csrf_token": token, "email": email} if method == "POST" else None
    return client.open(path, method=method, data=data)
