"""Editing a gathering in the browser (no JavaScript): /g/<id>/edit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from scheduler.models import OutboxMessage, User
from tests.support.mail import run_planner
from tests.web.test_pages import (
    create_evening_poll,
    create_gathering,
    csrf,
    field_errors,
    local,
    next_evening,
    sign_up,
)

BERLIN = ZoneInfo("Europe/Berlin")


class _FormReader(HTMLParser):
    """What a browser would submit for the page's edit form, unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method") == "post" and "action" not in a:
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a["value"]))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # browsers drop the newline right after <textarea> and submit CRLF line breaks
            text = self._text[1:] if self._text.startswith("\n") else self._text
            self.fields.append((self._textarea, text.replace("\n", "\r\n")))
            self._textarea = None


def form_as_shown(html: str) -> dict[str, Any]:
    """The edit form's fields as the page fills them in (multi-valued ones as lists)."""
    reader = _FormReader()
    reader.feed(html)
    data: dict[str, Any] = {}
    for name, value in reader.fields:
        if name in data:
            data[name] = [*(data[name] if isinstance(data[name], list) else [data[name]]), value]
        else:
            data[name] = [value] if name == "reminders" else value
    return data


def gathering_id(path: str) -> int:
    return int(path.rsplit("/", 1)[1])


def sequence(client: FlaskClient, gid: int) -> int:
    """SEQUENCE of the gathering's VEVENT in its .ics."""
    ics = client.get(f"/gatherings/{gid}.ics").text
    match = re.search(r"^SEQUENCE:(\d+)", ics, re.M)
    assert match, ics
    return int(match.group(1))


def owed(session: Any, gid: int, kind: str) -> list[str]:
    """Emails of the people a mail of `kind` about the gathering is owed to."""
    run_planner(session)  # the worker's part: owe what the recorded events call for
    # a transaction of its own, ended at once: none stays open between the test's requests
    with session.begin():
        return list(
            session.scalars(
                select(User.email)
                .join(OutboxMessage, OutboxMessage.recipient_id == User.id)
                .where(
                    OutboxMessage.gathering_id == gid,
                    OutboxMessage.kind == kind,
                    OutboxMessage.status == "pending",
                )
                .order_by(User.email)
            )
        )


def outbox_count(session: Any) -> int:
    run_planner(session)
    with session.begin():
        return int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def edit(client: FlaskClient, gid: int, **changes: Any) -> Any:
    """Open the edit page, change some fields as a person would, submit."""
    page = client.get(f"/g/{gid}/edit")
    assert page.status_code == 200, page.text
    data = form_as_shown(page.text)
    data.update(changes)
    return client.post(f"/g/{gid}/edit", data=data)


@pytest.fixture
def ann_with_bob_going(client: FlaskClient, app: Any) -> tuple[FlaskClient, int]:
    """Ann organizes a gathering in Berlin (capacity 5); Bob said yes. Ann's client, its id."""
    sign_up(client, "Ann", "ann@example.org")
    response = create_gathering(
        client,
        starts_at=local(next_evening()),
        location="Café Rix",
        capacity="5",
        description="Bring a board.\nClocks welcome.",
    )
    assert response.status_code == 302, field_errors(response.text)
    path = response.headers["Location"]
    bob = app.test_client()
    sign_up(bob, "Bob", "bob@example.org")
    bob.post(f"{path}/rsvp", data={"csrf_token": csrf(bob.get(path).text), "response": "yes"})
    return client, gathering_id(path)


def test_the_form_shows_the_gathering_in_its_own_time_zone(
    ann_with_bob_going: tuple[FlaskClient, int],
) -> None:
    client, gid = ann_with_bob_going
    page = client.get(f"/g/{gid}/edit")
    assert page.status_code == 200
    data = form_as_shown(page.text)
    assert data["title"] == "Chess night"
    assert data["location"] == "Café Rix"
    assert data["starts_at"] == local(next_evening())
    assert data["timezone"] == "Europe/Berlin"
    assert data["duration_minutes"] == "120"
    assert data["capacity"] == "5"
    assert sorted(data["reminders"]) == ["1440", "60"]
    assert data["description"] == "Bring a board.\r\nClocks welcome."
    assert "scope" not in data  # not part of a series
    # every input has a label
    for name in ("title", "location", "starts_at", "timezone", "duration_minutes", "capacity"):
        assert f'<label for="{name}">' in page.text


def test_moving_time_and_place_shows_on_the_page_and_owes_an_update(
    ann_with_bob_going: tuple[FlaskClient, int], session: Any
) -> None:
    client, gid = ann_with_bob_going
    before = sequence(client, gid)
    assert owed(session, gid, "update") == []
    new_start = next_evening(days=4) + timedelta(hours=1)  # 19:00 Berlin, a day later
    response = edit(client, gid, starts_at=local(new_start), location="Room 2, Rix")
    assert response.status_code == 302, field_errors(response.text)
    assert response.headers["Location"] == f"/g/{gid}"
    page = client.get(f"/g/{gid}")
    assert "updated invite" in page.text
    assert "Room 2, Rix" in page.text
    shown = new_start.astimezone(BERLIN)
    assert f"{shown.day} {shown:%b %Y, %H:%M}" in page.text
    assert sequence(client, gid) > before
    assert owed(session, gid, "update") == ["bob@example.org"]


def test_changing_only_the_title_tells_nobody(
    ann_with_bob_going: tuple[FlaskClient, int], session: Any
) -> None:
    client, gid = ann_with_bob_going
    response = edit(client, gid, title="Blitz night")
    assert response.status_code == 302
    page = client.get(f"/g/{gid}")
    assert "Blitz night" in page.text and "updated invite" not in page.text
    assert owed(session, gid, "update") == []


def test_an_unchanged_form_is_a_no_op(
    ann_with_bob_going: tuple[FlaskClient, int], session: Any
) -> None:
    client, gid = ann_with_bob_going
    before, mail = sequence(client, gid), outbox_count(session)
    response = edit(client, gid)  # the form exactly as shown, CRLF line breaks and all
    assert response.status_code == 302
    assert "Nothing changed." in client.get(f"/g/{gid}").text
    assert sequence(client, gid) == before
    assert outbox_count(session) == mail


def test_emptying_seats_means_unlimited(ann_with_bob_going: tuple[FlaskClient, int]) -> None:
    client, gid = ann_with_bob_going
    assert edit(client, gid, capacity="").status_code == 302
    assert "1 going · no limit" in client.get(f"/g/{gid}").text
    data = form_as_shown(client.get(f"/g/{gid}/edit").text)
    assert data["capacity"] == ""


def test_only_the_organizer_may_edit(ann_with_bob_going: tuple[FlaskClient, int], app: Any) -> None:
    client, gid = ann_with_bob_going
    bob = app.test_client()
    bob.post(
        "/login",
        data={
            "csrf_token": csrf(bob.get("/login").text),
            "email": "bob@example.org",
            "password": "correct horse battery",
        },
    )
    assert "Edit gathering" not in bob.get(f"/g/{gid}").text
    assert "Edit gathering" in client.get(f"/g/{gid}").text
    assert bob.get(f"/g/{gid}/edit").status_code == 403
    token = csrf(bob.get(f"/g/{gid}").text)
    refused = bob.post(f"/g/{gid}/edit", data={"csrf_token": token, "title": "Mine now"})
    assert refused.status_code == 403
    assert "Chess night" in client.get(f"/g/{gid}").text
    assert client.get("/g/999999/edit").status_code == 404
    anonymous = app.test_client()
    response = anonymous.get(f"/g/{gid}/edit")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_a_form_without_the_csrf_token_is_rejected(
    ann_with_bob_going: tuple[FlaskClient, int],
) -> None:
    client, gid = ann_with_bob_going
    data = form_as_shown(client.get(f"/g/{gid}/edit").text)
    data["title"] = "Forged"
    del data["csrf_token"]
    response = client.post(f"/g/{gid}/edit", data=data)
    assert response.status_code == 400
    data["csrf_token"] = "forged"
    assert client.post(f"/g/{gid}/edit", data=data).status_code == 400
    assert "Forged" not in client.get(f"/g/{gid}").text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"starts_at": "2030-06-03"}, "starts_at", "Give a date and time"),
        ({"starts_at": "next tuesday"}, "starts_at", "Give a date and time"),
        ({"starts_at": "0001-01-01T00:30"}, "starts_at", "Give a date and time"),
        ({"starts_at": ""}, "starts_at", "Choose when it starts."),
        ({"starts_at": "2020-06-03T18:00"}, "starts_at", "cannot be moved into the past"),
        ({"title": "x" * 100_000}, "title", "Length must be between 1 and 200."),
        ({"title": "   "}, "title", "Length must be between 1 and 200."),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"capacity": "lots"}, "capacity", "Give a whole number."),
        ({"capacity": "0"}, "capacity", "Must be greater than or equal to 1"),
        ({"capacity": "0", "starts_at": "soon"}, "capacity", "Must be greater"),
        ({"duration_minutes": "1"}, "duration_minutes", "Must be greater than or equal to 5"),
        ({"reminders": ["-5"]}, "reminders", "Must be greater than or equal to 1"),
        ({"interests": "x" * 80}, "interests", "at most 60 characters"),
        ({"interests": "x" * 200}, "interests", "Length must be between 1 and 120."),
        ({"title": "a\x00b"}, "title", "NUL"),
    ],
)
def test_bad_input_is_422_next_to_its_field_with_the_input_kept(
    ann_with_bob_going: tuple[FlaskClient, int],
    session: Any,
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    client, gid = ann_with_bob_going
    before = sequence(client, gid)
    response = edit(client, gid, location="Somewhere new", **changes)
    assert response.status_code == 422, response.status_code
    errors = field_errors(response.text)
    assert field in errors, errors
    assert message.lower() in errors[field].lower()
    assert f'aria-describedby="{field}-error"' in response.text
    assert 'value="Somewhere new"' in response.text  # what was typed is kept
    assert "Café Rix" in client.get(f"/g/{gid}").text  # and nothing was saved
    assert sequence(client, gid) == before


def test_seats_below_the_number_going_are_refused_next_to_seats(
    ann_with_bob_going: tuple[FlaskClient, int], app: Any
) -> None:
    client, gid = ann_with_bob_going
    cat = app.test_client()
    sign_up(cat, "Cat", "cat@example.org")
    path = f"/g/{gid}"
    cat.post(f"{path}/rsvp", data={"csrf_token": csrf(cat.get(path).text), "response": "yes"})
    response = edit(client, gid, capacity="1", title="Smaller night")
    assert response.status_code == 422
    assert field_errors(response.text) == {
        "capacity": "2 seats are taken (people going and their guests); capacity cannot be lower "
        "than that."
    }
    assert 'value="Smaller night"' in response.text
    assert "Chess night" in client.get(path).text  # the title change was rolled back too


def test_a_cancelled_gathering_can_no_longer_be_edited(
    ann_with_bob_going: tuple[FlaskClient, int],
) -> None:
    client, gid = ann_with_bob_going
    data = form_as_shown(client.get(f"/g/{gid}/edit").text)
    client.post(f"/g/{gid}/cancel", data={"csrf_token": data["csrf_token"]})
    assert "Edit gathering" not in client.get(f"/g/{gid}").text
    page = client.get(f"/g/{gid}/edit")
    assert "it can no longer be changed" in page.text
    assert 'name="title"' not in page.text
    data["title"] = "Back on"
    response = client.post(f"/g/{gid}/edit", data=data)
    assert response.status_code == 409
    assert "Back on" not in client.get(f"/g/{gid}").text


def test_a_poll_can_change_its_words_but_not_its_time(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    start = next_evening()
    path = create_evening_poll(client)
    gid = gathering_id(path)
    assert f'href="/g/{gid}/edit"' in client.get(path).text  # the poll page links to it
    page = client.get(f"/g/{gid}/edit")
    assert "still finding a time" in page.text
    data = form_as_shown(page.text)
    words = {"title", "description", "location", "interests", "visibility"}
    words |= {"attendance_mode", "online_url"}  # how people take part is words too
    assert set(data) == {"csrf_token", *words}
    data.update(title="Chess night (poll)", starts_at=local(start), capacity="0")
    response = client.post(f"/g/{gid}/edit", data=data)  # extra fields are ignored
    assert response.status_code == 302, field_errors(response.text)
    assert "Chess night (poll)" in client.get(path).text


def _weekly_series(client: FlaskClient) -> list[dict[str, Any]]:
    """Ann creates a weekly series of 6 on Thursdays at 19:00 Berlin; its occurrences."""
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(3 - today.weekday()) % 7 or 7)
    first = datetime(day.year, day.month, day.day, 19, 0, tzinfo=BERLIN)
    response = create_gathering(
        client, starts_at=f"{first:%Y-%m-%dT%H:%M}", recurrence="weekly", recurrence_count="6"
    )
    assert response.status_code == 302, field_errors(response.text)
    body = client.get(f"/api/v1/gatherings/{gathering_id(response.headers['Location'])}")
    occurrences: list[dict[str, Any]] = body.get_json()["occurrences"]
    assert len(occurrences) == 6
    return occurrences


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_this_and_following_splits_the_series(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    occurrences = _weekly_series(client)
    target = occurrences[3]
    page = client.get(f"/g/{target['id']}/edit")
    assert form_as_shown(page.text)["scope"] == "this"
    later = _utc(target["starts_at"]) + timedelta(hours=1)
    response = edit(
        client, target["id"], scope="following", starts_at=local(later), location="Room 2"
    )
    assert response.status_code == 302, field_errors(response.text)
    assert "this and the following gatherings" in client.get(f"/g/{target['id']}").text

    new = client.get(f"/api/v1/gatherings/{target['id']}").get_json()
    old = client.get(f"/api/v1/gatherings/{occurrences[0]['id']}").get_json()
    assert new["series_id"] != old["series_id"]
    assert new["recurrence"] == "FREQ=WEEKLY;BYDAY=TH;COUNT=3"
    # the old series ends with UNTIL at its last evening
    last = _utc(occurrences[2]["starts_at"])
    assert old["recurrence"] == f"FREQ=WEEKLY;BYDAY=TH;UNTIL={last:%Y%m%dT%H%M%SZ}"
    assert [o["id"] for o in new["occurrences"]] == [o["id"] for o in occurrences[3:]]
    assert [_utc(o["starts_at"]).astimezone(BERLIN).hour for o in new["occurrences"]] == [20] * 3
    assert [o["starts_at"] for o in old["occurrences"]] == [o["starts_at"] for o in occurrences[:3]]
    for item in occurrences[3:]:
        assert client.get(f"/api/v1/gatherings/{item['id']}").get_json()["location"] == "Room 2"
    assert client.get(f"/api/v1/gatherings/{occurrences[2]['id']}").get_json()["location"] == ""


def test_only_this_one_moves_one_occurrence(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    occurrences = _weekly_series(client)
    target = occurrences[1]
    later = _utc(target["starts_at"]) + timedelta(hours=1)
    response = edit(client, target["id"], scope="this", starts_at=local(later))
    assert response.status_code == 302, field_errors(response.text)
    after = client.get(f"/api/v1/gatherings/{target['id']}").get_json()
    assert (
        after["series_id"]
        == client.get(f"/api/v1/gatherings/{occurrences[0]['id']}").get_json()["series_id"]
    )
    assert after["recurrence"] == "FREQ=WEEKLY;BYDAY=TH;COUNT=6"
    starts = {o["id"]: _utc(o["starts_at"]) for o in after["occurrences"]}
    assert starts[target["id"]] == later
    assert starts[occurrences[2]["id"]] == _utc(occurrences[2]["starts_at"])


def test_an_unchanged_series_form_does_not_split_the_series(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    occurrences = _weekly_series(client)
    target = occurrences[2]
    before = sequence(client, target["id"])
    assert edit(client, target["id"], scope="following").status_code == 302
    after = client.get(f"/api/v1/gatherings/{target['id']}").get_json()
    assert after["recurrence"] == "FREQ=WEEKLY;BYDAY=TH;COUNT=6"
    assert sequence(client, target["id"]) == before


def test_an_unknown_scope_is_422_next_to_the_choice(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    occurrences = _weekly_series(client)
    response = edit(client, occurrences[1]["id"], scope="everything", title="Renamed")
    assert response.status_code == 422
    assert "scope" in field_errors(response.text)
    assert 'aria-describedby="scope-error"' in response.text


def test_the_start_is_read_in_the_chosen_zone(
    ann_with_bob_going: tuple[FlaskClient, int],
) -> None:
    client, gid = ann_with_bob_going
    data = form_as_shown(client.get(f"/g/{gid}/edit").text)
    response = edit(client, gid, timezone="Europe/London")  # same wall clock, London time
    assert response.status_code == 302, field_errors(response.text)
    body = client.get(f"/api/v1/gatherings/{gid}").get_json()
    start = _utc(body["starts_at"])
    assert f"{start.astimezone(ZoneInfo('Europe/London')):%Y-%m-%dT%H:%M}" == data["starts_at"]
    assert start == next_evening() + timedelta(hours=1)
    assert body["timezone"] == "Europe/London"
    assert start > datetime.now(UTC)


@pytest.mark.parametrize(
    ("starts_at", "tz"),
    [("0001-01-01T00:30", "Europe/Berlin"), ("9999-12-31T23:30", "America/New_York")],
)
def test_a_start_off_the_calendar_is_422_on_the_new_form_too(
    client: FlaskClient, starts_at: str, tz: str
) -> None:
    sign_up(client, "Ann", "ann@example.org")
    response = create_gathering(client, starts_at=starts_at, timezone=tz)
    assert response.status_code == 422
    assert field_errors(response.text) == {
        "starts_at": "Give a date and time, e.g. 2026-06-03 18:00."
    }
