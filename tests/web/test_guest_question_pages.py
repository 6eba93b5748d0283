"""Guests and questions on the pages (no JavaScript): the organizer sets them on the new and
edit forms, people answer with the RSVP form, the organizer downloads the attendee list."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from flask.testing import FlaskClient

from tests.web.test_pages import create_gathering, csrf, field_errors, local, next_evening, sign_up


def organizer_with_a_supper(client: FlaskClient) -> str:
    """Ann signs up and creates a 3-seat supper allowing 2 guests with a required question;
    the page's path."""
    sign_up(client, "Ann", "ann@example.org")
    response = create_gathering(
        client,
        title="Supper club",
        starts_at=local(next_evening()),
        capacity="3",
        max_guests="2",
        question_text_0="Any dietary needs?",
        question_required_0="1",
        question_text_1="",
    )
    assert response.status_code == 302, field_errors(response.text)
    return str(response.headers["Location"])


def question_id(page: str) -> str:
    match = re.search(r'name="answer_(\d+)"', page)
    assert match, "the RSVP form asks no question"
    return match.group(1)


def test_guests_and_a_required_question_through_the_pages(client: FlaskClient, app: Any) -> None:
    path = organizer_with_a_supper(client)
    bob = app.test_client()
    sign_up(bob, "Bob", "bob@example.org")
    page = bob.get(path).text
    assert 'name="guests"' in page and "Any dietary needs?" in page
    qid = question_id(page)

    # a yes without the required answer is refused, and nothing is recorded
    bob.post(f"{path}/rsvp", data={"csrf_token": csrf(page), "response": "yes", "guests": "1"})
    page = bob.get(path).text
    assert "must be answered to say yes" in page
    assert "data-my-answer" not in page

    bob.post(
        f"{path}/rsvp",
        data={"csrf_token": csrf(page), "response": "yes", "guests": "1", f"answer_{qid}": "vegan"},
    )
    page = bob.get(path).text
    assert "You're going." in page and "With 1 guest." in page
    assert "2 of 3 taken" in page
    assert ">vegan</textarea>" in page  # his answer, shown back to him

    # a third guest is more than the gathering allows
    bob.post(f"{path}/rsvp", data={"csrf_token": csrf(page), "response": "yes", "guests": "3"})
    assert "at most 2 guests" in bob.get(path).text

    # the organizer sees the +1 and downloads the list; Bob may not
    ann_page = client.get(path).text
    assert re.search(r'Bob</span> <span class="guests"[^>]*>\+1</span>', ann_page)
    assert "data-attendees-csv" in ann_page
    assert "data-attendees-csv" not in page
    download = client.get(f"{path}/attendees.csv")
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True), newline="")))
    assert [(r["name"], r["state"], r["guests"], r["Any dietary needs?"]) for r in rows] == [
        ("Bob", "going", "1", "vegan")
    ]
    assert bob.get(f"{path}/attendees.csv").status_code == 403


def test_the_edit_form_changes_guests_and_questions(client: FlaskClient) -> None:
    path = organizer_with_a_supper(client)
    form = client.get(f"{path}/edit").text
    assert 'value="Any dietary needs?"' in form
    existing_id = re.search(r'name="question_id_0" value="(\d+)"', form).group(1)
    response = client.post(
        f"{path}/edit",
        data={
            "csrf_token": csrf(form),
            "title": "Supper club",
            "timezone": "Europe/Berlin",
            "duration_minutes": "120",
            "capacity": "3",
            "starts_at": local(next_evening()),
            "reminders": ["1440", "60"],
            "max_guests": "0",
            "question_id_0": existing_id,
            "question_text_0": "Allergies?",
            "question_text_1": "Which book did you finish?",
        },
    )
    assert response.status_code == 302, field_errors(response.text)
    form = client.get(f"{path}/edit").text
    assert f'name="question_id_0" value="{existing_id}"' in form
    assert 'value="Allergies?"' in form and 'value="Which book did you finish?"' in form
    assert 'name="question_required_0" value="1" checked' not in form
    page = client.get(path).text
    assert 'name="guests"' not in page  # no guests any more

    bad = client.post(
        f"{path}/edit",
        data={"csrf_token": csrf(form), "title": "Supper club", "max_guests": "500"},
    )
    assert bad.status_code == 422
    assert "max_guests" in field_errors(bad.text)
