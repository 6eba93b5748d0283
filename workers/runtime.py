"""Per-process access to config, database and Redis for jobs and the clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.extensions import Services
from scheduler.services import reactions

_services: Services | None = None
_pid: int | None = None


def services() -> Services:
    """This process's Services; rebuilt after a fork so no connection crosses processes."""
    global _services, _pid
    if _services is None or _pid != os.getpid():
        _services = Services(Config.from_env())
        _pid = os.getpid()
        reactions.wire()
    return _services


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = services().db.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
