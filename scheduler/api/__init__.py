"""The JSON API under /api/v1, described by OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

from flask import Flask

from scheduler.api.errors import KindredApi, register_error_handlers


def init_api(app: Flask) -> KindredApi:
    """Bind the API, its blueprints and error handlers to the app."""
    from scheduler.api import (
        accounts,
        gatherings,
        groups,
        health,
        interests,
        mail_status,
        polls,
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
    for module in (
        accounts,
        groups,
        gatherings,
        polls,
        interests,
        recommendations,
        mail_status,
    ):
        api.register_blueprint(module.blp)
    app.register_blueprint(health.bp)
    register_error_handlers(app)
    return api
