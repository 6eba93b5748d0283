"""Server-rendered HTML pages."""

from __future__ import annotations

from flask import Flask


def init_web(app: Flask) -> None:
    """Register the page blueprints."""
    from scheduler.web import pages

    app.register_blueprint(pages.bp)
