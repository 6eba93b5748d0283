"""Benchmark: 10,000 reminders due at once, sent by 2 worker processes to a local SMTP sink,
against one RQ no-op job per mail on the same 2 workers, in the same run.

Run: .venv/bin/python bench/fanout.py [--mails 10000] [--baseline-jobs 2000] [--workers 2]
                                     [--sink lean|aiosmtpd]

Needs PostgreSQL (database kindred_bench_fanout, created if missing) and Redis db 12 on
127.0.0.1; override with BENCH_DATABASE_URL / BENCH_REDIS_URL. The SMTP sink is a lean asyncio
SMTP server in a process of its own that advertises PIPELINING, as Postfix and Exim do
(tests/support/smtp.py); `--sink aiosmtpd` uses aiosmtpd (no PIPELINING) in a thread of this
process instead. Both runs (baseline and fan-out) share the sink and the workers.
Targets: >= 20x the one-job-per-mail rate and >= 500 reminders/s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import redis
from aiosmtpd.controller import Controller
from rq import Queue
from rq.registry import FinishedJobRegistry
from sqlalchemy import create_engine, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.config import PROJECT_ROOT, Config, normalise_database_url
from scheduler.models import (
    Base,
    Gathering,
    OutboxMessage,
    OutboxStatus,
    Rsvp,
    User,
    utcnow,
)
from scheduler.queues import MAIL
from tests.support.smtp import CountingSinkProcess

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kindred_bench_fanout"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
RATIO_TARGET = 20.0
RATE_TARGET = 500.0


class AiosmtpdCountingSink:
    """aiosmtpd handler that only counts what it accepts (and the distinct Message-IDs)."""

    def __init__(self) -> None:
        self.count = 0
        self.message_ids: set[str] = set()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content: bytes = envelope.content  # type: ignore[attr-defined]
        head = content.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                with self._lock:
                    self.message_ids.add(line.split(b":", 1)[1].strip().decode())
        with self._lock:
            self.count += 1
        return "250 OK"


def ensure_database(url: str) -> None:
    """Create the bench database if it does not exist yet."""
    base, _, name = url.rpartition("/")
    engine = create_engine(normalise_database_url(base + "/postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def arrange(url: str, mails: int) -> None:
    """A fresh schema; one gathering, `mails` attendees each owed a reminder due now."""
    engine = create_engine(normalise_database_url(url))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    now = utcnow()
    starts = now + timedelta(minutes=59)
    with engine.begin() as connection:
        connection.execute(
            insert(User),
            [
                {
                    "email": f"bench{i}@example.org",
                    "name": f"Bench Person {i}",
                    "password_hash": "!",
                    "timezone": ("UTC", "Europe/Berlin", "America/New_York")[i % 3],
                    "feed_token_nonce": "n",
                    "feed_token_hash": secrets.token_hex(32),
                }
                for i in range(mails + 1)
            ],
        )
        user_ids = list(connection.scalars(select(User.id).order_by(User.id)))
        gathering_id = connection.scalar(
            insert(Gathering)
            .values(
                uid="bench-fanout@kindred.test",
                title="Fan-out night",
                organizer_id=user_ids[0],
                timezone="Europe/Berlin",
                duration_minutes=120,
                status="scheduled",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                reminders=[60],
                followup_minutes=120,
                going_count=mails,
            )
            .returning(Gathering.id)
        )
        attendees = user_ids[1:]
        connection.execute(
            insert(Rsvp),
            [
                {"gathering_id": gathering_id, "user_id": u, "response": "yes", "state": "going"}
                for u in attendees
            ],
        )
        stamp = starts.strftime("%Y%m%dT%H%M%SZ")
        connection.execute(
            insert(OutboxMessage),
            [
                {
                    "key": f"reminder:{gathering_id}:{u}:60:{stamp}",
                    "kind": "reminder",
                    "gathering_id": gathering_id,
                    "recipient_id": u,
                    "recipient_email": f"bench{i + 1}@example.org",
                    "due_at": now - timedelta(seconds=1),
                    "status": OutboxStatus.PENDING,
                    "attempts": 0,
                    "payload": {"starts_at": starts.isoformat(), "offset": 60},
                }
                for i, u in enumerate(attendees)
            ],
        )
    engine.dispose()


def start_workers(count: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    """`python -m workers` processes (they fork a work horse per job, as in production)."""
    procs = []
    for n in range(count):
        log = open(logs / f"worker{n}.log", "wb")  # noqa: SIM115 - lives as long as the worker
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "workers", "--name", f"bench-{n}-{os.getpid()}"],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return procs


def wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll until `condition()`; fail loudly on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def main() -> None:
    """Arrange, start the sink and workers, measure the baseline and the fan-out, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--baseline-jobs", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--batch-size", type=int, default=Config.outbox_batch_size, help="default: the product's"
    )
    parser.add_argument("--sink", choices=("lean", "aiosmtpd"), default="lean")
    args = parser.parse_args()

    ensure_database(DATABASE_URL)
    started = time.monotonic()
    arrange(DATABASE_URL, args.mails)
    print(f"arranged {args.mails} reminders due now in {time.monotonic() - started:.1f} s")

    if args.sink == "lean":
        lean = CountingSinkProcess()
        port = lean.port
    else:
        handler = AiosmtpdCountingSink()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()
    instance = Path(tempfile.mkdtemp(prefix="kindred-bench-"))
    env = dict(os.environ) | {
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "SECRET_KEY": "bench-secret",
        "BASE_URL": "http://kindred.bench",
        "KINDRED_INSTANCE_PATH": str(instance),
        "OUTBOX_BATCH_SIZE": str(args.batch_size),
        "PYTHONUNBUFFERED": "1",
    }
    workers = start_workers(args.workers, env, instance)
    queue = Queue(MAIL, connection=connection)
    try:
        wait(lambda: len(connection.smembers("rq:workers")) >= args.workers, 30, "workers to start")

        # baseline: one RQ job per mail, doing nothing at all
        finished = FinishedJobRegistry(MAIL, connection=connection)
        t0 = time.monotonic()
        with connection.pipeline() as pipe:
            for _ in range(args.baseline_jobs):
                queue.enqueue("os.getpid", pipeline=pipe, result_ttl=600)
            pipe.execute()
        wait(lambda: finished.count >= args.baseline_jobs, 600, "the no-op jobs")
        baseline = args.baseline_jobs / (time.monotonic() - t0)

        # the outbox: one delivery job per worker, each sending batch after batch
        engine = create_engine(normalise_database_url(DATABASE_URL))

        def sent() -> int:
            with engine.connect() as c:
                return int(
                    c.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.SENT))
                    or 0
                )

        t0 = time.monotonic()
        for _ in range(args.workers):
            queue.enqueue("workers.mail.deliver_due", job_timeout=900)
        wait(lambda: sent() >= args.mails, 900, "the reminders")
        elapsed = time.monotonic() - t0
        rate = args.mails / elapsed
        engine.dispose()
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.sink == "lean":
            accepted, message_ids = lean.stop()
        else:
            controller.stop()
            accepted, message_ids = handler.count, list(handler.message_ids)

    ratio = rate / baseline
    print(f"one RQ no-op job per mail: {baseline:8.1f} jobs/s ({args.baseline_jobs} jobs)")
    print(
        f"outbox fan-out:            {rate:8.1f} reminders/s "
        f"({args.mails} in {elapsed:.1f} s, {args.workers} workers, batches of {args.batch_size})"
    )
    print(
        f"SMTP sink ({args.sink}): {accepted} accepted, "
        f"{len(set(message_ids))} distinct Message-IDs"
    )
    print(
        f"ratio: {ratio:.1f}x (target >= {RATIO_TARGET:.0f}x); rate target >= {RATE_TARGET:.0f}/s"
    )
    ok = ratio >= RATIO_TARGET and rate >= RATE_TARGET and len(set(message_ids)) == args.mails
    print("PASS" if ok else "BELOW TARGET (figures are noisy on a shared machine)")


if __name__ == "__main__":
    main()
