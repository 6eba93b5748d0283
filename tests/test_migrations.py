"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, text

from scheduler.migrate import upgrade
from scheduler.models import Base

FUNCTIONS_SQL = text(
    "SELECT proname, pg_get_function_identity_arguments(oid), prosrc FROM pg_proc"
    " WHERE pronamespace = current_schema()::regnamespace"
)


def _functions(connection: Connection) -> set[tuple[str, str, str]]:
    """The database functions in the connection's schema: name, arguments, body."""
    return {tuple(row) for row in connection.execute(FUNCTIONS_SQL)}  # type: ignore[misc]


def test_migrations_match_the_models(backends):
    # the migrations run into a schema of their own; `public` holds the models' create_all
    engine = create_engine(backends.database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS migration_check CASCADE"))
        connection.execute(text("CREATE SCHEMA migration_check"))
        from_models = _functions(connection)
    engine.dispose()
    url = backends.database_url
    url += ("&" if "?" in url else "?") + "options=-csearch_path%3Dmigration_check"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        from_migrations = _functions(connection)
    engine.dispose()
    assert diff == [], f"models and migrations differ; regenerate the migration: {diff}"
    assert from_models, "create_all installed no database function"
    assert from_migrations == from_models, "the migrations install other database functions"
