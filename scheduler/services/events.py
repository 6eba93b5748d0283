"""Domain events: what happened, written in the same transaction as the change.

Gatherings, attendance and polls record events (attendance from inside its database
function); they never call the packages that react. Mail reacts durably: its planner reads
the events table in order and owes what each event calls for. Reactions that only speed
things up (waking the planner, forgetting cached feeds) are listeners told once a
transaction with new events has committed, in one Redis round trip; losing one delays,
never loses, since the clock runs the planner anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import insert
from sqlalchemy.orm import Session

from scheduler.extensions import after_commit
from scheduler.models import DomainEvent, utcnow

if TYPE_CHECKING:
    from redis.client import Pipeline

    from scheduler.extensions import Services

log = logging.getLogger(__name__)

# A listener queues one Redis command on the pipeline it is given (all are sent in one round
# trip) and may return what to do with that command's reply.
Listener = Callable[["Services", "Pipeline"], Callable[[Any], object] | None]
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
    """Call `listener(services, pipe)` after every commit that recorded events (idempotent)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def announce(services: Services) -> None:
    """Tell every listener that new events are committed, in one Redis round trip (a
    failure is logged: the clock's sweeps cover it)."""
    try:
        pipe = services.redis.pipeline(transaction=False)
        handlers = [listener(services, pipe) for listener in _LISTENERS]
        replies = pipe.execute(raise_on_error=False)
        for handler, reply in zip(handlers, replies, strict=True):
            if handler is not None and not isinstance(reply, Exception):
                handler(reply)
    except redis.RedisError:
        log.warning(
            "could not tell the event listeners; the clock's sweeps cover it", exc_info=True
        )
