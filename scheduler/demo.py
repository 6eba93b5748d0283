"""Example data so a newcomer sees something real: `make demo` or `flask demo`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.extensions import Services
from scheduler.models import Gathering, Group, User, utcnow
from scheduler.services.accounts import identity
from scheduler.services.gatherings import attendance
from scheduler.services.groups import circles
from scheduler.services.polls import scheduling

DEMO_PASSWORD = "kindred-demo-password"

PEOPLE = [
    ("ada@demo.kindred", "Ada", "Europe/Berlin", ["astronomy", "radio astronomy", "python"]),
    ("ben@demo.kindred", "Ben", "Europe/London", ["astronomy", "board games"]),
    ("chi@demo.kindred", "Chi", "America/New_York", ["python", "machine learning"]),
    ("dee@demo.kindred", "Dee", "Asia/Kolkata", ["reading", "science fiction"]),
]

GROUPS = [
    ("Backyard Astronomers", "Clear nights, shared telescopes.", ["astronomy"], 0),
    ("Python Hack Night", "Bring a laptop and a half-finished project.", ["python"], 2),
    ("Sci-Fi Reading Circle", "One book a month, tea provided.", ["reading", "science fiction"], 3),
]


def _demo_gatherings(session: Session, users: list[User], uid_domain: str) -> None:
    """A fixed-time meetup with RSVPs, an open poll and a weekly series (once)."""
    if session.scalars(select(Gathering.id).limit(1)).first() is not None:
        return
    by_name = {g.name: g for g in session.scalars(select(Group))}
    now = utcnow()
    soon = (now + timedelta(days=3)).replace(hour=18, minute=0, second=0, microsecond=0)
    star_night = scheduling.create(
        session,
        users[0],
        {
            "title": "Star party at the observatory hill",
            "description": "Bring warm clothes; telescopes provided.",
            "location": "Observatory hill",
            "group_id": by_name["Backyard Astronomers"].id,
            "timezone": "Europe/Berlin",
            "duration_minutes": 150,
            "capacity": 2,
            "interests": ["astronomy"],
            "starts_at": soon,
        },
        now=now,
        uid_domain=uid_domain,
    )
    for user in users[1:]:
        attendance.set_rsvp(session, star_night.id, user.id, "yes", now=now)
    window = (now + timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    scheduling.create(
        session,
        users[2],
        {
            "title": "Hack night: pick the evening",
            "group_id": by_name["Python Hack Night"].id,
            "timezone": "America/New_York",
            "duration_minutes": 120,
            "interests": ["python"],
            "poll": {
                "window_start": window,
                "window_end": window + timedelta(days=5),
                "step_minutes": 30,
                "min_attendees": 2,
            },
        },
        now=now,
        uid_domain=uid_domain,
    )
    scheduling.create(
        session,
        users[3],
        {
            "title": "Sci-fi circle",
            "group_id": by_name["Sci-Fi Reading Circle"].id,
            "timezone": "Asia/Kolkata",
            "duration_minutes": 90,
            "interests": ["reading", "science fiction"],
            "starts_at": soon + timedelta(days=1),
            "recurrence": "FREQ=MONTHLY;BYDAY=1SA",
        },
        now=now,
        uid_domain=uid_domain,
    )


def load_demo(services: Services) -> str:
    """Create the demo people and groups (idempotent); return a summary for the terminal."""
    config = services.config
    policy = identity.PasswordPolicy(config.password_time_cost, config.password_memory_cost)
    session = services.db.session_factory()
    try:
        users: list[User] = []
        for email, name, tz, interests in PEOPLE:
            user = session.scalars(select(User).where(User.email == email)).first()
            if user is None:
                user = identity.create_user(
                    session,
                    email=email,
                    name=name,
                    password=DEMO_PASSWORD,
                    timezone=tz,
                    interests=interests,
                    secret_key=config.secret_key,
                    policy=policy,
                )
            users.append(user)
        existing = {g.name for g in session.scalars(select(Group))}
        for name, description, interests, organizer in GROUPS:
            if name not in existing:
                group = circles.create_group(
                    session,
                    users[organizer],
                    name=name,
                    description=description,
                    interests=interests,
                )
                for member in users:
                    circles.join_group(session, group, member)
        session.flush()
        _demo_gatherings(session, users, config.mail_domain)
        session.commit()
    finally:
        session.close()
    emails = ", ".join(email for email, *_ in PEOPLE)
    return f"demo data ready: log in as any of {emails} with password {DEMO_PASSWORD!r}"
