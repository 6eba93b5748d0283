"""Security headers on every kind of response: pages, API JSON, ICS, and both fast paths."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from scheduler import create_app
from scheduler.config import Config

TEMPLATES = Path(__file__).resolve().parents[2] / "scheduler" / "web" / "templates"


def assert_secured(response, *, hsts: bool = False) -> None:
    """The response carries every security header, once, with a CSP that forbids inline script."""
    headers = response.headers
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"):
        assert len(headers.getlist(name)) == 1, name
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert "script-src" not in policy  # scripts fall back to default-src: our origin only
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    if hsts:
        assert headers["Strict-Transport-Security"] == "max-age=31536000"
    else:
        assert "Strict-Transport-Security" not in headers


def future(days: int = 10) -> str:
    start = datetime.now(UTC) + timedelta(days=days)
    return start.replace(minute=0, second=0, microsecond=0).isoformat()


def create_gathering(api, organizer) -> int:
    body = {
        "title": "Soldering evening",
        "timezone": "Europe/Berlin",
        "starts_at": future(),
        "duration_minutes": 90,
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_pages_carry_the_headers(client):
    for path in ("/", "/login", "/signup", "/groups", "/no-such-page"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert_secured(response)


def test_api_answers_and_errors_carry_the_headers(api):
    me = api.signup("Me")
    mine = api.call("GET", "/api/v1/me", me)
    assert mine.status_code == 200
    assert_secured(mine)
    refused = api.call("GET", "/api/v1/me")
    assert refused.status_code == 401
    assert_secured(refused)


def test_ics_files_through_flask_carry_the_headers(api, client):
    me = api.signup("Me")
    gathering_id = create_gathering(api, me)
    response = client.get(f"/gatherings/{gathering_id}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    assert_secured(response)


def test_the_feed_fast_path_carries_the_headers_on_200_and_304(api, app, client, monkeypatch):
    me = api.signup("Me")
    create_gathering(api, me)
    path = (
        api.call("GET", "/api/v1/me", me).get_json()["feed_url"].removeprefix("http://kindred.test")
    )
    first = client.get(path)  # Flask renders and remembers it; polls then stay in Redis
    assert first.status_code == 200
    assert_secured(first)

    def flask_must_not_answer(**_kwargs):
        raise AssertionError("the Flask view answered a poll the fast path should have")

    monkeypatch.setitem(app.view_functions, "feeds.personal_feed", flask_must_not_answer)
    cached = client.get(path)
    assert cached.status_code == 200
    assert cached.data == first.data
    assert_secured(cached)
    unchanged = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304
    assert_secured(unchanged)


def test_the_rsvp_fast_path_carries_the_headers(api, app, monkeypatch):
    gathering_id = create_gathering(api, api.signup("Organizer"))
    me = api.signup("Me")

    def flask_must_not_answer(*_args, **_kwargs):
        raise AssertionError("Flask answered an RSVP the fast path should have")

    monkeypatch.setitem(app.view_functions, "gatherings.GatheringRsvp", flask_must_not_answer)
    path = f"/api/v1/gatherings/{gathering_id}/rsvp"
    response = api.call("PUT", path, me, json={"response": "yes"})
    assert response.status_code == 200
    assert response.get_json()["response"] == "yes"
    assert_secured(response)


@pytest.fixture
def https_app(config: Config, app: Flask) -> Iterator[Flask]:
    """The app behind an https BASE_URL (on the `app` fixture's clean database and Redis)."""
    application = create_app(dataclasses.replace(config, base_url="https://kindred.example"))
    yield application
    application.extensions["kindred"].close()


def test_hsts_only_when_the_base_url_is_https(https_app, client):
    assert_secured(client.get("/login"))  # http: no HSTS
    secure = https_app.test_client()
    for path in ("/login", "/healthz", "/api/v1/me"):
        assert_secured(secure.get(path, base_url="https://kindred.example"), hsts=True)


def test_a_response_that_sets_one_of_the_headers_keeps_its_own(app, client):
    @app.get("/framed-on-purpose")
    def framed_on_purpose():
        return "ok", 200, {"X-Frame-Options": "SAMEORIGIN"}

    response = client.get("/framed-on-purpose")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# The policy forbids inline script and style: a template that used them would break in the
# browser. Mail templates are not served as pages and may style inline.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|<[^>]+\sstyle\s*=", re.IGNORECASE)
SCRIPT_URL = re.compile(r"javascript:", re.IGNORECASE)


@pytest.mark.parametrize(
    "template",
    sorted(
        p.relative_to(TEMPLATES).as_posix()
        for p in TEMPLATES.rglob("*.html")
        if "mail" not in p.parts
    ),
)
def test_page_templates_have_no_inline_script_or_style(template):
    text = (TEMPLATES / template).read_text()
    for pattern in (INLINE_SCRIPT, INLINE_HANDLER, INLINE_STYLE, SCRIPT_URL):
        found = pattern.search(text)
        assert found is None, f"{template}: {found.group(0)!r} breaks under the CSP"
