"""Reach: announcements, poll chasers, messages to attendees and comments, through the API and
the mail planner (run in-process; tests/e2e/test_reach_worker.py runs the real worker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler.models import OutboxMessage, OutboxStatus, Poll
from scheduler.services.mail import announcements
from scheduler.services.mail.renderers import render_outbox_message
from tests.support.accounts import page_session
from tests.support.mail import run_planner

_SOON = (datetime.now(UTC) + timedelta(days=10)).replace(minute=0, second=0, microsecond=0)


def _group(api, organizer, *members):
    group = api.call(
        "POST", "/api/v1/groups", organizer, json={"name": "Chess club", "interests": ["chess"]}
    ).get_json()
    for member in members:
        assert api.call("POST", f"/api/v1/groups/{group['id']}/members", member).status_code == 201
    return group


def _gathering(api, organizer, group=None, **extra):
    body = {
        "title": "Blitz night",
        "location": "Back room",
        "timezone": "Europe/Berlin",
        "duration_minutes": 120,
        "starts_at": _SOON.isoformat(),
        **extra,
    }
    if group is not None:
        body["group_id"] = group["id"]
    if "poll" in body:
        del body["starts_at"]
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _poll(api, organizer, group, *, deadline=None):
    poll = {
        "window_start": _SOON.isoformat(),
        "window_end": (_SOON + timedelta(days=2)).isoformat(),
    }
    if deadline is not None:
        poll["deadline"] = deadline.isoformat()
    return _gathering(api, organizer, group, title="When shall we play?", poll=poll)


def _owed(session, kind):
    session.expire_all()
    found = list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
    )
    session.commit()
    return found


def test_a_new_gathering_mails_each_member_once_who_chose_each(api, app, session, config):
    olga, ann, bob, cid, dan = (api.signup(n) for n in ("Olga", "Ann", "Bob", "Cid", "Dan"))
    api.call("PATCH", "/api/v1/me", bob, json={"announcements": "weekly"})
    api.call("PATCH", "/api/v1/me", cid, json={"announcements": "none"})
    api.call("PATCH", "/api/v1/me", ann, json={"timezone": "America/New_York"})
    group = _group(api, olga, ann, bob, cid)
    gathering = _gathering(api, olga, group)
    _gathering(api, dan)  # outside any group: nobody is announced to
    run_planner(app)
    run_planner(app)  # idempotent
    owed = _owed(session, announcements.ANNOUNCE)
    assert [row.recipient_id for row in owed] == [ann["id"]]
    mail = render_outbox_message(session, owed[0], config)
    assert mail is not None
    assert "Blitz night" in mail.subject and "Chess club" in mail.subject
    # when, in Ann's zone (18:00 UTC... whatever the hour: shown as New York time)
    local = _SOON.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert f"{local:%H:%M}" in mail.text and "America/New_York" in mail.text
    assert f"{config.base_url}/r/" in mail.text  # Going / Can't go one-click links
    assert "Going:" in mail.text and "Can't go:" in mail.text
    assert gathering["id"]


def test_a_poll_announcement_signs_in_by_link_and_weekly_members_get_the_week(
    api, app, session, config
):
    olga, ann, bob = (api.signup(n) for n in ("Olga", "Ann", "Bob"))
    api.call("PATCH", "/api/v1/me", bob, json={"announcements": "weekly"})
    group = _group(api, olga, ann, bob)
    poll = _poll(api, olga, group)
    run_planner(app)
    (row,) = _owed(session, announcements.ANNOUNCE)
    mail = render_outbox_message(session, row, config)
    assert "help us find a time" in mail.text
    assert f"{config.base_url}/account/sign-in/" in mail.text
    with app.app_context():
        owed = announcements.owe_weekly_announcements(session, now=datetime.now(UTC))
        session.commit()
    assert owed == 1
    (weekly,) = _owed(session, announcements.WEEKLY)
    assert weekly.recipient_id == bob["id"]
    text = render_outbox_message(session, weekly, config).text
    assert "When shall we play?" in text and f"/g/{poll['id']}" in text


def test_a_members_only_gathering_is_announced_only_to_members(api, app, session):
    olga, ann, pat = api.signup("Olga"), api.signup("Ann"), api.signup("Pat")
    group = api.call(
        "POST",
        "/api/v1/groups",
        olga,
        json={"name": "Closed", "interests": ["go"], "join_policy": "approval"},
    ).get_json()
    members = f"/api/v1/groups/{group['id']}/members"
    api.call("POST", members, ann)
    api.call("PUT", f"{members}/{ann['id']}", olga, json={"state": "member"})
    api.call("POST", members, pat)  # still pending
    _gathering(api, olga, group)
    run_planner(app)
    assert [r.recipient_id for r in _owed(session, announcements.ANNOUNCE)] == [ann["id"]]


def test_patch_me_announcements_validates_and_defaults_to_each(api):
    ann = api.signup("Ann")
    assert api.call("GET", "/api/v1/me", ann).get_json()["announcements"] == "each"
    bad = api.call("PATCH", "/api/v1/me", ann, json={"announcements": "daily"})
    assert bad.status_code == 422 and "announcements" in bad.get_json()["errors"]
    ok = api.call(
        "PATCH", "/api/v1/me", ann, json={"announcements": "none", "organizer_updates": True}
    )
    assert ok.status_code == 200
    assert ok.get_json()["announcements"] == "none" and ok.get_json()["organizer_updates"]


def test_poll_chaser_reminds_non_respondents_once_and_tells_organizers_when_all_answered(
    api, app, session, config
):
    olga, ann, bob = (api.signup(n) for n in ("Olga", "Ann", "Bob"))
    group = _group(api, olga, ann, bob)
    deadline = _SOON - timedelta(days=1)
    poll = _poll(api, olga, group, deadline=deadline)
    answer = {
        "intervals": [{"start": _SOON.isoformat(), "end": (_SOON + timedelta(hours=3)).isoformat()}]
    }
    assert (
        api.call(
            "PUT", f"/api/v1/gatherings/{poll['id']}/availability", ann, json=answer
        ).status_code
        == 200
    )
    run_planner(app)
    assert _owed(session, announcements.POLL_REMINDER) == []  # not yet: the deadline is far
    created = session.scalar(select(Poll).where(Poll.gathering_id == poll["id"])).gathering
    chase = announcements.chase_at(created.created_at, deadline)
    assert chase == deadline - timedelta(hours=24)
    session.commit()
    run_planner(app, now=chase + timedelta(seconds=1))
    run_planner(app, now=chase + timedelta(minutes=5))
    reminders = _owed(session, announcements.POLL_REMINDER)
    assert [r.recipient_id for r in reminders] == [bob["id"]]  # not Ann, not the organizer
    assert "Still open" in render_outbox_message(session, reminders[0], config).subject
    assert _owed(session, announcements.POLL_DONE) == []
    api.call("PUT", f"/api/v1/gatherings/{poll['id']}/availability", bob, json=answer)
    # Bob answered before his reminder went: it is no longer sent
    assert render_outbox_message(session, reminders[0], config) is None
    run_planner(app)
    run_planner(app)
    (done,) = _owed(session, announcements.POLL_DONE)
    assert done.recipient_id == olga["id"]
    assert "Everyone answered" in render_outbox_message(session, done, config).subject


def test_short_polls_are_chased_half_way():
    made = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert announcements.chase_at(made, made + timedelta(hours=20)) == made + timedelta(hours=10)
    assert announcements.chase_at(made, made + timedelta(days=5)) == made + timedelta(days=4)


def test_messages_go_to_their_audience_through_the_outbox(api, app, session, config):
    olga, ann, bob, cid, eve = (api.signup(n) for n in ("Olga", "Ann", "Bob", "Cid", "Eve"))
    gathering = _gathering(api, olga, capacity=1)
    rsvp = f"/api/v1/gatherings/{gathering['id']}/rsvp"
    api.call("PUT", rsvp, ann, json={"response": "yes"})
    api.call("PUT", rsvp, bob, json={"response": "yes"})  # waitlisted
    api.call("PUT", rsvp, cid, json={"response": "no"})
    url = f"/api/v1/gatherings/{gathering['id']}/messages"
    for to, expected in (
        ("going", {ann["id"]}),
        ("attending", {ann["id"], bob["id"]}),
        ("all", {ann["id"], bob["id"], cid["id"]}),
    ):
        sent = api.call("POST", url, olga, json={"subject": f"To {to}", "body": "Hi!", "to": to})
        assert sent.status_code == 202, sent.get_json()
        run_planner(app)
        rows = [
            r
            for r in _owed(session, announcements.MESSAGE)
            if r.payload["message_id"] == sent.get_json()["id"]
        ]
        assert {r.recipient_id for r in rows} == expected, to
    mail = render_outbox_message(session, rows[0], config)
    assert mail.subject == "Blitz night: To all" and "Hi!" in mail.text
    assert all(r.status == OutboxStatus.PENDING for r in _owed(session, announcements.MESSAGE))
    # shown on the API (and the page) newest first
    listed = api.call("GET", url, ann).get_json()
    assert [m["subject"] for m in listed] == ["To all", "To attending", "To going"]
    page = api.client.get(f"/g/{gathering['id']}")
    assert page.status_code == 200
    # only organizers send
    refused = api.call("POST", url, ann, json={"subject": "x", "body": "y", "to": "all"})
    assert refused.status_code == 403
    assert (
        api.call("POST", url, eve, json={"subject": "x", "body": "y", "to": "all"}).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "", "body": "x", "to": "all"}, "subject"),
        ({"subject": "   ", "body": "x", "to": "all"}, "subject"),
        ({"subject": "x" * 201, "body": "x", "to": "all"}, "subject"),
        ({"subject": "x", "body": "", "to": "all"}, "body"),
        ({"subject": "x", "body": "x", "to": "everyone"}, "to"),
        ({"subject": "x", "body": "x"}, "to"),
        ({"subject": 5, "body": "x", "to": "all"}, "subject"),
    ],
)
def test_bad_messages_are_422_naming_the_field(api, body, field):
    olga = api.signup("Olga")
    gathering = _gathering(api, olga)
    response = api.call("POST", f"/api/v1/gatherings/{gathering['id']}/messages", olga, json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_comments_members_and_attendees_post_authors_and_organizers_delete(api):
    olga, ann, bob, out = (api.signup(n) for n in ("Olga", "Ann", "Bob", "Out"))
    group = _group(api, olga, ann, bob)
    gathering = _gathering(api, olga, group)
    url = f"/api/v1/gatherings/{gathering['id']}/comments"
    first = api.call("POST", url, ann, json={"body": "  I'll bring a clock  "})
    assert first.status_code == 201
    assert first.get_json()["body"] == "I'll bring a clock"
    second = api.call("POST", url, bob, json={"body": "And I a board"})
    assert second.status_code == 201
    listed = api.call("GET", url, olga)
    assert [c["body"] for c in listed.get_json()] == ["I'll bring a clock", "And I a board"]
    assert all(c["can_delete"] for c in listed.get_json())  # the organizer deletes any
    as_ann = api.call("GET", url, ann).get_json()
    assert [c["can_delete"] for c in as_ann] == [True, False]
    assert "X-Pagination" in listed.headers
    # outsiders neither read nor write a members-only gathering's discussion
    assert api.call("GET", url, out).status_code == 404
    assert api.call("POST", url, out, json={"body": "hi"}).status_code == 404
    # Bob cannot delete Ann's comment; Ann can; the organizer deletes Bob's
    ann_id, bob_id = first.get_json()["id"], second.get_json()["id"]
    assert api.call("DELETE", f"{url}/{ann_id}", bob).status_code == 403
    assert api.call("DELETE", f"{url}/{ann_id}", ann).status_code == 204
    assert api.call("DELETE", f"{url}/{ann_id}", ann).status_code == 404
    assert api.call("DELETE", f"{url}/{bob_id}", olga).status_code == 204
    assert api.call("GET", url, ann).get_json() == []


def test_outside_a_group_only_attendees_and_the_organizer_discuss(api):
    olga, ann, bob = api.signup("Olga"), api.signup("Ann"), api.signup("Bob")
    gathering = _gathering(api, olga)
    url = f"/api/v1/gatherings/{gathering['id']}/comments"
    assert api.call("POST", url, bob, json={"body": "hi"}).status_code == 403
    api.call("PUT", f"/api/v1/gatherings/{gathering['id']}/rsvp", ann, json={"response": "maybe"})
    assert api.call("POST", url, ann, json={"body": "hi"}).status_code == 201
    assert api.call("POST", url, olga, json={"body": "welcome"}).status_code == 201
    assert api.call("GET", url, bob).status_code == 403
    assert api.call("GET", url).status_code == 401


@pytest.mark.parametrize(
    "body", [{}, {"body": ""}, {"body": "   "}, {"body": "x" * 4001}, {"body": ["x"]}]
)
def test_bad_comments_are_422_naming_body(api, body):
    olga = api.signup("Olga")
    gathering = _gathering(api, olga)
    response = api.call("POST", f"/api/v1/gatherings/{gathering['id']}/comments", olga, json=body)
    assert response.status_code == 422, response.get_json()
    assert "body" in response.get_json()["errors"]


def test_organizer_daily_summary_has_answers_and_comments(api, app, session, config):
    olga, ann = api.signup("Olga"), api.signup("Ann")
    api.call("PATCH", "/api/v1/me", olga, json={"organizer_updates": True})
    group = _group(api, olga, ann)
    gathering = _gathering(api, olga, group)
    api.call("PUT", f"/api/v1/gatherings/{gathering['id']}/rsvp", ann, json={"response": "yes"})
    api.call(
        "POST",
        f"/api/v1/gatherings/{gathering['id']}/comments",
        ann,
        json={"body": "Can't wait"},
    )
    now = datetime.now(UTC)
    assert announcements.owe_organizer_updates(session, now=now) == 1
    assert announcements.owe_organizer_updates(session, now=now) == 0  # once a day
    session.commit()
    (row,) = _owed(session, announcements.UPDATES)
    text = render_outbox_message(session, row, config).text
    assert "1 going" in text and "Ann commented: Can't wait" in text


def test_the_deadline_scheduling_a_time_tells_the_organizers_once(api, app, session, config):
    from scheduler.services.polls import scheduling

    olga, ann = api.signup("Olga"), api.signup("Ann")
    group = _group(api, olga, ann)
    deadline = _SOON - timedelta(days=1)
    poll = _poll(api, olga, group, deadline=deadline)
    answer = {
        "intervals": [{"start": _SOON.isoformat(), "end": (_SOON + timedelta(hours=3)).isoformat()}]
    }
    api.call("PUT", f"/api/v1/gatherings/{poll['id']}/availability", ann, json=answer)
    run_planner(app)
    # everyone answered: one mail; the deadline then picks a time: one more, once
    (everyone,) = _owed(session, announcements.POLL_DONE)
    after = deadline + timedelta(seconds=1)
    assert scheduling.close_at_deadline(session, poll["id"], now=after) == "scheduled"
    session.commit()
    run_planner(app, now=after)
    run_planner(app, now=after)
    done = _owed(session, announcements.POLL_DONE)
    assert [(r.recipient_id, r.payload["reason"]) for r in done] == [
        (olga["id"], "everyone"),
        (olga["id"], "deadline"),
    ]
    # "everyone answered", not sent yet, is dropped: the time found says more
    assert render_outbox_message(session, everyone, config) is None
    mail = render_outbox_message(session, done[1], config)
    assert mail.subject == "Time found: When shall we play?"


def test_profile_page_chooses_announcements_and_organizer_updates(api, client, app):
    from tests.support.accounts import page_session

    ann = api.signup("Ann")
    with client.session_transaction() as cookie:
        cookie.update(page_session(app, ann["id"]))
    page = client.get("/profile")
    assert 'name="announcements" value="each" checked' in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "name": "Ann", "timezone": "UTC", "interests": ""}
    saved = client.post(
        "/profile", data={**form, "announcements": "weekly", "organizer_updates": "1"}
    )
    assert saved.status_code == 302
    me = api.call("GET", "/api/v1/me", ann).get_json()
    assert me["announcements"] == "weekly" and me["organizer_updates"] is True
    bad = client.post("/profile", data={**form, "announcements": "hourly"})
    assert bad.status_code == 422 and "announcements" in bad.text


def test_ones_comments_are_in_the_export_and_go_with_the_account(api, session):
    olga, ann = api.signup("Olga"), api.signup("Ann", password="correct horse battery")
    group = _group(api, olga, ann)
    gathering = _gathering(api, olga, group)
    url = f"/api/v1/gatherings/{gathering['id']}/comments"
    api.call("POST", url, ann, json={"body": "Count me in"})
    api.call("PATCH", "/api/v1/me", ann, json={"announcements": "weekly"})
    export = api.call("GET", "/api/v1/me/export", ann).get_json()
    assert [c["body"] for c in export["comments"]] == ["Count me in"]
    assert export["profile"]["announcements"] == "weekly"
    erased = api.call("DELETE", "/api/v1/me", ann, json={"password": "correct horse battery"})
    assert erased.status_code == 204
    assert api.call("GET", url, olga).get_json() == []


def test_a_hidden_name_stays_hidden_on_comments_but_from_organizers(api, app):
    olga, shy, bob = api.signup("Olga"), api.signup("Shy Sam"), api.signup("Bob")
    api.call("PATCH", "/api/v1/me", shy, json={"share_name": False})
    group = _group(api, olga, shy, bob)
    gathering = _gathering(api, olga, group)
    url = f"/api/v1/gatherings/{gathering['id']}/comments"
    assert api.call("POST", url, shy, json={"body": "I'll bring tea"}).status_code == 201

    def author_as(viewer):
        (comment,) = api.call("GET", url, viewer).get_json()
        return comment["author"]["name"]

    assert author_as(bob) == "A Kindred member"
    assert author_as(shy) == "Shy Sam"
    assert author_as(olga) == "Shy Sam"
    # the gathering's page says the same
    page = app.test_client()
    with page.session_transaction() as cookie:
        cookie.update(page_session(app, bob["id"]))
    shown = page.get(f"/g/{gathering['id']}").text
    assert "I&#39;ll bring tea" in shown or "I'll bring tea" in shown
    assert "Shy Sam" not in shown and "A Kindred member" in shown
