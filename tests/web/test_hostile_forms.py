"""Hostile input to the pages: a form error next to the field (or a safe default), never a 5xx."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from scheduler.domain.date_bounds import OUT_OF_RANGE
from scheduler.models import Gathering, User
from scheduler.models.gathering import AvailabilityInterval
from tests.web.test_pages import (
    PASSWORD,
    create_evening_poll,
    create_gathering,
    csrf,
    field_errors,
    local,
    next_evening,
    sign_up,
)

HOSTILE_NEXT = [
    "/profile\r\nSet-Cookie: stolen=1",  # CR/LF: once a 500 after the account was made
    "/\nx",
    "/\t/evil.example",  # browsers drop the tab: //evil.example
    "/\\evil.example",  # browsers read the backslash as a slash
    "//evil.example/x",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\x00",
    "/\x85next-line",
    "/" + "a" * 5000,
]


def count(session: Any, model: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))  # type: ignore[no-any-return]


def signup_form(client: FlaskClient, query: str = "", **fields: str) -> Any:
    token = csrf(client.get("/signup").text)
    data = {
        "csrf_token": token,
        "name": "Ann",
        "email": "ann@example.org",
        "password": PASSWORD,
        "timezone": "Europe/Berlin",
        **fields,
    }
    return client.post(f"/signup{query}", data=data)


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_sign_up_with_a_hostile_next_lands_home_with_one_account(
    client: FlaskClient, session: Any, target: str
) -> None:
    response = signup_form(client, "?" + urlencode({"next": target}))
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert count(session, User) == 1
    assert "Welcome to Kindred, Ann!" in client.get("/").text


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_log_in_with_a_hostile_next_lands_home(client: FlaskClient, target: str) -> None:
    sign_up(client, "Ann", "ann@example.org")
    client.post("/logout", data={"csrf_token": csrf(client.get("/").text)})
    token = csrf(client.get("/login?" + urlencode({"next": target})).text)
    response = client.post(
        "/login?" + urlencode({"next": target}),
        data={"csrf_token": token, "email": "ann@example.org", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_a_local_next_with_a_query_is_kept(client: FlaskClient) -> None:
    response = signup_form(client, "?" + urlencode({"next": "/groups?interest=chess"}))
    assert response.headers["Location"] == "/groups?interest=chess"


@pytest.mark.parametrize(
    ("email", "says"),
    [
        ("ünïcode@example.org", "Internationalized characters before the @-sign"),
        ('a"b@example.org', "Not a valid email address"),
        ("ann@localhost", "Not a valid email address"),
    ],
)
def test_sign_up_with_an_address_mail_cannot_reach_is_a_form_error(
    client: FlaskClient, session: Any, email: str, says: str
) -> None:
    response = signup_form(client, email=email)
    assert response.status_code == 422
    assert says in field_errors(response.text)["email"]
    assert count(session, User) == 0


def test_the_zone_localtime_is_a_form_error_on_sign_up_and_profile(
    client: FlaskClient, session: Any
) -> None:
    response = signup_form(client, timezone="localtime")
    assert response.status_code == 422
    assert "timezone" in field_errors(response.text)
    assert count(session, User) == 0

    sign_up(client, "Ann", "ann@example.org")
    page = client.get("/profile")
    assert 'value="localtime"' not in page.text
    response = client.post(
        "/profile",
        data={"csrf_token": csrf(page.text), "name": "Ann", "timezone": "localtime"},
    )
    assert response.status_code == 422
    assert "timezone" in field_errors(response.text)
    session.expire_all()
    assert session.scalars(select(User.timezone)).one() == "Europe/Berlin"


@pytest.mark.parametrize(
    "fields",
    [
        {"starts_at": "9999-12-31T18:00"},
        {"starts_at": "2201-01-01T00:30", "timezone": "UTC"},
        {"starts_at": "1969-12-31T23:00", "timezone": "UTC"},
    ],
)
def test_a_start_outside_the_years_is_a_form_error(
    client: FlaskClient, session: Any, fields: dict[str, str]
) -> None:
    sign_up(client, "Ann", "ann@example.org")
    response = create_gathering(client, **fields)
    assert response.status_code == 422
    assert field_errors(response.text) == {"starts_at": OUT_OF_RANGE}
    assert count(session, Gathering) == 0


def test_a_poll_window_outside_the_years_is_a_form_error(client: FlaskClient, session: Any) -> None:
    sign_up(client, "Ann", "ann@example.org")
    response = create_gathering(
        client,
        mode="poll",
        window_start=local(next_evening()),
        window_end="2300-01-01T00:00",
        step_minutes="30",
        min_attendees="1",
    )
    assert response.status_code == 422
    assert field_errors(response.text) == {"window_end": OUT_OF_RANGE}
    assert count(session, Gathering) == 0


def test_moving_a_gathering_outside_the_years_is_a_form_error(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    created = create_gathering(client, starts_at=local(next_evening()))
    path = created.headers["Location"]
    page = client.get(f"{path}/edit")
    response = client.post(
        f"{path}/edit",
        data={
            "csrf_token": csrf(page.text),
            "title": "Chess night",
            "timezone": "Europe/Berlin",
            "duration_minutes": "120",
            "starts_at": "9999-12-31T18:00",
        },
    )
    assert response.status_code == 422
    assert field_errors(response.text)["starts_at"] == OUT_OF_RANGE


def test_the_poll_grid_ignores_cells_it_does_not_have(client: FlaskClient, session: Any) -> None:
    sign_up(client, "Ann", "ann@example.org")
    path = create_evening_poll(client)
    token = csrf(client.get(path).text)
    hostile = {"c" + "9" * 5000: "yes", "c-1": "yes", "c1e3": "yes", "c1": "maybe", "c0": "yes"}
    saved = client.post(f"{path}/availability", data={"csrf_token": token, **hostile})
    assert saved.status_code == 302
    session.expire_all()
    start = next_evening()
    assert session.execute(
        select(AvailabilityInterval.starts_at, AvailabilityInterval.ends_at)
    ).all() == [(start, start + timedelta(minutes=30))]


def test_scheduling_a_poll_outside_the_years_is_said_on_the_page(client: FlaskClient) -> None:
    sign_up(client, "Ann", "ann@example.org")
    path = create_evening_poll(client)
    token = csrf(client.get(path).text)
    response = client.post(
        f"{path}/schedule", data={"csrf_token": token, "start": "9999-12-31T23:00:00Z"}
    )
    assert response.status_code == 302
    assert "Kindred keeps no dates outside these years" in client.get(path).text
