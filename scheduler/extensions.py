"""Database engine and sessions, the Redis connection and the job queues.

Plain SQLAlchemy (no Flask-SQLAlchemy) so the web app, the RQ workers and the clock share
the same session factory and models.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import redis
from rq import Queue
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from scheduler.config import Config
from scheduler.embedded_redis import ensure_embedded_redis

log = logging.getLogger(__name__)

_AFTER_COMMIT = "after_commit_callbacks"


def connection_options(database_url: str) -> str:
    """libpq `options` for every connection: the URL's own (e.g. a search_path), plus UTC as
    the session time zone, so timestamps read back are aware UTC."""
    options = make_url(database_url).query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    return f"{options} -c timezone=UTC".strip()


def make_engine(database_url: str) -> Engine:
    """A PostgreSQL engine whose sessions run in UTC."""
    return create_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        # connect_args replaces the URL's own options: connection_options keeps them
        connect_args={"options": connection_options(database_url)},
    )


class Database:
    """Engine plus a thread-scoped session, shared by web requests and worker jobs."""

    def __init__(self, database_url: str, info: dict[str, Any] | None = None) -> None:
        self.engine = make_engine(database_url)
        # `info` travels with every session: services find the job enqueuer there
        self.session_factory = sessionmaker(
            bind=self.engine, expire_on_commit=False, info=dict(info or {})
        )
        self.session = scoped_session(self.session_factory)

    def remove(self) -> None:
        """End the current thread's session (request teardown, end of a job)."""
        self.session.remove()

    def dispose(self) -> None:
        """Close pooled connections (after fork, at shutdown)."""
        self.session.remove()
        self.engine.dispose()


def after_commit(
    session: Session, callback: Callable[[], None], *, once_as: str | None = None
) -> None:
    """Run `callback` once the session's current transaction commits; drop it on rollback.

    Services use this to enqueue jobs: a worker must never look for a row that the web
    request has not committed yet. With `once_as`, a second callback under the same name in
    the same transaction is dropped (e.g. one delivery kick however many mails were owed).
    """
    callbacks = session.info.setdefault(_AFTER_COMMIT, [])
    if once_as is not None:
        if any(getattr(pending, "_once_as", None) == once_as for pending in callbacks):
            return
        callback._once_as = once_as  # type: ignore[attr-defined]
    callbacks.append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    # SQLAlchemy 2.1 fires after_commit for a released SAVEPOINT too: wait for the real commit
    if session.in_nested_transaction():
        return
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, _previous_transaction: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_AFTER_COMMIT, None)


def redis_url_for(config: Config) -> str:
    """The configured Redis URL, or the embedded server's (started on first use)."""
    return config.redis_url or ensure_embedded_redis(config.instance_path)


def make_redis(config: Config) -> redis.Redis:
    """A Redis connection for the configured or embedded server."""
    return redis.Redis.from_url(redis_url_for(config), socket_timeout=10, socket_connect_timeout=5)


class BareRedisConnections:
    """Bare redis-py Connections to the app's Redis, reused most recently used first.

    A bare Connection sends commands and reads their replies with none of the client's
    per-call bookkeeping (pool checkout, retries, response callbacks), which is most of the
    cost of a small command: the per-request Redis work of the WSGI fast paths and the event
    listeners goes this way. There are as many as requests run at once, not one per thread
    (a threaded server starts a thread per request). Commands sent without waiting
    (`send_and_forget`) leave their replies on the connection; they are read, and dropped,
    when it is next taken.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._owner: tuple[int, Any] = (os.getpid(), None)
        services.on_close(self.close)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for one request's commands; one that failed is not reused."""
        connection = self._take()
        try:
            self._drop_replies(connection)
            yield connection
        except BaseException:
            connection.disconnect()
            raise
        self._give_back(connection)

    def send_and_forget(self, commands: Sequence[tuple[Any, ...]]) -> None:
        """Send the commands in one write and go on without waiting for their replies."""
        with self.connection() as connection:
            connection.send_packed_command(connection.pack_commands(commands))
            connection.kindred_unread_replies = len(commands)

    @staticmethod
    def _drop_replies(connection: Any) -> None:
        unread = getattr(connection, "kindred_unread_replies", 0)
        connection.kindred_unread_replies = 0
        for _ in range(unread):
            try:
                connection.read_response()
            except redis.ResponseError:
                log.warning("a command sent without waiting failed", exc_info=True)

    def close(self) -> None:
        """Disconnect the idle connections (at shutdown)."""
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._owner[0] == os.getpid()
        for connection in idle if mine else ():
            connection.disconnect()

    def _take(self) -> Any:
        client = self.services.redis
        with self._lock:
            if self._owner != (os.getpid(), client):
                # after a fork the parent's connections are forgotten (not shut down: that
                # would cut the parent's too); a replaced client's are simply dropped
                self._idle, self._owner = [], (os.getpid(), client)
            if self._idle:
                return self._idle.pop()
        pool = client.connection_pool
        return pool.connection_class(**pool.connection_kwargs)

    def _give_back(self, connection: Any) -> None:
        with self._lock:
            if self._owner[0] == os.getpid():
                self._idle.append(connection)
                return
        connection.disconnect()


class Services:
    """Everything a process needs to talk to the outside: built once per process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = Database(config.database_url, info={"services": self})
        self._redis: redis.Redis | None = None
        self._on_close: list[Callable[[], None]] = []
        self.bare_redis = BareRedisConnections(self)

    @property
    def redis(self) -> redis.Redis:
        """The Redis connection, created lazily so a process without Redis still starts."""
        if self._redis is None:
            self._redis = make_redis(self.config)
        return self._redis

    def on_close(self, close: Callable[[], None]) -> None:
        """Also call `close` in close(): connections the fast paths hold outside the pools."""
        self._on_close.append(close)

    def close(self) -> None:
        """Release every connection this process holds (at shutdown; tests, between apps)."""
        self.db.dispose()
        if self._redis is not None:
            self._redis.connection_pool.disconnect()
        for close in self._on_close:
            close()

    def queue(self, name: str) -> Queue:
        """The RQ queue of that name on our Redis."""
        return Queue(name, connection=self.redis)

    def enqueue(
        self,
        job: str,
        *args: Any,
        queue: str,
        job_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Enqueue `job` (a dotted path) now, or at `at` (needs a worker with --with-scheduler).

        A Redis outage is logged, not raised: the database is the source of truth and the
        clock's sweeps enqueue whatever is still owed.
        """
        try:
            q = self.queue(queue)
            if at is None:
                q.enqueue(job, *args, job_id=job_id, failure_ttl=7 * 86400)
            else:
                q.enqueue_at(at, job, *args, job_id=job_id, failure_ttl=7 * 86400)
        except redis.RedisError:
            log.warning("could not enqueue %s%r; the next sweep will", job, args, exc_info=True)

    def enqueue_once(
        self, job: str, *args: Any, queue: str, flag: str, ttl_seconds: int = 30
    ) -> bool:
        """Enqueue `job` unless a run of it is already waiting (the job calls `clear_flag`
        as it starts): a burst of triggers queues one run. True when this call enqueued.

        Without Redis the job is enqueued anyway (or not at all): a second run is harmless.
        """
        try:
            if not self.redis.set(flag, 1, nx=True, ex=ttl_seconds):
                return False
        except redis.RedisError:
            pass
        self.enqueue(job, *args, queue=queue)
        return True

    def clear_flag(self, flag: str) -> None:
        """A job flagged by `enqueue_once` has started: later triggers queue a new run."""
        try:
            self.redis.delete(flag)
        except redis.RedisError:
            log.warning("could not clear the queued-job flag %s", flag, exc_info=True)


def current_services() -> Services:
    """The Services of the current Flask app."""
    from flask import current_app

    return current_app.extensions["kindred"]  # type: ignore[no-any-return]


def db_session() -> Session:
    """The current thread's database session."""
    return current_services().db.session()  # type: ignore[no-any-return]


def enqueue_after_commit(
    session: Session,
    job: str,
    *args: Any,
    queue: str,
    job_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Enqueue a job once the session commits (never before: the worker must see the rows)."""
    services: Services = session.info["services"]
    after_commit(session, lambda: services.enqueue(job, *args, queue=queue, job_id=job_id, at=at))
