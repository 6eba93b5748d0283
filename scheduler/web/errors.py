"""Error pages for people (the API answers JSON instead)."""

from __future__ import annotations

from flask import render_template
from werkzeug.http import HTTP_STATUS_CODES


def render_error_page(code: int, message: str) -> tuple[str, int]:
    """A friendly page for an error status."""
    title = HTTP_STATUS_CODES.get(code, "Error")
    return render_template("error.html", code=code, title=title, message=message), code
