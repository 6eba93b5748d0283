"""The pages people see."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def home() -> str:
    """The landing page."""
    return render_template("home.html")
