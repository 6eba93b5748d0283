"""Guests and questions in Chromium: an organizer asks a required question and allows guests,
a member answers and brings a guest with the keyboard, the organizer downloads the list."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_poll_flow import BERLIN, Visitor

pytestmark = [pytest.mark.browser]


def test_guests_and_a_required_question_in_chromium(browser: Any, live_server: str) -> None:
    start = (datetime.now(BERLIN) + timedelta(days=4)).replace(
        hour=19, minute=0, second=0, microsecond=0
    )
    ann = Visitor(browser, live_server, "Ann", "Europe/Berlin")
    bob = Visitor(browser, live_server, "Bob", "Europe/Berlin")
    ann.sign_up("ann@example.org")
    bob.sign_up("bob@example.org")

    page = ann.page
    page.goto("/gatherings/new")
    page.get_by_label("Title").fill("Supper club")
    page.get_by_label("Seats").fill("6")
    page.get_by_label("Guests per person").fill("2")
    page.get_by_label("Question 1").fill("Any dietary needs?")
    page.get_by_label("Must be answered to say Going").first.check()
    page.get_by_label("Starts at").fill(f"{start:%Y-%m-%dT%H:%M}")
    ann.check_accessibility("gathering-new-with-questions")
    page.get_by_role("button", name="Create gathering").click()
    page.get_by_role("heading", name="Supper club").wait_for()
    gathering_url = page.url

    # Bob answers with the keyboard: the question, one guest, then Going
    them = bob.page
    them.goto(gathering_url)
    answer = them.get_by_label("Any dietary needs?")
    answer.focus()
    them.keyboard.type("Vegetarian, no nuts")
    them.get_by_label("Guests you bring").select_option("1")
    them.get_by_role("button", name="Going").focus()
    them.keyboard.press("Enter")
    them.locator("[data-my-answer]").wait_for()
    assert "With 1 guest." in them.locator("[data-my-answer]").inner_text()
    assert "2 of 6 taken" in them.locator("dl.facts").inner_text()
    bob.check_accessibility("gathering-with-guests-and-questions")
    assert them.get_by_role("link", name="Download the attendee list").count() == 0

    page.goto(gathering_url)
    assert "+1" in page.get_by_role("list", name="Who's coming").inner_text()
    ann.check_accessibility("gathering-organizer-with-answers")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the attendee list").click()
    rows = list(
        csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text("utf-8"), newline=""))
    )
    assert [(r["name"], r["guests"], r["Any dietary needs?"]) for r in rows] == [
        ("Bob", "1", "Vegetarian, no nuts")
    ]

    problems = [p for v in (ann, bob) for p in v.problems]
    assert not problems, problems
