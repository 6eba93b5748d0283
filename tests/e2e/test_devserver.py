"""`make run` (scheduler/devserver.py): a crashed worker comes back; web failing stops it all."""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.test_slow_clients import answers, free_port
from tests.support.processes import ManagedProcess, children, wait_for

pytestmark = pytest.mark.e2e

SCHEMA = "devserver_check"


@pytest.fixture
def devserver_env(backends, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a devserver on the test backends, migrating a schema of its own
    (`public` holds the models' tables, which the migrations would not create again)."""
    engine = create_engine(backends.database_url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    url = backends.database_url
    url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{SCHEMA}"
    yield {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "DATABASE_URL": url,
        "REDIS_URL": backends.redis_url,
        "SECRET_KEY": "devserver-test-secret",
        "KINDRED_INSTANCE_PATH": str(tmp_path / "instance"),
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
        "SWEEP_INTERVAL_SECONDS": "60",
        "PYTHONUNBUFFERED": "1",
    }
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    engine.dispose()


def child_running(pid: int, *module: str) -> int | None:
    """The pid of `pid`'s child running `python -m <module>`, if there is one."""
    for child, cmdline in children(pid).items():
        if cmdline[1:] == ["-m", *module]:
            return child
    return None


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_devserver(env: dict[str, str], tmp_path: Path) -> ManagedProcess:
    return ManagedProcess(
        [sys.executable, "-m", "scheduler.devserver"], env, tmp_path / "devserver.log"
    )


def test_a_killed_worker_is_started_again_and_sigterm_stops_everything(devserver_env, tmp_path):
    port = int(devserver_env["PORT"])
    devserver = start_devserver(devserver_env, tmp_path)
    try:
        wait_for(lambda: answers(port), timeout=60)
        pid = devserver.popen.pid
        worker = wait_for(lambda: child_running(pid, "workers"))
        clock = child_running(pid, "workers.clock")
        assert isinstance(worker, int) and clock is not None

        os.kill(worker, signal.SIGKILL)
        again = wait_for(lambda: (child_running(pid, "workers") or worker) != worker, timeout=10)
        assert again
        log = devserver.log()
        assert "worker exited with -9; restarting it in 1 s" in log
        assert "worker started again" in log
        # nothing else was touched: the same clock, and web still answers
        assert child_running(pid, "workers.clock") == clock
        assert answers(port)

        everyone = children(pid)
        devserver.popen.send_signal(signal.SIGTERM)
        assert devserver.popen.wait(30) == 0
        assert [child for child in everyone if alive(child)] == []
        assert not answers(port)
    except BaseException:
        print(devserver.log()[-4000:])
        raise
    finally:
        devserver.stop()


def test_when_web_cannot_start_everything_stops(devserver_env, tmp_path):
    port = int(devserver_env["PORT"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        devserver = start_devserver(devserver_env, tmp_path)
        try:
            seen: dict[int, list[str]] = {}

            def stopped() -> bool:
                for child, cmdline in children(devserver.popen.pid).items():
                    seen.setdefault(child, cmdline)
                return devserver.popen.poll() is not None

            wait_for(stopped, timeout=60)
            assert devserver.popen.returncode != 0
            assert "web exited with" in devserver.log()
            assert any(cmdline[1:] == ["-m", "workers"] for cmdline in seen.values()), seen
            assert [child for child in seen if alive(child)] == []
        except BaseException:
            print(devserver.log()[-4000:])
            raise
        finally:
            devserver.stop()
