"""Running the mail planner in-process, as a worker does after a kick."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

from scheduler.extensions import Services
from scheduler.models import utcnow
from scheduler.services.mail import planner


def run_planner(
    where: Flask | Session | Services, now: datetime | None = None
) -> planner.PlannerReport:
    """Owe what the recorded domain events call for (invites, updates, cancellations...) and
    plan reminders ahead, as the worker does when the planner is kicked. `where`: the app,
    a session of its database, or its Services."""
    if isinstance(where, Flask):
        services = where.extensions["kindred"]
    elif isinstance(where, Session):
        services = where.info["services"]
    else:
        services = where
    return planner.run(services, now_fn=(lambda: now) if now is not None else utcnow)
