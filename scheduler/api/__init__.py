"""The JSON API under /api/v1, described by OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from scheduler.api.errors import KindredApi, register_error_handlers
from scheduler.api.openapi import document_rate_limits


def init_api(
    app: Flask, *, limits_request: Callable[[str | None, str], bool] | None = None
) -> KindredApi:
    """Bind the API, its blueprints and error handlers to the app; `limits_request(endpoint,
    method)` says which operations a rate limit may refuse (their 429 is documented)."""
    from scheduler.schemas import messages

    messages.install()  # marshmallow's messages in the caller's language
    from scheduler.api import (
        accounts,
        calendars,
        checkins,
        gatherings,
        groups,
        health,
        interests,
        mail_status,
        polls,
        reach,
        recommendations,
    )

    app.config.update(
        API_TITLE="Kindred",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    # one Api per app: the OpenAPI spec is built per application
    api = KindredApi()
    api.init_app(
        app,
        spec_kwargs={
            "info": {"description": "Scheduling for interest-based gatherings."},
            "servers": [{"url": "/"}],
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "POST /api/v1/tokens"}
    )
    if limits_request is not None:
        document_rate_limits(api, limits_request)
    for module in (
        accounts,
        groups,
        gatherings,
        polls,
        reach,
        interests,
        recommendations,
        checkins,
        mail_status,
        calendars,
    ):
        api.register_blueprint(module.blp)
    app.register_blueprint(health.bp)
    register_error_handlers(app)
    return api
