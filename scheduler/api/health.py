"""GET /healthz: is the database and Redis reachable?"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from scheduler.extensions import current_services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """200 {db: ok, redis: ok}, or 503 naming what is down."""
    services = current_services()
    report: dict[str, str] = {}
    try:
        with services.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        report["db"] = "ok"
    except Exception as exc:
        report["db"] = f"down: {type(exc).__name__}"
    try:
        services.redis.ping()
        report["redis"] = "ok"
    except Exception as exc:
        report["redis"] = f"down: {type(exc).__name__}"
    healthy = all(value == "ok" for value in report.values())
    response = jsonify(report)
    response.status_code = 200 if healthy else 503
    return response
