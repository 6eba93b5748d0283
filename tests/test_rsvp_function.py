"""The RSVP fast path (PostgreSQL): `kindred_set_rsvp` does exactly what the Python service does.

Twin gatherings get the same random run of answers, one through the API's fast path (the
database function), the other through `attendance.set_rsvp` (the ORM service the web pages and
SQLite use). After every answer the responses must agree; at the end the seats, counters,
waitlist tickets and every outbox row (key, kind, status, due time, payload) must agree too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from scheduler.models import (
    Gathering,
    GatheringMute,
    OutboxMessage,
    OutboxStatus,
    Rsvp,
    User,
    rsvp_function,
    utcnow,
)
from scheduler.schemas.rsvps import RsvpSchema
from scheduler.services.accounts.identity import issue_api_token
from scheduler.services.gatherings import attendance
from scheduler.services.gatherings.lifecycle import create_gathering
from tests.support.people import bare_users

pytestmark = pytest.mark.postgres

PEOPLE = 8


@pytest.fixture(autouse=True)
def _postgres_only(backends):
    if not backends.is_postgres:
        pytest.skip("kindred_set_rsvp is PostgreSQL's; SQLite always takes the Python path")


@dataclass
class Twins:
    fast_id: int  # answered through the API (the database function)
    python_id: int  # answered through attendance.set_rsvp
    user_ids: list[int]
    tokens: list[str]


def make_twins(app, *, capacity, reminders, starts_at: datetime) -> Twins:
    """Two identical gatherings, 8 people with tokens; person 1 muted both, person 2 turned
    reminders off."""
    with app.extensions["kindred"].db.session_factory.begin() as session:
        people = bare_users(session, PEOPLE + 1, "twin")
        organizer, *attendees = people
        twins = [
            create_gathering(
                session,
                organizer,
                {
                    "title": "Twin",
                    "timezone": "Europe/Berlin",
                    "duration_minutes": 90,
                    "capacity": capacity,
                    "starts_at": starts_at,
                    "followup_minutes": 30,
                },
                now=utcnow(),
                uid_domain="kindred.test",
            )
            for _ in range(2)
        ]
        for gathering in twins:
            gathering.reminders = reminders  # duplicates and all, as stored
            session.add(GatheringMute(user_id=attendees[1].id, gathering_id=gathering.id))
        attendees[2].reminders_enabled = False
        tokens = [issue_api_token(session, person) for person in attendees]
        return Twins(twins[0].id, twins[1].id, [p.id for p in attendees], tokens)


def answer_fast(client, twins: Twins, person: int, answer: str) -> dict[str, Any]:
    response = client.put(
        f"/api/v1/gatherings/{twins.fast_id}/rsvp",
        json={"response": answer},
        headers={"Authorization": f"Bearer {twins.tokens[person]}"},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def answer_python(app, twins: Twins, person: int, answer: str) -> dict[str, Any]:
    with app.extensions["kindred"].db.session_factory() as session:
        user = session.get(User, twins.user_ids[person])
        outcome = attendance.set_rsvp(session, twins.python_id, user, answer, now=utcnow())
        session.commit()
        return RsvpSchema().dump(outcome)


def deliver_calendar_mail(app, twins: Twins) -> None:
    """Pretend the worker sent what was pending (so a later "no" owes a decline)."""
    with app.extensions["kindred"].db.session_factory.begin() as session:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.gathering_id.in_((twins.fast_id, twins.python_id)),
                OutboxMessage.kind.in_(("invite", "promoted", "update")),
                OutboxMessage.status == OutboxStatus.PENDING,
            )
            .values(status=OutboxStatus.SENT)
        )


def state_of(app, twins: Twins, gathering_id: int) -> dict[str, Any]:
    """Everything an RSVP writes, with ids replaced by names so the twins compare."""
    person = {user_id: f"P{i}" for i, user_id in enumerate(twins.user_ids)}

    def named(key: str) -> str:
        parts = key.split(":")
        parts[1] = "G"
        parts[2] = person[int(parts[2])]
        return ":".join(parts)

    with app.extensions["kindred"].db.session_factory() as session:
        gathering = session.get(Gathering, gathering_id)
        seats = sorted(
            (person[r.user_id], r.response, r.state, r.waitlist_ticket)
            for r in session.scalars(select(Rsvp).where(Rsvp.gathering_id == gathering_id))
        )
        mail = sorted(
            (
                named(row.key),
                row.kind,
                row.status,
                person[row.recipient_id],
                row.recipient_email,
                # follow-through is due at fixed times; calendar mail is due "now"
                row.due_at if row.kind in ("reminder", "followup") else None,
                row.payload,
                row.attempts,
            )
            for row in session.scalars(
                select(OutboxMessage).where(OutboxMessage.gathering_id == gathering_id)
            )
        )
        counters = (gathering.going_count, gathering.waitlist_counter, gathering.revision)
        return {"seats": seats, "mail": mail, "counters": counters}


@pytest.mark.parametrize(
    ("seed", "capacity", "reminders", "starts_in", "microsecond"),
    [
        (1, 2, [1440, 60], timedelta(days=3), 0),
        (2, 1, [60, 60, 10], timedelta(minutes=45), 250_000),  # the 60-minute one is past
        (3, None, [1440], timedelta(days=1, hours=2), 7),
        (4, 3, [], timedelta(hours=5), 0),
    ],
)
def test_the_function_and_the_service_write_the_same_rows(
    app, client, monkeypatch, seed, capacity, reminders, starts_in, microsecond
):
    starts_at = (utcnow() + starts_in).replace(microsecond=microsecond)
    twins = make_twins(app, capacity=capacity, reminders=reminders, starts_at=starts_at)
    python_set_rsvp = attendance.set_rsvp

    def only_for_the_python_twin(session, gathering_id, *args: Any, **kwargs: Any) -> Any:
        assert gathering_id != twins.fast_id, "the fast path passed an answer on to Flask"
        return python_set_rsvp(session, gathering_id, *args, **kwargs)

    monkeypatch.setattr(attendance, "set_rsvp", only_for_the_python_twin)
    rng = random.Random(seed)
    for step in range(60):
        if step % 15 == 14:
            deliver_calendar_mail(app, twins)
        person = rng.randrange(PEOPLE)
        answer = rng.choice(("yes", "yes", "no", "maybe"))
        fast = answer_fast(client, twins, person, answer)
        python = answer_python(app, twins, person, answer)
        fast["gathering_id"] = python["gathering_id"] = None
        assert fast == python, (step, person, answer)
    fast_state = state_of(app, twins, twins.fast_id)
    assert fast_state == state_of(app, twins, twins.python_id)
    # the run did exercise what it is meant to compare
    kinds = {row[1] for row in fast_state["mail"]}
    assert {"invite", "cancel"} <= kinds
    if capacity is not None:
        assert "promoted" in kinds
    if reminders:
        assert {"reminder", "followup"} <= kinds


def test_the_fast_path_answers_without_the_flask_view(app, client, monkeypatch):
    twins = make_twins(app, capacity=1, reminders=[60], starts_at=utcnow() + timedelta(days=2))

    def not_here(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the Flask view answered")

    monkeypatch.setattr(attendance, "set_rsvp", not_here)
    assert answer_fast(client, twins, 0, "yes")["state"] == "going"
    waiting = answer_fast(client, twins, 3, "yes")
    assert (waiting["state"], waiting["waitlist_position"]) == ("waitlisted", 1)
    assert answer_fast(client, twins, 0, "no") == {
        "response": "no",
        "state": "not_going",
        "gathering_id": twins.fast_id,
        "going_count": 1,
        "seats_left": 0,
    }


def test_what_the_function_declines_the_flask_view_explains(app, client):
    twins = make_twins(app, capacity=1, reminders=[60], starts_at=utcnow() + timedelta(days=2))
    url = f"/api/v1/gatherings/{twins.fast_id}/rsvp"
    headers = {"Authorization": f"Bearer {twins.tokens[0]}"}
    unknown_token = client.put(url, json={"response": "yes"}, headers={"Authorization": "Bearer x"})
    assert unknown_token.status_code == 401
    missing = client.put(
        "/api/v1/gatherings/999999/rsvp", json={"response": "yes"}, headers=headers
    )
    assert missing.status_code == 404
    odd_field = client.put(url, json={"response": "yes", "plus_one": True}, headers=headers)
    assert odd_field.status_code == 422 and "plus_one" in odd_field.get_data(as_text=True)
    with app.extensions["kindred"].db.session_factory.begin() as session:
        session.get(Gathering, twins.fast_id).status = "cancelled"
    closed = client.put(url, json={"response": "yes"}, headers=headers)
    assert closed.status_code == 409
    assert "cancelled" in closed.get_json()["message"]


def test_without_the_function_the_flask_view_answers(app, client, backends):
    """Migrations not run yet: RSVPs still work, through Flask."""
    twins = make_twins(app, capacity=1, reminders=[60], starts_at=utcnow() + timedelta(days=2))
    engine = app.extensions["kindred"].db.engine
    with engine.begin() as connection:
        rsvp_function.uninstall(connection)
    try:
        assert answer_fast(client, twins, 0, "yes")["state"] == "going"
        assert answer_fast(client, twins, 1, "yes")["state"] == "waitlisted"
    finally:
        with engine.begin() as connection:
            rsvp_function.install(connection)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT to_regprocedure(:signature)"),
            {"signature": rsvp_function.FUNCTION_SIGNATURE},
        ).scalar()
    assert found is not None
