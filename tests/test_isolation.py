"""Each test starts on empty tables, even after a test that left a transaction open."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, func, select, text

from scheduler.models import User
from tests.conftest import truncate_all


def test_a_connection_left_in_a_transaction_is_ended_named_and_the_tables_emptied(
    app, api, backends
):
    api.signup("Left behind")
    forgotten = create_engine(backends.database_url).connect()
    forgotten.execute(select(func.count()).select_from(User))  # holds a lock on users
    started = time.monotonic()
    try:
        with pytest.raises(AssertionError, match="left connections in a transaction") as failure:
            truncate_all(backends.database_url, patience="200ms")
        assert "SELECT count(*)" in str(failure.value)
        assert time.monotonic() - started < 10
        with app.extensions["kindred"].db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 0
    finally:
        forgotten.invalidate()
        forgotten.engine.dispose()
