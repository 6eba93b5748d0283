"""Server-rendered HTML pages."""

from __future__ import annotations

from pathlib import Path

from flask import Flask


def init_web(app: Flask) -> None:
    """Register the page blueprints."""
    from scheduler.web import account_pages, gathering_pages, group_pages, pages, poll_pages, rsvp
    from scheduler.web.auth import csrf_token, page_user
    from scheduler.web.display import register_filters
    from scheduler.web.language import init_language

    # the app's /static route serves the pages' stylesheet and scripts
    app.static_folder = str(Path(__file__).resolve().parent / "static")
    init_language(app)
    register_filters(app)
    # every template can show who is signed in and carry the CSRF token in its forms
    app.jinja_env.globals.update(csrf_token=csrf_token, current_user=page_user)
    for blueprint in (
        pages.bp,
        account_pages.bp,
        group_pages.bp,
        gathering_pages.bp,
        poll_pages.bp,
    ):
        app.register_blueprint(blueprint)
    app.register_blueprint(rsvp.bp)
    from scheduler.web import checkin_pages

    app.register_blueprint(checkin_pages.bp)
    from scheduler.web import approval_links

    app.register_blueprint(approval_links.bp)
    from scheduler.web import unsubscribe

    app.register_blueprint(unsubscribe.bp)
    from scheduler.web import feeds

    app.register_blueprint(feeds.bp)
    from scheduler.web import reach_pages

    app.register_blueprint(reach_pages.bp)
    from scheduler.web import calendar_pages, inbound

    app.register_blueprint(inbound.bp)
    app.register_blueprint(calendar_pages.bp)
