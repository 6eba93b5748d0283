"""Busy times from people's own calendars: a served ICS with a weekly rule in another zone,
an EXDATE, an override and all-day events → GET .../busy; fetching refuses private
addresses unless allowed, and cuts off huge or endless answers."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from scheduler.models import UserCalendar, utcnow
from scheduler.services.calendars import busy

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Busy test//EN\r
BEGIN:VTIMEZONE\r
TZID:America/New_York\r
BEGIN:STANDARD\r
DTSTART:19701101T020000\r
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r
TZOFFSETFROM:-0400\r
TZOFFSETTO:-0500\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700308T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r
TZOFFSETFROM:-0500\r
TZOFFSETTO:-0400\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:standup@example.org\r
SUMMARY:Therapy (private)\r
DTSTART;TZID=America/New_York:20270301T090000\r
DTEND;TZID=America/New_York:20270301T100000\r
RRULE:FREQ=WEEKLY;COUNT=4\r
EXDATE;TZID=America/New_York:20270308T090000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:standup@example.org\r
RECURRENCE-ID;TZID=America/New_York:20270315T090000\r
DTSTART;TZID=America/New_York:20270315T140000\r
DTEND;TZID=America/New_York:20270315T150000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:offsite@example.org\r
DTSTART;VALUE=DATE:20270303\r
DTEND;VALUE=DATE:20270304\r
TRANSP:OPAQUE\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:birthday@example.org\r
DTSTART;VALUE=DATE:20270305\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:free@example.org\r
DTSTART:20270302T120000Z\r
DTEND:20270302T130000Z\r
TRANSP:TRANSPARENT\r
END:VEVENT\r
END:VCALENDAR\r
"""

# Berlin person: the all-day event is their 3 March, midnight to midnight in Berlin
EXPECTED = [
    {"start": "2027-03-01T14:00:00Z", "end": "2027-03-01T15:00:00Z"},  # 9:00 EST
    {"start": "2027-03-02T23:00:00Z", "end": "2027-03-03T23:00:00Z"},  # all day, OPAQUE
    {"start": "2027-03-15T18:00:00Z", "end": "2027-03-15T19:00:00Z"},  # override, EDT
    {"start": "2027-03-22T13:00:00Z", "end": "2027-03-22T14:00:00Z"},  # 9:00 EDT
]


class Served:
    """A local web server; each path answers as its handler says."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                outer.requests.append({"path": self.path, **dict(self.headers)})
                if self.path == "/cal.ics":
                    if self.headers.get("If-None-Match") == '"v1"':
                        self.send_response(304)
                        self.end_headers()
                        return
                    body = ICS.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/calendar")
                    self.send_header("ETag", '"v1"')
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path == "/huge.ics":  # 50 MB, not declared
                    self.send_response(200)
                    self.end_headers()
                    chunk = b"X" * 1_000_000
                    try:
                        for _ in range(50):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                elif self.path == "/endless.ics":  # a byte now and then, forever
                    self.send_response(200)
                    self.end_headers()
                    try:
                        while True:
                            self.wfile.write(b"B")
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:
                        pass
                elif self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                    self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served():
    server = Served()
    yield server
    server.close()


@pytest.fixture
def config(config):
    return dataclasses.replace(
        config,
        calendar_fetch_allow_private=True,
        calendar_fetch_max_bytes=2_000_000,
        calendar_fetch_timeout_seconds=2,
    )


def poll(api, organizer, start, days):
    response = api.call(
        "POST",
        "/api/v1/gatherings",
        organizer,
        json={
            "title": "When?",
            "timezone": "Europe/Berlin",
            "duration_minutes": 60,
            "poll": {
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(days=days)).isoformat(),
            },
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def refresh_all(app, config, now):
    session = app.extensions["kindred"].db.session_factory()
    try:
        ids = [c.id for c in session.query(UserCalendar)]
        results = [busy.refresh(session, i, config, now=now) for i in ids]
        session.commit()
        return results
    finally:
        session.close()


def test_busy_times_of_a_served_calendar_in_another_zone(api, app, config, served):
    olga = api.signup("Olga")
    ann = api.signup("Ann", timezone="Europe/Berlin")
    added = api.call("POST", "/api/v1/me/calendars", ann, json={"url": served.url + "/cal.ics"})
    assert added.status_code == 201
    assert added.get_json()["status"] == "pending" and added.get_json()["url"].endswith("/cal.ics")
    g = poll(api, olga, datetime(2027, 2, 28, tzinfo=UTC), 30)

    assert refresh_all(app, config, datetime(2027, 2, 20, tzinfo=UTC)) == ["ok"]
    answer = api.call("GET", f"/api/v1/gatherings/{g['id']}/busy", ann)

    assert answer.status_code == 200
    assert answer.get_json() == {"busy": EXPECTED}
    # only when, never what
    session = app.extensions["kindred"].db.session_factory()
    stored = str(session.query(UserCalendar).one().busy)
    session.close()
    assert "Therapy" not in stored
    # the next fetch is conditional: 304, and the busy times stay
    assert refresh_all(app, config, datetime(2027, 2, 20, 1, tzinfo=UTC)) == ["ok"]
    assert served.requests[-1].get("If-None-Match") == '"v1"'
    assert api.call("GET", f"/api/v1/gatherings/{g['id']}/busy", ann).get_json() == {
        "busy": EXPECTED
    }
    # someone else's busy times are their own: Olga has none
    assert api.call("GET", f"/api/v1/gatherings/{g['id']}/busy", olga).get_json() == {"busy": []}
    listed = api.call("GET", "/api/v1/me/calendars", ann).get_json()
    assert [c["status"] for c in listed] == ["ok"]
    assert api.call("DELETE", f"/api/v1/me/calendars/{listed[0]['id']}", olga).status_code == 404
    assert api.call("DELETE", f"/api/v1/me/calendars/{listed[0]['id']}", ann).status_code == 204
    assert api.call("GET", f"/api/v1/gatherings/{g['id']}/busy", ann).get_json() == {"busy": []}


def test_private_addresses_are_refused_without_the_flag(api, app, config, served):
    ann = api.signup("Ann")
    strict = dataclasses.replace(config, calendar_fetch_allow_private=False)
    for url in (served.url + "/cal.ics", "http://localhost:9/x.ics", "http://169.254.169.254/"):
        api.call("POST", "/api/v1/me/calendars", ann, json={"url": url})
    results = refresh_all(app, strict, utcnow())
    assert results == ["failed"] * 3
    listed = api.call("GET", "/api/v1/me/calendars", ann).get_json()
    assert all("private, loopback or link-local" in c["error"] for c in listed)
    assert served.requests == []  # never reached
    # the reason is kept as a message with its values: each reader gets it in their language
    api.call("PATCH", "/api/v1/me", ann, json={"locale": "de"})
    listed = api.call("GET", "/api/v1/me/calendars", ann).get_json()
    assert listed[1]["error"].startswith(
        "localhost ist eine private, Loopback- oder Link-Local-Adresse ("
    ), listed[1]["error"]


def test_a_redirect_to_a_private_address_is_refused(api, app, config, served, monkeypatch):
    # the first hop is allowed (as a public host would be), the redirect's target is checked
    from scheduler.services.calendars import safe_fetch

    real = safe_fetch.resolve
    calls = []

    def first_public(host, port, *, allow_private):
        calls.append(host)
        return real(host, port, allow_private=len(calls) == 1)

    monkeypatch.setattr(safe_fetch, "resolve", first_public)
    with pytest.raises(safe_fetch.FetchRefused, match="private"):
        safe_fetch.fetch(
            served.url + "/redirect", etag=None, max_bytes=1000, timeout=2, allow_private=False
        )
    assert len(calls) == 2


@pytest.mark.parametrize("path", ["/huge.ics", "/endless.ics"])
def test_huge_and_endless_answers_are_cut_off(api, app, config, served, path):
    ann = api.signup("Ann")
    api.call("POST", "/api/v1/me/calendars", ann, json={"url": served.url + path})
    began = time.monotonic()
    assert refresh_all(app, config, utcnow()) == ["failed"]
    assert time.monotonic() - began < 5
    (listed,) = api.call("GET", "/api/v1/me/calendars", ann).get_json()
    assert "larger than" in listed["error"] or "within" in listed["error"]


def test_bad_calendar_urls_are_422_naming_url(api):
    ann = api.signup("Ann")
    for url in ("file:///etc/passwd", "gopher://x/", "not a url", "", "http://u:p@example.org/"):
        answer = api.call("POST", "/api/v1/me/calendars", ann, json={"url": url})
        assert answer.status_code == 422, url
        assert "url" in answer.get_json()["errors"]
    ok = api.call("POST", "/api/v1/me/calendars", ann, json={"url": "webcal://example.org/c.ics"})
    assert ok.status_code == 201 and ok.get_json()["url"] == "https://example.org/c.ics"
    again = api.call(
        "POST", "/api/v1/me/calendars", ann, json={"url": "webcal://example.org/c.ics"}
    )
    assert again.status_code == 409


def test_ones_calendars_are_in_the_export_and_go_with_the_account(api, session):
    # an organizer's account stays as an anonymous placeholder: its calendar URLs (often
    # secret addresses) must go all the same
    ann = api.signup("Ann", password="correct horse battery")
    made = api.call(
        "POST", "/api/v1/gatherings", ann,
        json={"title": "Walk", "timezone": "UTC", "duration_minutes": 60,
              "starts_at": "2027-03-01T18:00:00+00:00"},
    )  # fmt: skip
    assert made.status_code == 201
    secret = "https://calendar.example.org/private-abc123/basic.ics"
    assert api.call("POST", "/api/v1/me/calendars", ann, json={"url": secret}).status_code == 201
    export = api.call("GET", "/api/v1/me/export", ann).get_json()
    assert [c["url"] for c in export["calendars"]] == [secret]
    erased = api.call("DELETE", "/api/v1/me", ann, json={"password": "correct horse battery"})
    assert erased.status_code == 204
    assert session.scalars(select(UserCalendar.url)).all() == []
