"""`python -m workers`: an RQ worker with its scheduler, on the configured Redis."""

from __future__ import annotations

import argparse

from rq import Worker

from scheduler.config import configure_logging
from scheduler.queues import ALL_QUEUES
from workers.runtime import services


def main() -> None:
    """Work the queues until stopped."""
    parser = argparse.ArgumentParser(description="Kindred RQ worker")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    configure_logging()
    process = services()
    worker = Worker(
        [process.queue(name) for name in ALL_QUEUES], connection=process.redis, name=args.name
    )
    worker.work(with_scheduler=True, burst=args.burst, logging_level="INFO")


if __name__ == "__main__":
    main()
