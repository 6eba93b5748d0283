"""From the announcement mail to the discussion, in a real browser: a member follows the
"Answer the poll" link of the mail announcing a poll in her group, answers it without typing a
password, and later comments on the gathering; the page passes axe and works by keyboard."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from scheduler.config import Config
from scheduler.models import AvailabilityInterval, GatheringComment
from tests.browser.test_accounts_browser import deliver
from tests.browser.test_poll_flow import Visitor

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

BERLIN = ZoneInfo("Europe/Berlin")
ANSWER_LINK = re.compile(r"Answer the poll: http://kindred\.test(/account/sign-in/\S+)")


@pytest.fixture
def config(config: Config, smtp_sink: Any) -> Config:
    return dataclasses.replace(config, smtp_url=smtp_sink.url)


def test_a_member_answers_the_announced_poll_by_its_link_and_comments(
    browser: Any, live_server: str, app: Any, api: Any, smtp_sink: Any
) -> None:
    day = (datetime.now(BERLIN) + timedelta(days=3)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    start = day.astimezone(UTC)
    olga, ann = api.signup("Olga"), api.signup("Ann", email="ann@example.org")
    api.call("PATCH", "/api/v1/me", ann, json={"timezone": "Europe/Berlin"})
    group = api.call(
        "POST", "/api/v1/groups", olga, json={"name": "Chess club", "interests": ["chess"]}
    ).get_json()
    assert api.call("POST", f"/api/v1/groups/{group['id']}/members", ann).status_code == 201
    poll = api.call(
        "POST",
        "/api/v1/gatherings",
        olga,
        json={
            "title": "Chess night",
            "timezone": "Europe/Berlin",
            "duration_minutes": 60,
            "group_id": group["id"],
            "poll": {
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(hours=3)).isoformat(),
            },
        },
    )
    assert poll.status_code == 201, poll.get_json()
    poll_id = poll.get_json()["id"]
    deliver(app)
    (mail,) = [m for m in smtp_sink.messages if m["X-Kindred-Kind"] == "announce"]
    assert mail["To"].addresses[0].addr_spec == "ann@example.org"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "help us find a time" in text
    link = ANSWER_LINK.search(text)
    assert link, text

    # a browser where Ann never signed in: the link signs her in and leads to the poll
    ann_browser = Visitor(browser, live_server, "Ann", "Europe/Berlin")
    page = ann_browser.page
    page.goto(link.group(1))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="When can you come?").wait_for()
    assert page.url.endswith(f"/g/{poll_id}/poll")
    ann_browser.drag(start, start + timedelta(minutes=45))
    ann_browser.save()
    with app.extensions["kindred"].db.session_factory() as s:
        spans = s.scalars(
            select(AvailabilityInterval).where(
                AvailabilityInterval.user_id == ann["id"],
                AvailabilityInterval.gathering_id == poll_id,
            )
        ).all()
        assert spans and spans[0].starts_at == start

    # later: she comments, by keyboard only
    page.goto(f"/g/{poll_id}/poll")
    box = page.get_by_label("Your comment")
    box.focus()
    page.keyboard.type("Thursday suits me best")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Post comment"
    page.keyboard.press("Enter")
    page.get_by_text("Your comment is posted.").wait_for()
    discussion = page.get_by_role("region", name="Discussion")
    discussion.get_by_text("Thursday suits me best").wait_for()
    discussion.get_by_text("Ann").first.wait_for()
    ann_browser.check_accessibility("poll-discussion")
    with app.extensions["kindred"].db.session_factory() as s:
        (comment,) = s.scalars(select(GatheringComment)).all()
        assert comment.author_id == ann["id"] and comment.gathering_id == poll_id

    # she deletes it again (its own Delete button; the page asks first)
    page.once("dialog", lambda dialog: dialog.accept())
    discussion.get_by_role("button", name=re.compile("^Delete")).click()
    page.get_by_text("The comment is deleted.").wait_for()
    assert not ann_browser.problems, ann_browser.problems
