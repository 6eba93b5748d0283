"""An online gathering and a check-in, in a real browser: the organizer creates an online
gathering with its video link; a visitor sees "Online" but no join button until they say
they're going; then they ask someone they met for a check-in from the people-you've-met list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler.models import Gathering, GatheringStatus, Rsvp
from tests.browser.test_group_roles import log_in
from tests.browser.test_poll_flow import PASSWORD, Visitor

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

LINK = "https://meet.example.com/go-night"


def test_online_gathering_join_button_and_asking_for_a_check_in(
    browser: Any, live_server: str, api: Any, session: Any
) -> None:
    olga = api.signup("Olga", password=PASSWORD)
    ben = api.signup("Ben", password=PASSWORD)
    ana = api.signup("Ana", password=PASSWORD)
    api.call("PATCH", "/api/v1/me", ana, json={"discoverable": True})
    start = datetime.now(UTC) - timedelta(days=20)
    past = Gathering(
        uid=f"{uuid.uuid4()}@test",
        title="Past picnic",
        organizer_id=ana["id"],
        timezone="UTC",
        duration_minutes=60,
        status=GatheringStatus.COMPLETED,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        going_count=2,
    )
    session.add(past)
    session.flush()
    for person in (ana, ben):
        session.add(Rsvp(gathering_id=past.id, user_id=person["id"], response="yes", state="going"))
    session.commit()

    organizer = Visitor(browser, live_server, "Olga", "Europe/Berlin")
    log_in(organizer, olga["email"], "/gatherings/new")
    page = organizer.page
    page.get_by_label("Title").fill("Go by video")
    page.get_by_label("How people take part").select_option("online")
    page.get_by_label("Video call link").fill(LINK)
    page.get_by_label("How long").select_option("60")
    when = datetime.now(organizer.tz) + timedelta(days=4)
    page.get_by_label("Starts at").fill(f"{when:%Y-%m-%dT%H:00}")
    page.get_by_role("button", name="Create gathering").click()
    page.wait_for_url("**/g/*")
    assert page.locator("[data-attendance-mode]").inner_text() == "Online"
    assert page.locator("[data-join]").get_attribute("href") == LINK  # the organizer's
    gathering_path = page.url.removeprefix(live_server)

    visitor = Visitor(browser, live_server, "Ben", "America/New_York")
    log_in(visitor, ben["email"], gathering_path)
    page = visitor.page
    assert page.locator("[data-attendance-mode]").inner_text() == "Online"
    assert page.locator("[data-join]").count() == 0
    assert LINK not in page.content()
    page.get_by_role("button", name="Going").click()
    page.wait_for_selector("[data-join]")
    assert page.locator("[data-join]").get_attribute("href") == LINK

    page.get_by_role("link", name="People").click()
    page.wait_for_url("**/people")
    row = page.locator(f"[data-person='{ana['id']}']")
    row.get_by_label("Repeat").select_option("6")
    row.get_by_role("button", name="Ask for a check-in").click()
    page.wait_for_url("**/people")
    assert "Asked Ana for a check-in" in page.content()
    assert page.locator("[data-checkin][data-status='proposed']").count() == 1
    assert organizer.problems == [] and visitor.problems == []
