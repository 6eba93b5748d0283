"""Kindred: scheduling for interest-based gatherings."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from scheduler.config import Config, configure_logging
from scheduler.extensions import Services


def create_app(config: Config | None = None) -> Flask:
    """Build the Flask app: config → extensions → blueprints → error handlers."""
    config = config or Config.from_env()
    app = Flask(__name__, instance_path=str(config.instance_path))
    # ids in URLs are database integers: anything out of range is simply "not found"
    app.url_map.converters["int"] = DatabaseIdConverter
    # Flask's own settings come from our one config object
    app.config.update(
        SECRET_KEY=config.secret_key,
        TESTING=config.testing,
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.base_url.startswith("https://"),
        JSON_SORT_KEYS=False,
    )
    configure_logging()

    # one Services object per process: database engine, Redis, queues
    services = Services(config)
    app.extensions["kindred"] = services
    # mail and calendars hear about committed domain events
    from scheduler.services import reactions

    reactions.wire()

    @app.teardown_appcontext
    def _end_session(_exc: BaseException | None) -> None:
        services.db.remove()

    # the JSON API (with OpenAPI) and the HTML pages
    from scheduler.api import init_api
    from scheduler.web import init_web
    from scheduler.web.rate_limits import init_rate_limits, limits_request

    init_api(app, limits_request=limits_request)
    init_web(app)
    # limits per address, IP and account, declared in one table (scheduler/web/rate_limits.py)
    rate_limits = init_rate_limits(app, services)

    # polls of personal ICS feeds are answered from Redis before Flask when they can be
    from scheduler.web.feed_fastpath import FeedFastPath

    app.wsgi_app = FeedFastPath(app.wsgi_app, services)  # type: ignore[method-assign]
    # plain API RSVPs: the attendance function's statement, without Flask around it
    from scheduler.web.rsvp_fastpath import RsvpFastPath

    app.wsgi_app = RsvpFastPath(app.wsgi_app, services, rate_limits)  # type: ignore[method-assign]
    # outermost, so the fast paths' answers carry the security headers too
    from scheduler.web.security_headers import SecurityHeaders

    app.wsgi_app = SecurityHeaders(app.wsgi_app, config)  # type: ignore[method-assign]

    from scheduler.cli import register_cli

    register_cli(app)
    return app


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` limited to 1..2**31-1, the range of our integer id columns."""

    def __init__(self, url_map: Map, min: int = 1, max: int = 2**31 - 1) -> None:
        super().__init__(url_map, min=min, max=max)
