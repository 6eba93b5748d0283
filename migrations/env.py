"""Alembic environment: the database URL comes from Kindred's config object."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from scheduler.config import Config
from scheduler.models import Base

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    """The URL given by the caller (tests, CLI) or the environment's."""
    return config.attributes.get("database_url") or Config.from_env().database_url


def run_migrations_offline() -> None:
    """Emit SQL without a database."""
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations to the database."""
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = create_engine(database_url())
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
