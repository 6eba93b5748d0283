"""Shared fixtures: a real database and a real Redis, clean for every test.

By default the tests run on the embedded PostgreSQL and the embedded Redis, both started in
the session's temporary folder (a fresh machine needs no services). Set TEST_DATABASE_URL
(e.g. postgresql://postgres@127.0.0.1:5432/kindred_test) and TEST_REDIS_URL (e.g.
redis://127.0.0.1:6379/15) to run them against real servers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from scheduler import create_app
from scheduler.config import Config, normalise_database_url
from scheduler.embedded_postgres import ensure_embedded_postgres, stop_embedded_postgres
from scheduler.embedded_redis import ensure_embedded_redis, stop_embedded_redis
from scheduler.models import Base
from tests.support.accounts import confirm_address
from tests.support.smtp import smtp_sink  # noqa: F401 - a fixture for every test module

TEST_SECRET = "test-secret-key-not-for-production"


@dataclass(frozen=True)
class Backends:
    """Where the test database and Redis live for this run."""

    database_url: str
    redis_url: str
    root: Path

    external: bool  # TEST_DATABASE_URL: the machine's servers, not the embedded ones


@pytest.fixture(scope="session")
def backends() -> Iterator[Backends]:
    """Start the embedded servers if needed; create the schema once.

    The schema comes from the models; tests/test_migrations.py proves the Alembic migrations
    build the same schema.
    """
    root = Path(tempfile.mkdtemp(prefix="kt-"))
    external_database = os.environ.get("TEST_DATABASE_URL")
    # a throwaway database needs no fsync
    database_url = normalise_database_url(
        external_database or ensure_embedded_postgres(root / "postgres", durable=False)
    )
    redis_url = os.environ.get("TEST_REDIS_URL") or ensure_embedded_redis(root / "redis")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    engine.dispose()
    yield Backends(
        database_url=database_url,
        redis_url=redis_url,
        root=root,
        external=bool(external_database),
    )
    if not os.environ.get("TEST_REDIS_URL"):
        stop_embedded_redis(root / "redis")
    if not external_database:
        stop_embedded_postgres(root / "postgres")
    shutil.rmtree(root, ignore_errors=True)


def truncate_all(database_url: str, patience: str = "20s") -> None:
    """Empty every table for the next test. A connection the test left inside a transaction
    would make TRUNCATE wait for ever: after `patience` it is ended and named in the failure."""
    engine = create_engine(database_url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    names = ", ".join(f'"{name}"' for name in tables)
    truncate = text(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    try:
        with engine.begin() as connection:
            connection.execute(
                text("SELECT set_config('lock_timeout', :patience, true)"), {"patience": patience}
            )
            connection.execute(truncate)
    except OperationalError:
        with engine.begin() as connection:
            holders = connection.execute(text(LEFT_IN_A_TRANSACTION)).all()
            connection.execute(truncate)
        raise AssertionError(
            f"the test left connections in a transaction (ended): {holders}"
        ) from None
    finally:
        engine.dispose()


LEFT_IN_A_TRANSACTION = """
    SELECT pid, state, left(query, 200), pg_terminate_backend(pid)
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
"""


@pytest.fixture
def config(backends: Backends, tmp_path: Path) -> Config:
    """A test configuration: real backends, cheap password hashing, a fixed secret, no rate
    limits."""
    return Config.from_env(
        env={},
        instance_path=tmp_path / "instance",
        database_url=backends.database_url,
        redis_url=backends.redis_url,
        secret_key=TEST_SECRET,
        base_url="http://kindred.test",
        testing=True,
        password_time_cost=1,
        password_memory_cost=1024,
        # the suite signs up hundreds of people from one address; tests/*/test_rate_limits.py
        # turn the limits on
        ratelimit_enabled=False,
    )


@pytest.fixture
def redis_client(backends: Backends) -> redis.Redis:
    """A client for the test Redis."""
    return redis.Redis.from_url(backends.redis_url)


@pytest.fixture
def app(config: Config, backends: Backends, redis_client: redis.Redis) -> Iterator[Flask]:
    """A fresh app on a clean database and a flushed Redis."""
    redis_client.flushdb()
    application = create_app(config)
    yield application
    application.extensions["kindred"].close()
    truncate_all(backends.database_url)
    redis_client.flushdb()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask's test client."""
    return app.test_client()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """A database session of its own for arranging and checking data directly.

    It is not the request's session and pushes no app context, so requests made during the
    test get their own context, session and `g`, exactly as in production.
    """
    db = app.extensions["kindred"].db
    own = db.session_factory()
    yield own
    own.close()


class ApiClient:
    """A thin helper over the test client for signing up and calling the API as someone."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._count = 0

    def signup(
        self, name: str | None = None, *, verified: bool = True, **extra: Any
    ) -> dict[str, Any]:
        """Create a user and log in; returns the user's JSON plus `token` and `headers`.
        `verified`: the address counts as proved (its verify mail is dropped), as most tests
        of other things need."""
        self._count += 1
        name = name or f"Person {self._count}"
        body = {
            "email": extra.pop("email", f"person{self._count}@example.org"),
            "name": name,
            "password": extra.pop("password", "correct horse battery"),
            **extra,
        }
        response = self.client.post("/api/v1/users", json=body)
        assert response.status_code == 201, response.get_json()
        user = response.get_json()
        if verified:
            confirm_address(self.client.application, user["id"])
            user["email_verified"] = True
        token = self.client.post(
            "/api/v1/tokens", json={"email": body["email"], "password": body["password"]}
        ).get_json()["token"]
        user["token"] = token
        user["headers"] = {"Authorization": f"Bearer {token}"}
        return user

    def call(
        self, method: str, path: str, user: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Call the API as `user` (or anonymously)."""
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers.update(user["headers"])
        return self.client.open(path, method=method, headers=headers, **kwargs)


@pytest.fixture
def api(client: FlaskClient) -> ApiClient:
    """The API helper."""
    return ApiClient(client)
