"""Domain events: what happened, written in the same transaction as the change.

Gatherings, attendance and polls record events (attendance from inside its database
function); they never call the packages that react. Mail reacts durably: its planner reads
the events table in order and owes what each event calls for. Reactions that only speed
things up (asking the clock to run the planner, forgetting cached feeds) are listeners told
once a transaction with new events has committed, with Redis writes nobody waits for; losing
one delays, never loses, since the clock runs the planner anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import insert
from sqlalchemy.orm import Session

from scheduler.extensions import after_commit
from scheduler.models import DomainEvent, utcnow

if TYPE_CHECKING:
    from scheduler.extensions import Services

log = logging.getLogger(__name__)

# A listener answers with the Redis commands that tell its package; every listener's go out in
# one write, and nobody waits for the replies (an answer's request is not held up by them).
Listener = Callable[["Services"], Sequence[tuple[Any, ...]]]
_LISTENERS: list[Listener] = []


def record(
    session: Session,
    kind: str,
    *,
    gathering_id: int | None,
    user_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Write one event in the session's transaction; listeners hear of it after the commit."""
    session.execute(
        insert(DomainEvent).values(
            kind=kind,
            gathering_id=gathering_id,
            user_id=user_id,
            data=data or {},
            created_at=utcnow(),
        )
    )
    announce_after_commit(session)


def announce_after_commit(session: Session) -> None:
    """Events were written in this transaction: tell the listeners once it commits (once)."""
    services: Services | None = session.info.get("services")
    if services is not None:
        after_commit(session, lambda: announce(services), once_as="announce_events")


def subscribe(listener: Listener) -> None:
    """Call `listener(services)` after every commit that recorded events (idempotent)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def announce(services: Services) -> None:
    """Tell every listener that new events are committed: their Redis commands, sent in one
    write without waiting (a failure is logged: the clock's sweeps cover it)."""
    commands = [command for listener in _LISTENERS for command in listener(services)]
    if not commands:
        return
    try:
        services.bare_redis.send_and_forget(commands)
    except (redis.RedisError, OSError):
        log.warning("could not tell the event listeners; the sweeps cover it", exc_info=True)
