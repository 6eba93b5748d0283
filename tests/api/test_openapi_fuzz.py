"""A bounded schemathesis run over the whole OpenAPI document: no 5xx, answers match it."""

from __future__ import annotations

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
