"""A live Kindred server and Debian's Chromium (no browser downloads) for page tests."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.support.processes import children

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test app served over real HTTP on a free port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    """Playwright's driver, one per test process."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright_driver: Any) -> Iterator[Any]:
    """Headless Chromium from the system package, one per test, ended by killing it.

    Closing a context (or the browser) waits for Chromium to answer, and now and then it
    never does: a test hung in `context.close()` until the run's time limit. So no test
    closes anything; its Chromium is killed afterwards, with every page it had open."""
    chromium = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    for leader in _chromium_group_leaders():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leader, signal.SIGKILL)
    chromium.close()  # it is gone: this only lets Playwright forget it


def _chromium_group_leaders() -> list[int]:
    """The Chromium processes this test process started (through Playwright's driver),
    each the leader of its own process group, as Playwright launches them."""
    leaders, todo = [], [os.getpid()]
    while todo:
        for pid, cmdline in children(todo.pop()).items():
            todo.append(pid)
            try:
                leads = os.getpgid(pid) == pid
            except OSError:  # it has just ended
                continue
            if "chromium" in cmdline[0] and leads:
                leaders.append(pid)
    return leaders
