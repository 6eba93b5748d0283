"""Pages through the Flask client: no JavaScript, CSRF, errors next to their fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

PASSWORD = "correct horse battery"


def csrf(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def field_errors(html: str) -> dict[str, str]:
    """Errors shown next to fields: {field: message}."""
    return dict(re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]*)</p>', html))


def sign_up(
    client: FlaskClient,
    name: str,
    email: str,
    tz: str = "Europe/Berlin",
    headers: dict[str, str] | None = None,
) -> None:
    """Sign up through the page (which also signs in), from a browser sending `headers`."""
    token = csrf(client.get("/signup", headers=headers).text)
    response = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "name": name,
            "email": email,
            "password": PASSWORD,
            "timezone": tz,
            "interests": "chess, board games",
        },
        headers=headers,
    )
    assert response.status_code == 302, field_errors(response.text)


def local(dt: datetime, tz: str = "Europe/Berlin") -> str:
    """A datetime-local form value in `tz`."""
    return dt.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


def next_evening(days: int = 3) -> datetime:
    """18:00 Berlin time a few days from now."""
    day = datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(days=days)
    return day.replace(hour=18, minute=0, second=0, microsecond=0).astimezone(UTC)


def create_gathering(client: FlaskClient, **fields: Any) -> Any:
    """Post the new-gathering form."""
    token = csrf(client.get("/gatherings/new").text)
    data = {
        "csrf_token": token,
        "title": "Chess night",
        "timezone": "Europe/Berlin",
        "duration_minutes": "120",
        "mode": "fixed",
        "reminders": ["1440", "60"],
        **fields,
    }
    return client.post("/gatherings/new", data=data)


def create_evening_poll(client: FlaskClient, **fields: Any) -> str:
    """Post a "find a time" poll over four hours from the next evening; its page's path."""
    start = next_evening()
    response = create_gathering(
        client,
        mode="poll",
        window_start=local(start),
        window_end=local(start + timedelta(hours=4)),
        step_minutes="30",
        min_attendees="1",
        **fields,
    )
    return str(response.headers["Location"])


def test_sign_up_log_out_and_log_in_again(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    home = client.get("/")
    assert "Hello, Ann" in home.text
    assert client.post("/logout", data={"csrf_token": csrf(home.text)}).status_code == 302
    assert "Hello, Ann" not in client.get("/").text

    page = client.get("/login")
    wrong = client.post(
        "/login",
        data={"csrf_token": csrf(page.text), "email": "ann@example.org", "password": "nope"},
    )
    assert wrong.status_code == 422
    assert field_errors(wrong.text) == {"password": "Wrong email or password."}
    assert 'value="ann@example.org"' in wrong.text  # input kept
    right = client.post(
        "/login?next=/profile",
        data={"csrf_token": csrf(page.text), "email": "ann@example.org", "password": PASSWORD},
    )
    assert right.headers["Location"] == "/profile"


def test_log_in_never_redirects_to_another_site(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    client.post("/logout", data={"csrf_token": csrf(client.get("/").text)})
    token = csrf(client.get("/login").text)
    response = client.post(
        "/login?next=//evil.example/x",
        data={"csrf_token": token, "email": "ann@example.org", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/"


def test_sign_up_errors_are_shown_next_to_their_fields(client: FlaskClient) -> None:
    token = csrf(client.get("/signup").text)
    response = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "name": "Ann",
            "email": "not-an-email",
            "password": "short",
            "timezone": "Mars/Olympus",
        },
    )
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert set(errors) >= {"timezone"}
    assert 'value="Ann"' in response.text
    # fix the zone: the service then names the next culprit
    response = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "name": "Ann",
            "email": "not-an-email",
            "password": PASSWORD,
            "timezone": "UTC",
        },
    )
    assert field_errors(response.text) == {
        "email": "Not a valid email address: An email address must have an @-sign."
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/logout"),
        ("post", "/signup"),
        ("post", "/login"),
        ("post", "/profile"),
        ("post", "/groups/new"),
        ("post", "/gatherings/new"),
        ("post", "/g/1/rsvp"),
        ("post", "/g/1/availability"),
        ("post", "/g/1/schedule"),
    ],
)
def test_forms_without_the_csrf_token_are_rejected(
    client: FlaskClient, method: str, path: str
) -> None:
    sign_up(client, "Ann", "ann@example.org")
    response = client.open(path, method=method.upper(), data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert "expired" in response.text


def test_a_csrf_token_from_another_session_is_rejected(client: FlaskClient, app: Any) -> None:
    sign_up(client, "Ann", "ann@example.org")
    other = app.test_client()
    stolen = csrf(other.get("/signup").text)
    response = client.post("/profile", data={"csrf_token": stolen, "name": "Mallory"})
    assert response.status_code == 400
    assert "Hello, Ann" in client.get("/").text


def test_pages_for_signed_in_people_send_others_to_log_in(client: FlaskClient) -> None:
    for path in ("/profile", "/gatherings/new", "/groups/new"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


def test_profile_changes_time_zone_and_interests(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    page = client.get("/profile")
    assert "webcal://" in page.text
    response = client.post(
        "/profile",
        data={
            "csrf_token": csrf(page.text),
            "name": "Ann B",
            "timezone": "America/New_York",
            "interests": "Go, astronomy",
            "share_name": "1",
        },
    )
    assert response.status_code == 302
    page = client.get("/profile")
    assert '<option value="America/New_York" selected>' in page.text
    assert "astronomy, go" in page.text.lower()
    bad = client.post(
        "/profile",
        data={"csrf_token": csrf(page.text), "name": "", "timezone": "Nowhere/Land"},
    )
    assert bad.status_code == 422
    assert set(field_errors(bad.text)) == {"name", "timezone"}


def test_group_page_join_and_calendar_link(client: FlaskClient, app: Any) -> None:
    sign_up(client, "Ann", "ann@example.org")
    token = csrf(client.get("/groups/new").text)
    empty = client.post("/groups/new", data={"csrf_token": token, "name": "", "interests": ""})
    assert empty.status_code == 422
    assert "name" in field_errors(empty.text)
    created = client.post(
        "/groups/new",
        data={
            "csrf_token": token,
            "name": "Berlin Chess",
            "interests": "chess",
            "description": "Blitz",
        },
    )
    path = created.headers["Location"]
    page = client.get(path)
    assert "1 member" in page.text
    assert "webcal://kindred.test/groups/" in page.text
    assert "You're a member" in page.text

    bob = app.test_client()
    sign_up(bob, "Bob", "bob@example.org")
    page = bob.get(path)
    assert "Join this group" in page.text
    bob.post(f"{path}/join", data={"csrf_token": csrf(page.text)})
    assert "2 members" in bob.get(path).text
    assert "Berlin Chess" in bob.get("/groups?interest=chess").text
    assert "Berlin Chess" not in bob.get("/groups?interest=knitting").text


def test_new_gathering_errors_stay_next_to_fields_with_input_kept(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    response = create_gathering(
        client, title="", location="Café Rix", starts_at="tomorrow-ish", timezone="Europe/Berlin"
    )
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert set(errors) == {"title", "starts_at"}
    assert 'value="Café Rix"' in response.text

    past = create_gathering(client, starts_at=local(datetime.now(UTC) - timedelta(days=1)))
    assert field_errors(past.text) == {"starts_at": "A new gathering cannot start in the past."}

    start = next_evening()
    poll = create_gathering(
        client,
        mode="poll",
        window_start=local(start),
        window_end=local(start - timedelta(hours=1)),
        step_minutes="30",
        min_attendees="1",
    )
    assert field_errors(poll.text) == {
        "window_end": "The latest end must be after the earliest start."
    }
    assert '<input type="radio" name="mode" value="poll" data-mode checked>' in poll.text


def test_a_time_skipped_by_daylight_saving_is_named(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    year = datetime.now(UTC).year + 1
    # the last Sunday of March: 02:30 does not exist in Berlin
    day = max(d for d in range(25, 32) if datetime(year, 3, d).weekday() == 6)
    response = create_gathering(client, starts_at=f"{year}-03-{day:02d}T02:30")
    assert "does not exist in Europe/Berlin" in field_errors(response.text)["starts_at"]


def test_fixed_gathering_page_shows_both_zones_and_takes_rsvps(
    client: FlaskClient, app: Any
) -> None:
    sign_up(client, "Ann", "ann@example.org", tz="America/New_York")
    start = next_evening()
    response = create_gathering(client, starts_at=local(start), capacity="1", location="Café Rix")
    path = response.headers["Location"]
    page = client.get(path)
    assert "Add to calendar (.ics)" in page.text
    assert f"/gatherings/{path.rsplit('/', 1)[1]}.ics" in page.text
    assert "EDT" in page.text or "EST" in page.text  # my zone
    assert "Europe/Berlin" in page.text  # the gathering's zone too

    client.post(f"{path}/rsvp", data={"csrf_token": csrf(page.text), "response": "yes"})
    page = client.get(path)
    assert "You're going." in page.text
    assert "1 of 1 taken" in page.text

    bob = app.test_client()
    sign_up(bob, "Bob", "bob@example.org")
    page = bob.get(path)
    bob.post(f"{path}/rsvp", data={"csrf_token": csrf(page.text), "response": "yes"})
    page = bob.get(path)
    assert "number 1 on the waitlist" in page.text
    assert re.search(r"Ann</span> <span class=\"state going\">going", page.text)

    # Ann can't go after all: Bob gets her seat
    ann_page = client.get(path)
    client.post(f"{path}/rsvp", data={"csrf_token": csrf(ann_page.text), "response": "no"})
    assert "You're going." in bob.get(path).text


def test_rsvp_to_a_poll_is_refused_politely(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    path = create_evening_poll(client)
    page = client.get(path)
    response = client.post(f"{path}/rsvp", data={"csrf_token": csrf(page.text), "response": "yes"})
    assert response.status_code == 302
    assert "RSVPs open once it is scheduled" in client.get(path).text


def test_poll_without_javascript_paint_rank_and_schedule(client: FlaskClient, app: Any) -> None:
    sign_up(client, "Ann", "ann@example.org")
    start = next_evening()
    path = create_evening_poll(client, duration_minutes="60")
    page = client.get(path)
    assert page.status_code == 200
    # the no-JS fallback: one select per half hour, labelled for screen readers
    assert page.text.count('<select name="c') == 8
    assert re.search(r'aria-label="\w+day \d+ \w+, 18:00\u201318:30"', page.text)

    bob = app.test_client()
    sign_up(bob, "Bob", "bob@example.org")
    bob_page = bob.get(path)
    for who, page_text, cells in ((client, page.text, (0, 1, 2)), (bob, bob_page.text, (1, 2, 3))):
        data = {"csrf_token": csrf(page_text), **{f"c{i}": "yes" for i in cells}}
        saved = who.post(f"{path}/availability", data=data)
        assert saved.status_code == 302

    # the worker has not ranked it yet: the page says so, and the heatmap is already there
    page = client.get(path)
    assert "Updating the best times" in page.text
    assert 'data-names="Ann, Bob"' in page.text
    data = client.get(f"{path}/slots.json").get_json()
    assert data["status"] == "pending"
    assert [c["count"] for c in sorted(data["cells"], key=lambda c: c["i"])] == [
        1,
        2,
        2,
        1,
        0,
        0,
        0,
        0,
    ]

    from workers.slots import recompute_slots  # the job the worker runs

    with app.app_context():
        gathering_id = int(path.rsplit("/", 1)[1])
        _run_job_in(app, recompute_slots, gathering_id)
    data = client.get(f"{path}/slots.json").get_json()
    assert data["status"] == "ready"
    assert data["slots"][0]["names"] == "Ann, Bob"
    assert data["slots"][0]["start"] == (start + timedelta(minutes=30)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )

    page = client.get(path)
    assert "Schedule this" in page.text
    assert "Schedule this" not in bob.get(path).text
    forbidden = bob.post(
        f"{path}/schedule",
        data={"csrf_token": csrf(bob_page.text), "start": data["slots"][0]["start"]},
    )
    assert forbidden.status_code == 403
    client.post(
        f"{path}/schedule", data={"csrf_token": csrf(page.text), "start": data["slots"][0]["start"]}
    )
    page = client.get(path)
    assert "Are you coming?" in page.text
    assert "18:30" in page.text


def _run_job_in(app: Any, job: Any, *args: Any) -> None:
    """Run a worker job in this process against the test backends."""
    import os

    config = app.extensions["kindred"].config
    old = dict(os.environ)
    os.environ.update(
        {
            "DATABASE_URL": config.database_url,
            "REDIS_URL": config.redis_url or "",
            "SECRET_KEY": config.secret_key,
            "KINDRED_INSTANCE_PATH": str(config.instance_path),
        }
    )
    try:
        job(*args)
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_unknown_pages_are_friendly_404s(client: FlaskClient) -> None:
    for path in ("/g/999999", "/groups/999999", "/g/999999/poll", "/g/99999999999"):
        response = client.get(path)
        assert response.status_code == 404
        assert "<main" in response.text


def test_propose_the_next_one_link_starts_a_poll_for_the_organizer(
    client: FlaskClient, app: Any
) -> None:
    sign_up(client, "Ann", "ann@example.org")
    token = csrf(client.get("/groups/new").text)
    created = client.post(
        "/groups/new", data={"csrf_token": token, "name": "Go Club", "interests": "go"}
    )
    path = created.headers["Location"]
    # the link in nudge and follow-up mails: GET only asks, POST creates the poll
    page = client.get(f"{path}/propose")
    assert page.status_code == 200 and "Start the poll" in page.text
    started = client.post(f"{path}/propose", data={"csrf_token": csrf(page.text)})
    assert started.status_code == 302
    poll_page = client.get(started.headers["Location"])
    assert "Go Club: next get-together" in poll_page.text
    assert "When can you come?" in poll_page.text

    bob = app.test_client()
    sign_up(bob, "Bob", "bob@example.org")
    asked = bob.get(f"{path}/propose").text
    # whoever made the group is not named: they may hide their name, or have left it
    assert "Only the group's organizers can propose" in asked and "Ann" not in asked
    refused = bob.post(f"{path}/propose", data={"csrf_token": csrf(bob.get("/profile").text)})
    assert refused.status_code == 403
