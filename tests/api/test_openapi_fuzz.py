"""A bounded schemathesis run over the whole OpenAPI document: no 5xx, answers match it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def openapi_schema(app):
    """The app's own OpenAPI document, called in-process (WSGI)."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def bearer(api):
    """A real user's token so authenticated operations get past 401."""
    user = api.signup(email="fuzzer@example.org")
    return {"Authorization": f"Bearer {user['token']}"}


schema = schemathesis.pytest.from_fixture("openapi_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_never_fails_and_matches_its_schema(case, bearer):
    case.call_and_validate(headers=bearer, checks=CHECKS)


# The payloads that once made 5xx (issue 16), sent to every field of every operation the
# OpenAPI document lists, each in its own request: a 4xx naming the field, never a 5xx.
FAR_FUTURE = '"9999-12-31T23:00:00Z"'
LONE_SURROGATE = '"\\ud800"'
TOO_MANY_DIGITS = "9" * 5000
PAST_ANY_COLUMN = str(2**63)  # no PostgreSQL integer holds it
DEEP = "[" * 100_000 + "]" * 100_000
PLACEHOLDER = "__hostile__"


def _resolve(doc, schema):
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _leaves(doc, schema, prefix=""):
    """(dotted field, its schema) for every scalar field of a body; list items as `.0`."""
    schema = _resolve(doc, schema)
    if schema.get("type") == "array":
        yield from _leaves(doc, schema["items"], f"{prefix}.0")
    elif "properties" in schema:
        for name, child in schema["properties"].items():
            yield from _leaves(doc, child, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix, schema


def _hostile_values(schema):
    if schema.get("type") == "string":
        yield LONE_SURROGATE
        if schema.get("format") == "date-time":
            yield FAR_FUTURE
    elif schema.get("type") == "integer":
        yield TOO_MANY_DIGITS
        yield PAST_ANY_COLUMN


def _body(field, value):
    """JSON text holding `value` (raw JSON) at the dotted `field`."""
    shape = PLACEHOLDER
    for part in reversed(field.split(".")):
        shape = [shape] if part == "0" else {part: shape}
    return json.dumps(shape).replace(f'"{PLACEHOLDER}"', value)


def _query_cases(parameters):
    """(parameter, request) with a far-future date or a 5000-digit number in the query."""
    for parameter in parameters:
        name, schema = parameter["name"], parameter["schema"]
        if parameter["in"] != "query":
            continue
        if schema.get("format") == "date-time":
            yield name, {"query_string": {name: json.loads(FAR_FUTURE)}}
        elif schema.get("type") == "integer":
            yield name, {"query_string": {name: TOO_MANY_DIGITS}}


def _named(errors, field):
    """The error names the field, or the top-level field that holds it."""
    return any(field == key or field.startswith(f"{key}.") for key in errors)


@pytest.fixture
def hostile_paths(api, bearer):
    """Every API path with its parameters filled with things the caller may change."""
    headers = {"headers": bearer}
    group = api.client.post(
        "/api/v1/groups", json={"name": "Fuzzers", "interests": ["fuzzing"]}, **headers
    ).get_json()
    start = datetime.now(UTC) + timedelta(days=3)
    gathering = api.client.post(
        "/api/v1/gatherings",
        json={
            "title": "Fuzz",
            "timezone": "UTC",
            "duration_minutes": 60,
            "group_id": group["id"],
            "poll": {
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(days=1)).isoformat(),
            },
        },
        **headers,
    ).get_json()
    values = {"gathering_id": gathering["id"], "group_id": group["id"]}
    return lambda path: re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), 1)), path)


def test_hostile_payloads_in_every_field_are_4xx_naming_it(client, bearer, hostile_paths):
    doc = client.get("/api/v1/openapi.json").get_json()
    tried = 0
    for template, operations in doc["paths"].items():
        path = hostile_paths(template)
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            cases = []
            if body is not None:
                cases.append(("_schema", {"data": DEEP}))
                for field, schema in _leaves(doc, body["schema"]):
                    cases += [(field, {"data": _body(field, v)}) for v in _hostile_values(schema)]
            cases += _query_cases(operation.get("parameters", []))
            for field, request in cases:
                response = client.open(
                    path,
                    method=method.upper(),
                    headers=bearer,
                    content_type="application/json",
                    **request,
                )
                where = f"{method.upper()} {path} {field}"
                assert 400 <= response.status_code < 500, where
                errors = response.get_json().get("errors", {})
                assert _named(errors, field), (where, response.get_json())
                tried += 1
    assert tried > 50  # every operation with a body or a date or number in its query
