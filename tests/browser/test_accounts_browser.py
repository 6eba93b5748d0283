"""Accounts in a real browser, through real mail: sign up, confirm the address from the mail,
sign in by a mailed link in another browser (no password typed) and answer a poll there."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from scheduler.config import Config
from scheduler.models import AvailabilityInterval, User
from scheduler.services.mail import delivery
from tests.browser.test_poll_flow import Visitor
from tests.support.mail import run_planner

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

BERLIN = ZoneInfo("Europe/Berlin")
LINK = re.compile(r"http://kindred\.test(/account/[a-z-]+/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def config(config: Config, smtp_sink: Any) -> Config:
    """The test config, mailing the test SMTP server."""
    return dataclasses.replace(config, smtp_url=smtp_sink.url)


def deliver(app: Any) -> None:
    run_planner(app)
    delivery.deliver_due(app.extensions["kindred"])


def link_for(sink: Any, address: str, kind: str) -> str:
    """The path of the link in the latest mail of `kind` to `address`."""
    mails = [
        m
        for m in sink.messages
        if m["To"].addresses[0].addr_spec == address and m["X-Kindred-Kind"] == kind
    ]
    assert mails, [(m["To"], m["X-Kindred-Kind"]) for m in sink.messages]
    match = LINK.search(mails[-1].get_body(preferencelist=("plain",)).get_content())
    assert match
    return match.group(1)


def test_sign_up_verify_sign_in_by_link_and_answer_a_poll_without_a_password(
    browser: Any, live_server: str, app: Any, api: Any, smtp_sink: Any
) -> None:
    day = (datetime.now(BERLIN) + timedelta(days=3)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    start = day.astimezone(UTC)
    olga = api.signup("Olga")
    poll = api.call(
        "POST",
        "/api/v1/gatherings",
        olga,
        json={
            "title": "Chess night",
            "timezone": "Europe/Berlin",
            "duration_minutes": 60,
            "poll": {
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(hours=3)).isoformat(),
            },
        },
    )
    assert poll.status_code == 201, poll.get_json()
    poll_id = poll.get_json()["id"]

    ann = Visitor(browser, live_server, "Ann", "Europe/Berlin")
    ann.sign_up("ann@example.org")
    page = ann.page
    page.goto("/profile")
    page.get_by_text("not confirmed").wait_for()
    deliver(app)
    assert [m["X-Kindred-Kind"] for m in smtp_sink.messages] == ["verify"]

    # the link from the mail: a page with a button (opening it confirms nothing)
    page.goto(link_for(smtp_sink, "ann@example.org", "verify"))
    page.get_by_role("button", name="Confirm my address").click()
    page.get_by_text("Your address is confirmed").wait_for()
    page.goto("/profile")
    page.get_by_text("confirmed", exact=True).wait_for()
    ann.snap("profile-account")

    # on another device, with no password: ask for a sign-in link that leads to the poll
    phone = Visitor(browser, live_server, "Ann", "Europe/Berlin")
    phone.page.goto(f"/g/{poll_id}/poll")
    phone.page.goto(f"/login?next=/g/{poll_id}/poll")
    phone.page.get_by_role("link", name="Mail me a sign-in link instead").click()
    phone.page.get_by_label("Email").fill("ann@example.org")
    phone.expected_status = 202
    phone.page.get_by_role("button", name="Mail me the link").click()
    phone.page.get_by_role("heading", name="Check your mail").wait_for()
    phone.expected_status = None
    deliver(app)
    sign_in = link_for(smtp_sink, "ann@example.org", "sign_in")
    phone.page.goto(sign_in)
    phone.page.get_by_role("button", name="Sign in").click()
    phone.page.get_by_role("heading", name="When can you come?").wait_for()
    assert phone.page.url.endswith(f"/g/{poll_id}/poll")

    # answering needs nothing more
    phone.drag(start, start + timedelta(minutes=45))
    phone.save()
    with app.extensions["kindred"].db.session_factory() as s:
        ann_id = s.scalars(select(User.id).where(User.email == "ann@example.org")).one()
        spans = s.scalars(
            select(AvailabilityInterval).where(
                AvailabilityInterval.user_id == ann_id,
                AvailabilityInterval.gathering_id == poll_id,
            )
        ).all()
        assert spans and spans[0].starts_at == start

    # the link worked once: opened again it says so, and signs nobody in
    third = Visitor(browser, live_server, "Someone", "Europe/Berlin")
    third.expected_status = 410
    third.page.goto(sign_in)
    third.page.get_by_role("heading", name="This link does not work").wait_for()
    third.page.goto("/profile")
    assert "/login" in third.page.url

    problems = [p for v in (ann, phone, third) for p in v.problems]
    assert not problems, problems
