"""A German browser (Accept-Language de-DE) signs up and opens a poll: the forms, the grid's
day names and its labels are German, and the page passes axe."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import select

from scheduler.models import User

pytestmark = [pytest.mark.browser]

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
SERIOUS = ("serious", "critical")


def test_a_german_browser_finds_a_time_in_german(
    browser: Any, live_server: str, session: Any
) -> None:
    day = (datetime.now(BERLIN) + timedelta(days=3)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    context = browser.new_context(base_url=live_server, timezone_id="Europe/Berlin", locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/signup")
    assert page.locator("html").get_attribute("lang") == "de"
    page.get_by_role("heading", name="Erstelle dein Konto").wait_for()
    page.get_by_label("Dein Name").fill("Greta")
    page.get_by_label("E-Mail").fill("greta@example.org")
    page.get_by_label("Passwort").fill("correct horse battery")
    page.get_by_label("Interessen").fill("Schach")
    page.get_by_role("button", name="Registrieren").click()
    page.wait_for_url(re.compile(r"/$"))
    # the account keeps the browser's language
    assert session.scalar(select(User.locale).where(User.email == "greta@example.org")) == "de"
    session.commit()

    page.goto("/gatherings/new")
    page.get_by_role("heading", name="Treffen planen").wait_for()
    page.get_by_label("Titel").fill("Schachabend")
    page.get_by_label("Dauer").select_option("60")
    page.get_by_label("Termin finden (alle").check()
    page.get_by_label("Frühester Beginn").fill(f"{day:%Y-%m-%dT%H:%M}")
    page.get_by_label("Spätestes Ende").fill(f"{day + timedelta(hours=2):%Y-%m-%dT%H:%M}")
    page.get_by_label("Startzeiten alle").select_option("30")
    page.get_by_role("button", name="Treffen erstellen").click()

    page.get_by_role("heading", name="Wann kannst du?").wait_for()
    weekday = WEEKDAYS[day.weekday()]
    grid = page.locator("table[data-grid]")
    assert grid.get_attribute("aria-label") == "Deine Verfügbarkeit"
    heading = grid.locator("thead th[title]").first
    assert heading.get_attribute("title") == f"{weekday}, {day.day}. {_month(day)}"
    assert heading.inner_text().split("\n")[0] == weekday[:2] + "."
    assert grid.locator(f'td[data-label^="{weekday}, {day.day}. "]').count() == 4
    assert page.get_by_role("button", name="Meine Verfügbarkeit speichern").is_visible()
    assert page.get_by_text("Markieren als").is_visible()  # the paint modes' legend

    # painting and saving speak German too (poll.js takes its words from the page)
    cell = grid.locator("td[data-cell]").first
    cell.click()
    assert cell.get_attribute("aria-label").endswith(": ja")
    status = page.locator("[data-save-status]")
    assert status.inner_text() == "Ungespeicherte Änderungen"
    page.get_by_role("button", name="Meine Verfügbarkeit speichern").click()
    status.filter(has_text="Gespeichert.").wait_for()

    result = Axe().run(page)
    serious = [
        f"{v['id']}: {v['help']}" for v in result.response["violations"] if v["impact"] in SERIOUS
    ]
    assert not serious, serious
    assert not errors, errors


def _month(day: datetime) -> str:
    months = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
              "September", "Oktober", "November", "Dezember"]  # fmt: skip
    return months[day.month - 1]
