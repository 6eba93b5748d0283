"""Bare redis-py Connections for the WSGI fast paths, reused most recently used first.

A bare Connection sends a command and reads its reply with none of the client's per-call
bookkeeping (pool checkout, retries, response callbacks), which is most of the cost of a
small command. The fast paths borrow one per request; there are as many as requests run at
once, not one per thread (a threaded server starts a thread per request).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler.extensions import Services


class BareRedisConnections:
    """Idle Connections to the app's Redis, made from its settings as needed."""

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
            yield connection
        except BaseException:
            connection.disconnect()
            raise
        self._give_back(connection)

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
