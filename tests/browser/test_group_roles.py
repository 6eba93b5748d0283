"""Handing a club's keys to a second organizer, in a real browser: the organizer promotes a
member to co-organizer on the group's page, who then edits the gathering; an outsider sees
"Members only" and never the place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.test_poll_flow import PASSWORD, Visitor

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SECRET_PLACE = "12 Secret Lane"


def log_in(visitor: Visitor, email: str, then: str) -> None:
    page = visitor.page
    page.goto(f"/login?next={then}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{then}")


def test_a_co_organizer_edits_and_an_outsider_sees_members_only(
    browser: Any, live_server: str, api: Any
) -> None:
    olga = api.signup("Olga", password=PASSWORD)
    mia = api.signup("Mia", password=PASSWORD)
    otto = api.signup("Otto", password=PASSWORD)
    group = api.call(
        "POST", "/api/v1/groups", olga, json={"name": "Night walkers", "interests": ["walking"]}
    ).get_json()
    assert api.call("POST", f"/api/v1/groups/{group['id']}/members", mia).status_code == 201
    start = (datetime.now(UTC) + timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
    walks = {
        visibility: api.call(
            "POST",
            "/api/v1/gatherings",
            olga,
            json={
                "title": f"Moonlit walk ({visibility})",
                "location": SECRET_PLACE,
                "timezone": "Europe/Berlin",
                "duration_minutes": 90,
                "starts_at": start.isoformat(),
                "group_id": group["id"],
                "visibility": visibility,
            },
        ).get_json()["id"]
        for visibility in ("members", "public")
    }

    # the organizer makes Mia a co-organizer from the group's page
    organizer = Visitor(browser, live_server, "Olga", "Europe/Berlin")
    log_in(organizer, olga["email"], f"/groups/{group['id']}")
    page = organizer.page
    members = page.locator("[data-members]")
    mia_row = members.locator(f"li[data-member='{mia['id']}']")
    assert "member" in mia_row.inner_text()
    organizer.check_accessibility("group-members")
    mia_row.get_by_role("button", name="Make organizer").click()
    page.get_by_text("Saved.").wait_for()
    assert "organizer" in page.locator(f"li[data-member='{mia['id']}'] .state").inner_text()

    # Mia, now an organizer of the group (not the gathering's creator), edits the gathering
    co = Visitor(browser, live_server, "Mia", "Europe/Berlin")
    log_in(co, mia["email"], f"/g/{walks['members']}")
    page = co.page
    assert SECRET_PLACE in page.content()
    page.get_by_role("link", name="Edit gathering").click()
    page.get_by_label("Title").fill("Moonlit walk by the river")
    page.get_by_role("button", name="Save").first.click()
    page.get_by_role("heading", name="Moonlit walk by the river").wait_for()
    assert api.call("GET", f"/api/v1/gatherings/{walks['members']}", olga).get_json()["title"] == (
        "Moonlit walk by the river"
    )

    # an outsider: the public walk says "Members only" without the place; the members' walk
    # is not there at all
    outsider = Visitor(browser, live_server, "Otto", "Europe/Berlin")
    log_in(outsider, otto["email"], f"/g/{walks['public']}")
    page = outsider.page
    page.get_by_text("Members only.").wait_for()
    assert SECRET_PLACE not in page.content()
    assert page.get_by_role("button", name="Going").count() == 0
    outsider.check_accessibility("members-only")
    page.goto(f"/groups/{group['id']}")
    assert "Moonlit walk (public)" in page.content()
    assert "Moonlit walk by the river" not in page.content()
    assert SECRET_PLACE not in page.content()
    outsider.expected_status = 404
    hidden = page.goto(f"/g/{walks['members']}")
    assert hidden is not None and hidden.status == 404

    for visitor in (organizer, co, outsider):
        assert not visitor.problems, (visitor.name, visitor.problems)
