"""People made straight in the database, for tests that need many of them quickly."""

from __future__ import annotations

from sqlalchemy.orm import Session

from scheduler.models import User


def bare_users(session: Session, count: int, prefix: str) -> list[User]:
    """`count` users (no password, no interests), flushed so they have ids."""
    people = [
        User(
            email=f"{prefix}{i}@example.org",
            name=f"{prefix.title()} {i}",
            password_hash="-",
            feed_token_nonce="",
            feed_token_hash=f"{i:064x}",
        )
        for i in range(count)
    ]
    session.add_all(people)
    session.flush()
    return people
