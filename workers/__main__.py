"""`python -m workers`: an RQ worker with its scheduler, on the configured Redis."""

from __future__ import annotations

import argparse

from rq import Worker

from scheduler.config import configure_logging
from scheduler.queues import ALL_QUEUES
from workers.runtime import services


class KindredWorker(Worker):
    """RQ's worker, its command channel read in waits of a second rather than RQ's 60: leaving
    the channel on shutdown needs the connection that read holds (redis-py's pub/sub lock), so
    a warm shutdown could take up to a minute, and was killed after 30 s in CI."""

    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )


def main() -> None:
    """Work the queues until stopped."""
    parser = argparse.ArgumentParser(description="Kindred RQ worker")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    configure_logging()
    process = services()
    worker = KindredWorker(
        [process.queue(name) for name in ALL_QUEUES], connection=process.redis, name=args.name
    )
    worker.work(with_scheduler=True, burst=args.burst, logging_level="INFO")


if __name__ == "__main__":
    main()
