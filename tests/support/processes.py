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
        self._kill_group()
        self.popen.wait(10)

    def stop(self) -> None:
        """Ask politely, then insist; nothing it started outlives it."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                # a loaded 2-core CI machine can take a while for RQ's warm shutdown
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._kill_group()
        self._log.close()

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)


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
