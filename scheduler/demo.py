"""Example data so a newcomer sees something real: `make demo` or `flask demo`."""

from __future__ import annotations

from sqlalchemy import select

from scheduler.extensions import Services
from scheduler.models import User
from scheduler.services import accounts, groups

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


def load_demo(services: Services) -> str:
    """Create the demo people and groups (idempotent); return a summary for the terminal."""
    config = services.config
    policy = accounts.PasswordPolicy(config.password_time_cost, config.password_memory_cost)
    session = services.db.session_factory()
    try:
        users: list[User] = []
        for email, name, tz, interests in PEOPLE:
            user = session.scalars(select(User).where(User.email == email)).first()
            if user is None:
                user = accounts.create_user(
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
        existing = {g.name for g in session.scalars(select(groups.Group))}
        for name, description, interests, organizer in GROUPS:
            if name not in existing:
                group = groups.create_group(
                    session,
                    users[organizer],
                    name=name,
                    description=description,
                    interests=interests,
                )
                for member in users:
                    groups.join_group(session, group, member)
        session.commit()
    finally:
        session.close()
    emails = ", ".join(email for email, *_ in PEOPLE)
    return f"demo data ready: log in as any of {emails} with password {DEMO_PASSWORD!r}"
