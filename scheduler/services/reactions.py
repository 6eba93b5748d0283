"""Who hears, in this process, that a transaction recorded domain events.

Wired once per process by the composition roots (create_app, the workers' runtime). The
durable reactions need no wiring: mail's planner reads the events table whenever it runs;
these listeners only make things happen sooner.
"""

from __future__ import annotations

from scheduler.services import events
from scheduler.services.calendars import feeds
from scheduler.services.mail import planner


def wire() -> None:
    """Subscribe the listeners (idempotent)."""
    # the planner runs now rather than at the clock's next sweep
    events.subscribe(planner.request_run)
    # answers change feeds behind the ORM's back (in the attendance function)
    events.subscribe(feeds.forget_remembered_feeds)
