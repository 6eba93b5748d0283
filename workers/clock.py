"""`python -m workers.clock`: periodic sweeps, and planner runs as soon as events ask.

Nothing here keeps state in Redis: if Redis is wiped or a worker is killed, the next sweep
finds in the database whatever is still owed and enqueues it again.
"""

from __future__ import annotations

import importlib
import logging
import signal
import time
from dataclasses import dataclass
from types import FrameType

import redis

from scheduler.config import configure_logging
from scheduler.services.mail import planner
from workers.runtime import services

log = logging.getLogger("kindred.clock")


@dataclass(frozen=True)
class PeriodicTask:
    """A function (dotted path) run every `every_seconds` (None: the configured sweep interval)."""

    path: str
    every_seconds: int | None = None


# Periodic work, declared as data. Each task runs in the clock process and only enqueues.
PERIODIC_TASKS: list[PeriodicTask] = [
    PeriodicTask("workers.slots.sweep_polls"),
    PeriodicTask("workers.gatherings.sweep_ended", every_seconds=60),
    PeriodicTask("workers.checkins.sweep", every_seconds=300),
    PeriodicTask("workers.checkins.sweep_nudges", every_seconds=86400),
    PeriodicTask("workers.nudges.sweep", every_seconds=3600),
    PeriodicTask("workers.reach.sweep", every_seconds=3600),
    PeriodicTask("workers.mail.sweep_planner"),
    PeriodicTask("workers.mail.sweep_outbox"),
    PeriodicTask("workers.series.sweep", every_seconds=3600),
    PeriodicTask("workers.calendars.sweep", every_seconds=300),
]


def _call(path: str) -> None:
    module_name, _, attr = path.rpartition(".")
    getattr(importlib.import_module(module_name), attr)()


def run_due_tasks(last_run: dict[str, float], now: float, default_every: int) -> None:
    """Run every task whose interval has passed since its last run."""
    for task in PERIODIC_TASKS:
        every = task.every_seconds or default_every
        if now - last_run.get(task.path, 0.0) >= every:
            last_run[task.path] = now
            try:
                _call(task.path)
            except Exception:
                log.exception("periodic task %s failed; it runs again next time", task.path)


def main() -> None:
    """Loop until SIGTERM/SIGINT."""
    configure_logging()
    interval = services().config.sweep_interval_seconds
    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    last_run: dict[str, float] = {}
    log.info("clock started: %d tasks, sweep every %ss", len(PERIODIC_TASKS), interval)
    while not stopping:
        run_due_tasks(last_run, time.monotonic(), interval)
        wait_for_planner_requests(min(1.0, interval))


def wait_for_planner_requests(seconds: float) -> None:
    """Between periodic tasks: queue a planner run as soon as committed events ask for one."""
    try:
        planner.run_when_requested(services(), timeout=seconds)
    except redis.RedisError:
        log.warning("no Redis for the planner's run requests; the sweeps cover them")
        time.sleep(seconds)


if __name__ == "__main__":
    main()
