"""The embedded PostgreSQL: started once, joined by every other process, restartable."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, make_url, text

from scheduler.config import Config, embedded_postgres_path
from scheduler.embedded_postgres import (
    SOCKET_NAME,
    SOCKET_PATH_MAX,
    ensure_embedded_postgres,
    stop_embedded_postgres,
)


def _current_database(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT current_database()")).scalar())
    finally:
        engine.dispose()


def _postmaster_pid(directory: Path) -> int:
    return int((directory / "data" / "postmaster.pid").read_text().split("\n", 1)[0])


@pytest.fixture
def directory(tmp_path: Path):
    """A place for a server of the test's own, stopped afterwards whatever happens."""
    path = tmp_path / "postgres"
    yield path
    stop_embedded_postgres(path)


def test_processes_join_one_server_that_survives_a_kill(directory):
    url = ensure_embedded_postgres(directory, durable=False)
    assert make_url(url).query["host"] == str(directory)
    assert _current_database(url) == "kindred"
    # another process joins the same server: same URL, same postmaster
    pid = _postmaster_pid(directory)
    joined = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from scheduler.embedded_postgres import ensure_embedded_postgres as e; "
         "print(e(Path(sys.argv[1])))", str(directory)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert joined.stdout.strip() == url
    assert _postmaster_pid(directory) == pid
    # killed outright, it leaves postmaster.pid behind; the next start clears it and recovers
    os.kill(pid, signal.SIGKILL)
    assert ensure_embedded_postgres(directory, durable=False) == url
    assert _postmaster_pid(directory) != pid
    assert _current_database(url) == "kindred"
    # a stale postmaster.pid naming a live process that is not our server does not block
    stop_embedded_postgres(directory)
    (directory / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n{directory / 'data'}\n")
    assert ensure_embedded_postgres(directory, durable=False) == url
    assert _current_database(url) == "kindred"


def test_stop_ends_the_server_and_a_stopped_one_is_started_again(directory):
    url = ensure_embedded_postgres(directory, durable=False)
    stop_embedded_postgres(directory)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=str(directory), user="postgres", dbname="kindred").close()
    assert ensure_embedded_postgres(directory, durable=False) == url
    assert _current_database(url) == "kindred"


def test_a_path_too_long_for_a_socket_puts_the_socket_in_a_short_directory(tmp_path):
    directory = tmp_path / ("x" * (SOCKET_PATH_MAX - len(str(tmp_path)))) / "postgres"
    assert len(str(directory / SOCKET_NAME)) > SOCKET_PATH_MAX
    try:
        url = ensure_embedded_postgres(directory, durable=False)
        socket_dir = Path(make_url(url).query["host"])  # type: ignore[arg-type]
        assert socket_dir.parent == Path("/tmp")
        assert (directory / "data" / "PG_VERSION").exists()
        assert _current_database(url) == "kindred"
    finally:
        stop_embedded_postgres(directory)
    assert not socket_dir.exists()


def test_config_without_database_url_uses_the_embedded_server_in_the_instance(tmp_path):
    instance = tmp_path / "instance"
    try:
        config = Config.from_env(env={"KINDRED_INSTANCE_PATH": str(instance)})
        assert config.database_url == ensure_embedded_postgres(embedded_postgres_path(instance))
        assert _current_database(config.database_url) == "kindred"
        external = Config.from_env(env={"DATABASE_URL": "postgres://u@db.example:5432/k"})
        assert external.database_url == "postgresql+psycopg://u@db.example:5432/k"
    finally:
        stop_embedded_postgres(embedded_postgres_path(instance))


@pytest.mark.skipif(os.geteuid() != 0, reason="only root creates the server's system user")
def test_processes_creating_the_system_user_at_once_all_run_as_the_one_created():
    """On a fresh machine two test processes each ran useradd: the second entry replaced the
    first, and initdb then ran as a uid that no longer existed."""
    name = f"kindred-race-{os.getpid()}"
    program = (
        "import sys, scheduler.embedded_postgres as e; e.SYSTEM_USER = sys.argv[1]; "
        "print('ready', flush=True); sys.stdin.readline(); print(e._system_user().pw_uid)"
    )
    try:
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", program, name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        for racer in racers:  # all imported, then released together
            assert racer.stdout.readline() == "ready\n"
        for racer in racers:
            racer.stdin.write("go\n")
            racer.stdin.flush()
        uids = {int(racer.communicate(timeout=60)[0]) for racer in racers}
        assert uids == {pwd.getpwnam(name).pw_uid}
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
        subprocess.run(["groupdel", name], capture_output=True, check=False)
