"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from scheduler.migrate import upgrade
from scheduler.models import Base
from scheduler.models.rsvp_function import FUNCTION_SIGNATURE


def test_migrations_match_the_models(backends, tmp_path):
    if backends.is_postgres:
        url = backends.database_url
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS migration_check CASCADE"))
            connection.execute(text("CREATE SCHEMA migration_check"))
        engine.dispose()
        url = url + ("&" if "?" in url else "?") + "options=-csearch_path%3Dmigration_check"
    else:
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        rsvp_function = (
            connection.execute(
                text("SELECT to_regprocedure(:signature)"),
                {"signature": f"migration_check.{FUNCTION_SIGNATURE}"},
            ).scalar()
            if backends.is_postgres
            else "not on SQLite"
        )
    engine.dispose()
    assert diff == [], f"models and migrations differ; regenerate the migration: {diff}"
    assert rsvp_function is not None, "the migrations did not install kindred_set_rsvp"
