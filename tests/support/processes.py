"""Real worker and clock processes for end-to-end tests, on the test database and Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scheduler.config import PROJECT_ROOT, Config


def process_env(config: Config, **extra: str) -> dict[str, str]:
    """The environment a worker/clock process needs to share the test's backends."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": config.database_url,
            "REDIS_URL": config.redis_url or "",
            "SECRET_KEY": config.secret_key,
            "BASE_URL": config.base_url,
            "KINDRED_INSTANCE_PATH": str(config.instance_path),
            "MAIL_FROM": config.mail_from,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if config.smtp_url:
        env["SMTP_URL"] = config.smtp_url
    env.update(extra)
    return env


def children(pid: int) -> dict[int, list[str]]:
    """The live child processes of `pid`: their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue  # gone meanwhile
        # an exiting process (not yet a zombie) shows an empty command line
        if int(fields[1]) == pid and fields[0] != "Z" and any(cmdline):
            found[int(stat.parent.name)] = [part.decode() for part in cmdline if part]
    return found


class ManagedProcess:
    """A child process whose output goes to a log file the test can show on failure.

    It leads a process group of its own, so that what it started (RQ's work horse) is ended
    with it: a horse left behind inside a transaction would hold its locks past the test."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=PROJECT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to it and everything it started, as a crashed machine would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        """Ask politely, then insist; nothing it started outlives it."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            # a loaded 2-core CI machine can take a while for RQ's warm shutdown
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(30)
        self.kill()
        self._log.close()


@contextmanager
def running(
    kind: str, config: Config, tmp_path: Path, *, name: str | None = None, **extra_env: str
) -> Iterator[ManagedProcess]:
    """Run `python -m workers` (kind="worker") or `python -m workers.clock` (kind="clock")."""
    module = {"worker": "workers", "clock": "workers.clock"}[kind]
    args = [sys.executable, "-m", module]
    if kind == "worker" and name:
        args += ["--name", name]
    label = name or kind
    process = ManagedProcess(args, process_env(config, **extra_env), tmp_path / f"{label}.log")
    try:
        yield process
    finally:
        process.stop()


def wait_for(
    condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.1
) -> object:
    """Poll `condition` until it returns something truthy; fail with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)
