"""Calendar replies end to end: invites made by Kindred, answered by calendar libraries
(icalendar, ical.js) and mailed by SMTP to the real `inbound` process (Procfile)."""

from __future__ import annotations

import smtplib
import socket
import sys

import pytest

from tests.support.calendar_reply import organizer_of, reply_icalendar, reply_icaljs, reply_mail
from tests.support.processes import ManagedProcess, process_env, wait_for
from tests.web.test_calendar_replies import db, gathering, invites, my_answer, rsvp  # noqa: F401

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def inbound(config, tmp_path):
    """The Procfile's inbound process on a free port; yields its port."""
    port = _free_port()
    process = ManagedProcess(
        [sys.executable, "-m", "workers.inbound"],
        process_env(config, INBOUND_SMTP_PORT=str(port)),
        tmp_path / "inbound.log",
    )
    try:
        try:
            wait_for(lambda: _listening(port), timeout=30)
        except AssertionError:
            print(process.log())
            raise
        yield port, process
    finally:
        process.stop()


def send(port: int, raw: bytes, sender: str, to: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(sender, [to], raw)


def test_accept_decline_and_a_forgery_by_smtp(api, db, config, inbound):  # noqa: F811
    port, process = inbound
    olga, ann, bob, cid = (api.signup(n) for n in ("Olga", "Ann", "Bob", "Cid"))
    g = gathering(api, olga, capacity=1)
    rsvp(api, g, ann, "maybe")
    rsvp(api, g, bob)
    rsvp(api, g, cid)  # waitlisted behind nobody else
    sent = invites(db, config)

    # Ann accepts in Thunderbird (ical.js): the seat is Bob's, so she waits
    _, ann_invite = sent[ann["id"]]
    to = organizer_of(ann_invite)
    send(
        port,
        reply_mail(reply_icaljs(ann_invite, ann["email"], "ACCEPTED"), sender=ann["email"], to=to),
        ann["email"],
        to,
    )
    try:
        wait_for(lambda: my_answer(api, g, ann) == "waitlisted", timeout=20)
    except AssertionError:
        print(process.log())
        raise

    # a forged address for Bob changes nothing
    _, bob_invite = sent[bob["id"]]
    forged = organizer_of(bob_invite)[:-20] + "aaaa" + organizer_of(bob_invite)[-16:]
    send(
        port,
        reply_mail(
            reply_icalendar(bob_invite, bob["email"], "DECLINED"), sender=bob["email"], to=forged
        ),
        bob["email"],
        forged,
    )
    # Bob declines for real (icalendar): Cid, first on the waitlist, gets the seat
    to = organizer_of(bob_invite)
    send(
        port,
        reply_mail(
            reply_icalendar(bob_invite, bob["email"], "DECLINED"), sender=bob["email"], to=to
        ),
        bob["email"],
        to,
    )
    wait_for(lambda: my_answer(api, g, cid) == "going", timeout=20)
    assert my_answer(api, g, bob) is None  # "no" is shown to organizers only
    assert my_answer(api, g, ann) == "waitlisted"
    log = process.log()
    assert "bad_address" in log and log.count("inbound mail: answered") == 2
