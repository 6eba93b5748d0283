"""`python -m workers`: an RQ worker with its scheduler, on the configured Redis."""

from __future__ import annotations

import argparse
import logging
import os

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
    # RQ has stopped its scheduler and left its channel. Once in a few CI runs the interpreter's
    # own finalization then hung past 30 s after a clean SIGTERM (cause not found): there is
    # nothing left to finalize, so leave at once.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
