"""The whole story in a real browser: sign up, poll, paint, rank, schedule, RSVP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe

from scheduler.config import Config
from tests.browser.conftest import SCREENSHOTS
from tests.support.processes import running

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "correct horse battery"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
BERLIN = ZoneInfo("Europe/Berlin")
SERIOUS = ("serious", "critical")


class Visitor:
    """One person with their own browser context, watched for console errors and failed requests."""

    def __init__(self, browser: Any, base_url: str, name: str, tz: str) -> None:
        self.name = name
        self.tz = ZoneInfo(tz)
        self.context = browser.new_context(
            base_url=base_url, viewport=DESKTOP, timezone_id=tz, locale="en-GB"
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.problems: list[str] = []
        # a status the test provokes on purpose (a form with a mistake answers 422)
        self.expected_status: int | None = None
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)

    def _request_failed(self, request: Any) -> None:
        # the poll page refreshes its best times in the background; a refresh still in flight
        # when a form on the page navigates away is cut off by the browser (ERR_ABORTED),
        # which no person sees
        if request.resource_type == "fetch" and request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"failed: {request.method} {request.url} ({request.failure})")

    def _console(self, message: Any) -> None:
        expected = f"status of {self.expected_status} " if self.expected_status else None
        if message.type == "error" and not (expected and expected in message.text):
            self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.status != self.expected_status:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def sign_up(self, email: str, interests: str = "chess") -> None:
        """Sign up through the form; the browser's time zone is preselected."""
        page = self.page
        page.goto("/signup")
        page.get_by_label("Your name").fill(self.name)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Interests").fill(interests)
        zone = page.get_by_label("Time zone")
        assert zone.input_value() == str(self.tz.key), "the browser's zone was not guessed"
        page.get_by_role("button", name="Sign up").click()
        page.get_by_role("heading", name=f"Hello, {self.name}").wait_for()

    def cell_label(self, start: datetime) -> re.Pattern[str]:
        """The accessible name of the grid cell starting at `start`, in my time zone."""
        local = start.astimezone(self.tz)
        return re.compile(rf"^{local:%A} {local.day} {local:%B}, {local:%H:%M}\u2013")

    def paint_cell(self, start: datetime) -> Any:
        """The paintable cell at `start`."""
        grid = self.page.get_by_role("grid", name="Your availability")
        return grid.get_by_role("gridcell", name=self.cell_label(start))

    def drag(self, first: datetime, last: datetime) -> None:
        """Paint from one cell to another with the mouse."""
        a = self.paint_cell(first).bounding_box()
        b = self.paint_cell(last).bounding_box()
        mouse = self.page.mouse
        mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
        mouse.down()
        mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=8)
        mouse.up()

    def save(self) -> None:
        """Save the painted grid and wait for the confirmation."""
        self.page.get_by_role("button", name="Save my availability").click()
        self.page.get_by_role("status").filter(has_text="Saved.").wait_for()

    def check_accessibility(self, label: str) -> None:
        """axe-core: no serious or critical violations on the current page."""
        result = Axe().run(self.page)
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in result.response["violations"]
            if v["impact"] in SERIOUS
        ]
        assert not serious, f"{label}: {serious}"

    def snap(self, label: str) -> None:
        """Screenshots at phone and desktop widths, plus the accessibility check."""
        self.check_accessibility(label)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            self.page.set_viewport_size(size)
            self.page.screenshot(path=str(SCREENSHOTS / f"{label}-{size_name}.png"), full_page=True)
        self.page.set_viewport_size(DESKTOP)


def test_poll_to_rsvp_in_chromium(
    browser: Any, live_server: str, config: Config, tmp_path: Path
) -> None:
    day = (datetime.now(BERLIN) + timedelta(days=3)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    start = day.astimezone(UTC)
    half_hour = timedelta(minutes=30)

    ann = Visitor(browser, live_server, "Ann", "Europe/Berlin")
    bob = Visitor(browser, live_server, "Bob", "America/New_York")
    cat = Visitor(browser, live_server, "Cat", "Europe/Berlin")
    visitors = (ann, bob, cat)

    with running("worker", config, tmp_path):
        page = ann.page
        page.goto("/")
        ann.snap("landing")
        page.goto("/signup")
        ann.snap("signup")
        ann.sign_up("ann@example.org", interests="chess, board games")
        ann.snap("home")

        # Ann opens a poll; a mistake first: the error sits next to its field, input kept
        page.get_by_role("link", name="New gathering").click()
        ann.expected_status = 422
        page.get_by_label("Title").fill("Chess night")
        page.get_by_label("Where").fill("Café Rix, Berlin")
        page.get_by_label("How long").select_option("60")
        page.get_by_label("Find a time").check()
        page.get_by_label("Earliest start").fill(f"{day:%Y-%m-%dT%H:%M}")
        page.get_by_label("Latest end").fill(f"{day - timedelta(hours=1):%Y-%m-%dT%H:%M}")
        page.get_by_label("Start times every").select_option("30")
        page.get_by_role("button", name="Create gathering").click()
        page.get_by_text("The latest end must be after the earliest start.").wait_for()
        assert page.get_by_label("Where").input_value() == "Café Rix, Berlin"
        assert page.get_by_label("Latest end").get_attribute("aria-invalid") == "true"
        ann.snap("new-gathering-errors")
        page.get_by_label("Latest end").fill(f"{day + timedelta(hours=4):%Y-%m-%dT%H:%M}")
        page.get_by_role("button", name="Create gathering").click()
        page.get_by_role("heading", name="When can you come?").wait_for()
        ann.expected_status = None
        poll_url = page.url

        # Ann paints 18:00-20:00 by dragging
        ann.drag(start, start + 3 * half_hour)
        ann.save()

        # Bob (in New York: the grid is in his time) paints 18:30-20:00 Berlin with the keyboard
        bob.sign_up("bob@example.org")
        bob.page.goto(poll_url)
        first = bob.paint_cell(start + half_hour)
        first.click()  # paints it and focuses the grid
        for _ in range(2):
            bob.page.keyboard.press("ArrowDown")
            bob.page.keyboard.press(" ")
        assert bob.paint_cell(start + 3 * half_hour).get_attribute("aria-label").endswith(": yes")
        bob.save()

        # Cat can make 18:30-19:30 if need be, painted by dragging
        cat.sign_up("cat@example.org")
        cat.page.goto(poll_url)
        cat.page.get_by_label("If need be").check()
        cat.drag(start + half_hour, start + 2 * half_hour)
        cat.save()

        # The heatmap shows who, and the best slot arrives once the worker has ranked it
        heat = cat.page.get_by_role("grid", name="Everyone's availability")
        best_cell = heat.get_by_role("gridcell", name=cat.cell_label(start + half_hour))
        cat.page.locator("[data-best] [data-progress]").wait_for(state="hidden", timeout=20_000)
        assert "3 people can come (Ann, Bob, Cat)" in best_cell.get_attribute("aria-label")
        best_cell.focus()
        assert "Ann, Bob, Cat" in cat.page.locator("[data-who]").inner_text()

        page.goto(poll_url)
        page.locator("[data-best] [data-progress]").wait_for(state="hidden", timeout=20_000)
        top = page.locator("[data-slots] li").first
        local = (start + half_hour).astimezone(BERLIN)
        assert f"{local:%H:%M}" in top.inner_text()
        assert "3 can come, 2 prefer it" in top.inner_text()
        ann.snap("poll")
        bob.page.reload()
        bob.page.locator("[data-best] [data-progress]").wait_for(state="hidden", timeout=20_000)
        bob.snap("poll-participant")

        # Ann schedules the best slot
        top.get_by_role("button", name=re.compile("^Schedule this")).click()
        page.get_by_role("heading", name="Are you coming?").wait_for()
        assert f"{local:%H:%M}" in page.get_by_role("time").first.inner_text()

        # Bob RSVPs Going and the page shows it, in his time zone
        bob.page.goto(poll_url.replace("/poll", ""))
        bob.page.get_by_role("button", name="Going").click()
        bob.page.get_by_text("You're going.", exact=True).wait_for()
        people = bob.page.get_by_role("list", name="Who's coming")
        assert "Bob" in people.inner_text()
        new_york = (start + half_hour).astimezone(bob.tz)
        assert f"{new_york:%H:%M}" in bob.page.get_by_role("time").first.inner_text()
        bob.snap("gathering")

        # Ann moves it to another room through the Edit form; the page shows the new place
        page.goto(poll_url.replace("/poll", ""))
        page.get_by_role("link", name="Edit gathering").click()
        page.get_by_role("heading", name=re.compile("^Edit")).wait_for()
        assert page.get_by_label("Where").input_value() == "Café Rix, Berlin"
        ann.snap("gathering-edit")
        page.get_by_label("Where").fill("Room 2, Café Rix")
        page.get_by_role("button", name="Save changes").click()
        page.get_by_role("status").filter(has_text="updated invite").wait_for()
        assert "Room 2, Café Rix" in page.locator("dl.facts").inner_text()

        page.goto("/profile")
        ann.snap("profile")
        page.goto("/groups/new")
        page.get_by_label("Group name").fill("Berlin Chess Club")
        page.get_by_label("What is it about?").fill("Blitz, rapid and a lot of coffee.")
        page.get_by_label("Interests").fill("chess")
        page.get_by_role("button", name="Create group").click()
        page.get_by_role("link", name="Subscribe to calendar").wait_for()
        assert (
            page.get_by_role("link", name="Subscribe to calendar")
            .get_attribute("href")
            .startswith("webcal://")
        )
        ann.snap("group")

    problems = [p for v in visitors for p in v.problems]
    assert not problems, problems
