"""The Procfile's web process keeps answering while 50 connections drip header bytes at it."""

from __future__ import annotations

import http.client
import math
import os
import select
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from scheduler.config import PROJECT_ROOT, Config
from scheduler.http_server import REQUEST_HEAD_SECONDS
from tests.support.processes import ManagedProcess, process_env, wait_for

pytestmark = pytest.mark.e2e

DRIPPING_CONNECTIONS = 50
DRIP_EVERY_SECONDS = 0.5
MEASURE_SECONDS = 6.0


def procfile_command(process: str) -> str:
    """The Procfile's command line for `process`."""
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise AssertionError(f"the Procfile has no {process} process")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthz(port: int, timeout: float = 5.0) -> int:
    """GET /healthz on a fresh connection; its status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def answers(port: int) -> bool:
    try:
        return healthz(port, timeout=2.0) == 200
    except OSError:
        return False


def start_web(config: Config, tmp_path: Path, port: int) -> ManagedProcess:
    """The Procfile's `web` line, run by a shell as a platform would, on the test backends."""
    venv_bin = str(Path(sys.executable).parent)
    env = process_env(config, PORT=str(port), PATH=venv_bin + os.pathsep + os.environ["PATH"])
    command = ["/bin/sh", "-c", "exec " + procfile_command("web")]
    return ManagedProcess(command, env, tmp_path / "web.log")


class Drips:
    """Connections that each send a request line, then one header line every half second,
    until the server answers or closes them."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        self.opened = time.monotonic()
        self.closed_after: dict[int, float] = {}  # connection → seconds until the server closed it
        self.replies: dict[int, bytes] = {}  # what the server sent before closing
        self._stop = threading.Event()
        for sock in self.sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: kindred.test\r\n")
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _drip(self) -> None:
        line = 0
        while not self._stop.is_set():
            open_ = [sock for n, sock in enumerate(self.sockets) if n not in self.closed_after]
            if not open_:
                return
            # waiting on the sockets, not a sleep: an answer is read before the next byte goes
            readable, _, _ = select.select(open_, [], [], DRIP_EVERY_SECONDS)
            for sock in readable:
                self._read_to_the_end(sock)
            line += 1
            for number, sock in enumerate(self.sockets):
                if number not in self.closed_after:
                    try:
                        sock.sendall(b"X-Drip-%d: a\r\n" % line)
                    except OSError:
                        self._read_to_the_end(sock)

    def _read_to_the_end(self, sock: socket.socket) -> None:
        number = self.sockets.index(sock)
        received = b""
        sock.settimeout(1.0)
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except OSError:
            pass
        self.replies[number] = received
        self.closed_after[number] = time.monotonic() - self.opened

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def test_healthz_stays_fast_while_fifty_connections_drip_header_bytes(config, tmp_path):
    port = free_port()
    web = start_web(config, tmp_path, port)
    drips = None
    try:
        wait_for(lambda: answers(port), timeout=30)
        drips = Drips(port, DRIPPING_CONNECTIONS)
        time.sleep(2 * DRIP_EVERY_SECONDS)  # every connection is mid-header by now

        took = []
        measured_until = time.monotonic() + MEASURE_SECONDS
        while time.monotonic() < measured_until:
            started = time.monotonic()
            assert healthz(port) == 200
            took.append(time.monotonic() - started)
            time.sleep(0.05)
        took.sort()
        p95 = took[math.ceil(0.95 * len(took)) - 1]
        assert p95 < 1.0, f"/healthz p95 {p95:.3f} s while {DRIPPING_CONNECTIONS} drip; {took}"
        # they were all still holding their connections open the whole time
        assert drips.closed_after == {}, drips.closed_after

        # and none holds it for ever: the server answers 408 once the head deadline passes
        wait_for(lambda: len(drips.closed_after) == DRIPPING_CONNECTIONS, timeout=8.0)
        assert min(drips.closed_after.values()) >= REQUEST_HEAD_SECONDS - 0.5
        assert max(drips.closed_after.values()) <= REQUEST_HEAD_SECONDS + 2.0
        assert {reply.split(b"\r\n", 1)[0] for reply in drips.replies.values()} == {
            b"HTTP/1.1 408 Request Timeout"
        }
        assert answers(port)
    except BaseException:
        print(web.log()[-4000:])
        raise
    finally:
        if drips is not None:
            drips.close()
        web.stop()
