"""`make demo` data: loads once, shows every kind of gathering, and loads again harmlessly."""

from __future__ import annotations

from sqlalchemy import func, select

from scheduler.demo import load_demo
from scheduler.models import Gathering, Rsvp, Series


def test_demo_loads_people_groups_and_gatherings_idempotently(app, session, config):
    services = app.extensions["kindred"]
    assert "demo data ready" in load_demo(services)
    load_demo(services)
    statuses = sorted(session.scalars(select(Gathering.status).distinct()))
    assert statuses == ["polling", "scheduled"]
    assert session.scalar(select(func.count()).select_from(Series)) == 1
    going = session.scalar(select(func.count()).select_from(Rsvp).where(Rsvp.state == "going"))
    waitlisted = session.scalar(
        select(func.count()).select_from(Rsvp).where(Rsvp.state == "waitlisted")
    )
    assert (going, waitlisted) == (2, 1)  # a full meetup shows the waitlist
