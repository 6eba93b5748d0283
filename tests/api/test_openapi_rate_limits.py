"""The OpenAPI document lists a 429 (the one error body and Retry-After) on exactly the
operations a rate limit may refuse."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from scheduler.config import Config
from scheduler.web.rate_limits import limits_request

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def config_changes() -> dict[str, Any]:
    """Settings a test changes (parametrize this fixture by name)."""
    return {}


@pytest.fixture
def config(config: Config, config_changes: dict[str, Any]) -> Config:
    """The suite's test config with the rate limits on (the document is the same either way)."""
    return replace(config, **{"ratelimit_enabled": True, **config_changes})


def openapi_path(rule: str) -> str:
    """`/api/v1/gatherings/<int:gathering_id>` as OpenAPI writes it."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def resolved(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        _, _, section, name = item["$ref"].split("/")
        item = spec["components"][section][name]
    return item


def test_every_rate_limited_operation_documents_its_429_and_no_other_does(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    limited, unlimited = [], []
    for rule in app.url_map.iter_rules():
        path = openapi_path(rule.rule)
        if path not in spec["paths"]:
            continue  # not part of the API (pages, feeds, the OpenAPI document itself)
        for method in sorted(set(METHODS) & (rule.methods or set())):
            responses = spec["paths"][path][method.lower()]["responses"]
            if limits_request(rule.endpoint, method):
                limited.append(f"{method} {path}")
                refusal = resolved(spec, responses["429"])
                schema = refusal["content"]["application/json"]["schema"]
                assert resolved(spec, schema) == resolved(
                    spec, {"$ref": "#/components/schemas/Error"}
                )
                retry_after = resolved(spec, refusal["headers"]["Retry-After"])
                assert retry_after["schema"]["type"] == "integer"
            else:
                unlimited.append(f"{method} {path}")
                assert "429" not in responses, f"{method} {path}"
    assert {
        "POST /api/v1/tokens",
        "POST /api/v1/users",
        "POST /api/v1/gatherings",
        "PUT /api/v1/gatherings/{gathering_id}/rsvp",
        "POST /api/v1/unsubscribe/digest/{token}",
    } <= set(limited)
    assert {"GET /api/v1/me", "GET /api/v1/gatherings/{gathering_id}/slots"} <= set(unlimited)


@pytest.mark.parametrize("config_changes", [{"ratelimit_sign_in_per_ip": "1 per minute"}])
def test_a_real_refusal_is_what_the_document_describes(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    body = {"email": "nobody@example.org", "password": "not the password"}
    assert client.post("/api/v1/tokens", json=body).status_code == 401
    refused = client.post("/api/v1/tokens", json=body)
    assert refused.status_code == 429
    refusal = resolved(spec, spec["paths"]["/api/v1/tokens"]["post"]["responses"]["429"])
    schema = resolved(spec, refusal["content"]["application/json"]["schema"])
    sent = refused.get_json()
    assert set(sent) <= set(schema["properties"])  # additionalProperties: false
    types = {"integer": int, "string": str, "object": dict}
    for name, value in sent.items():
        assert isinstance(value, types[schema["properties"][name]["type"]]), name
    retry_after = resolved(spec, refusal["headers"]["Retry-After"])["schema"]
    assert retry_after["type"] == "integer"
    assert int(refused.headers["Retry-After"]) >= retry_after["minimum"]
