"""The worker and clock processes start on the configured backends and stop cleanly."""

from __future__ import annotations

import smtplib

import pytest
from rq import Worker

from tests.support.processes import running, wait_for

pytestmark = pytest.mark.e2e


def test_worker_joins_the_test_redis_and_stops_on_sigterm(app, config, redis_client, tmp_path):
    with running("worker", config, tmp_path, name="e2e-probe") as worker:
        # idle: past start-up (signal handlers installed), waiting for jobs
        wait_for(
            lambda: any(
                w.name == "e2e-probe" and w.get_state() == "idle"
                for w in Worker.all(connection=redis_client)
            )
        )
    assert worker.popen.returncode == 0, worker.log()[-2000:]
    assert not any(w.name == "e2e-probe" for w in Worker.all(connection=redis_client))


def test_clock_runs_and_stops_on_sigterm(app, config, tmp_path):
    with running("clock", config, tmp_path) as clock:
        wait_for(lambda: "clock started" in clock.log())
    assert clock.popen.returncode == 0


def test_smtp_sink_receives_mail(smtp_sink):
    with smtplib.SMTP("127.0.0.1", smtp_sink.controller.port) as smtp:
        smtp.sendmail(
            "a@example.org", ["b@example.org"], b"Message-ID: <x@y>\r\nSubject: hi\r\n\r\nbody"
        )
    assert smtp_sink.handler.message_ids() == ["<x@y>"]
