"""Running Alembic migrations from code (release phase, tests, `make run`)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig

from scheduler.config import PROJECT_ROOT


def alembic_config(database_url: str) -> AlembicConfig:
    """An Alembic config pointing at our migrations and the given database."""
    config = AlembicConfig(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)
