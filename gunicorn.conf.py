"""gunicorn's settings for the web process: the Procfile's `web` and `make run` both read this.

Where it listens comes from the one config object (HOST, PORT: scheduler/config.py). How
requests are read (deadlines for the head and the body, the body cap) is the worker's, in
scheduler/http_server.py. A deployment may still override any gunicorn setting through
GUNICORN_CMD_ARGS, e.g. GUNICORN_CMD_ARGS="--threads 16".
"""

import os
from pathlib import Path

from scheduler.config import instance_path_from, listen_address

host, port = listen_address(os.environ)
bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
chdir = str(Path(__file__).resolve().parent)  # where wsgi.py is

# Processes, each an event loop that reads requests whole and hands them to its threads: a
# slow client holds a socket, never a thread (scheduler/http_server.py).
worker_class = "scheduler.http_server.BufferingWorker"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
# WSGI threads per process; each request holds one database connection at most, and the
# engine pools 10 per process (scheduler/extensions.py)
threads = 8
# idle keep-alive connections are closed after this many seconds
keepalive = 5
# a worker whose event loop stops answering gunicorn's heartbeat this long is replaced
timeout = 30
graceful_timeout = 30

accesslog = "-"

# Each instance its own control socket (gunicornc): by default every gunicorn on a host would
# take over the same one, and stopping one would remove another's.
control_socket = str(instance_path_from(os.environ) / f"gunicorn-{port}.ctl")
