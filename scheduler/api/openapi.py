"""What the OpenAPI document says beyond flask-smorest's own: the 429 of rate-limited calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apispec import BasePlugin
from flask_smorest import Api
from flask_smorest.utils import prepare_response

RATE_LIMITED = "RATE_LIMITED"


class RateLimitedResponses(BasePlugin):
    """Adds the 429 response to every operation a rate limit may refuse."""

    def __init__(self, limits_request: Callable[[str | None, str], bool]) -> None:
        self.limits_request = limits_request

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Called by apispec for each path flask-smorest registers (with its Flask rule)."""
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        for method, operation in operations.items():
            if self.limits_request(rule.endpoint, method.upper()):
                operation.setdefault("responses", {})["429"] = RATE_LIMITED


def document_rate_limits(api: Api, limits_request: Callable[[str | None, str], bool]) -> None:
    """Describe the 429 (the one error body, Retry-After) on the operations `limits_request`
    names; before the blueprints are registered."""
    response: dict[str, Any] = {
        "description": "Too many requests: a rate limit's budget is spent (README, Rate limits)",
        "schema": api.ERROR_SCHEMA,
        "headers": {
            "Retry-After": {
                "description": "Seconds until the budget's window ends",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
    prepare_response(response, api.spec, "application/json")
    api.spec.components.response(RATE_LIMITED, response, lazy=True)
    api.spec.plugins.append(RateLimitedResponses(limits_request))
