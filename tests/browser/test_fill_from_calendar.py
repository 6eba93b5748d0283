"""Busy times on the poll grid, in a real browser: cells the person's own calendar is busy in
are striped before they paint, and "Fill from my calendar" paints every other cell "yes"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler.models import CalendarStatus, UserCalendar
from tests.browser.test_group_roles import log_in
from tests.browser.test_poll_flow import PASSWORD, Visitor

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_fill_from_my_calendar_paints_the_free_cells(
    browser: Any, live_server: str, api: Any, app: Any
) -> None:
    olga = api.signup("Olga", password=PASSWORD)
    ann = api.signup("Ann", password=PASSWORD, timezone="UTC")
    start = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    poll = api.call(
        "POST",
        "/api/v1/gatherings",
        olga,
        json={
            "title": "Soldering evening",
            "timezone": "UTC",
            "duration_minutes": 60,
            "poll": {
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(hours=4)).isoformat(),
                "step_minutes": 60,
            },
        },
    ).get_json()
    # Ann's calendar, as the worker keeps it: busy 10:00-11:30 (two cells of the grid)
    session = app.extensions["kindred"].db.session_factory()
    busy_from, busy_to = start + timedelta(hours=1), start + timedelta(hours=2, minutes=30)
    session.add(
        UserCalendar(
            user_id=ann["id"],
            url="https://calendar.example.org/ann.ics",
            status=CalendarStatus.OK,
            busy=[[busy_from.isoformat(), busy_to.isoformat()]],
        )
    )
    session.commit()
    session.close()

    visitor = Visitor(browser, live_server, "Ann", "UTC")
    log_in(visitor, ann["email"], f"/g/{poll['id']}")
    page = visitor.page
    grid = page.get_by_role("grid", name="Your availability")
    cells = grid.locator("td[data-cell]")
    assert cells.count() == 4
    busy = grid.locator("td[data-busy]")
    assert busy.count() == 2  # 10:00 and 11:00, before Ann paints anything

    page.get_by_role("button", name="Fill from my calendar").click()

    painted = [cells.nth(i).get_attribute("class") for i in range(4)]
    assert painted == ["yes", "", "", "yes"]
    page.get_by_role("button", name="Save my availability").click()
    page.get_by_text("Saved.").wait_for()
    saved = api.call("GET", f"/api/v1/gatherings/{poll['id']}/availability", ann).get_json()
    assert [(i["start"], i["end"]) for i in saved["intervals"]] == [
        (
            start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
        (
            (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
    ]
    assert visitor.problems == []
