"""Recurring gatherings through the API: create, per-occurrence RSVPs, edits, feeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject

BERLIN = ZoneInfo("Europe/Berlin")


def next_thursday_19h() -> datetime:
    today = datetime.now(BERLIN).date()
    days = (3 - today.weekday()) % 7 or 7
    day = today + timedelta(days=days)
    return datetime(day.year, day.month, day.day, 19, 0, tzinfo=BERLIN)


def weekly(count: int = 6, **extra):
    return {
        "title": "Chess club",
        "timezone": "Europe/Berlin",
        "duration_minutes": 120,
        "starts_at": next_thursday_19h().isoformat(),
        "recurrence": f"FREQ=WEEKLY;BYDAY=TH;COUNT={count}",
        **extra,
    }


def test_creating_a_series_returns_every_occurrence_at_19_00_berlin(api):
    alice = api.signup()
    response = api.call("POST", "/api/v1/gatherings", alice, json=weekly())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["series_id"] is not None
    assert body["recurrence"] == "FREQ=WEEKLY;BYDAY=TH;COUNT=6"
    occurrences = body["occurrences"]
    assert len(occurrences) == 6 and occurrences[0]["id"] == body["id"]
    for item in occurrences:
        start = datetime.fromisoformat(item["starts_at"])
        local = start.astimezone(BERLIN)
        assert (local.weekday(), local.hour, local.minute) == (3, 19, 0)


@pytest.mark.parametrize(
    "rule", ["FREQ=HOURLY", "FREQ=WEEKLY;BYDAY=XX", "garbage", "FREQ=WEEKLY;COUNT=2;UNTIL=20300101"]
)
def test_an_invalid_rule_is_422_naming_recurrence(api, rule):
    alice = api.signup()
    response = api.call("POST", "/api/v1/gatherings", alice, json=weekly(recurrence=rule))
    assert response.status_code == 422, response.get_json()
    assert "recurrence" in response.get_json()["errors"]


def test_each_occurrence_has_its_own_capacity(api):
    alice, bob, cy = api.signup(), api.signup(), api.signup()
    body = api.call("POST", "/api/v1/gatherings", alice, json=weekly(capacity=1)).get_json()
    first, second = (o["id"] for o in body["occurrences"][:2])
    rsvp = "/api/v1/gatherings/{}/rsvp"
    assert (
        api.call("PUT", rsvp.format(first), bob, json={"response": "yes"}).get_json()["state"]
        == "going"
    )
    assert (
        api.call("PUT", rsvp.format(first), cy, json={"response": "yes"}).get_json()["state"]
        == "waitlisted"
    )
    assert (
        api.call("PUT", rsvp.format(second), cy, json={"response": "yes"}).get_json()["state"]
        == "going"
    )


def test_all_future_answers_every_later_occurrence(api):
    alice, bob = api.signup(), api.signup()
    body = api.call("POST", "/api/v1/gatherings", alice, json=weekly()).get_json()
    ids = [o["id"] for o in body["occurrences"]]
    response = api.call(
        "PUT",
        f"/api/v1/gatherings/{ids[2]}/rsvp",
        bob,
        json={"response": "yes", "all_future": True},
    )
    assert response.status_code == 200 and response.get_json()["state"] == "going"
    states = []
    for gathering_id in ids:
        attendees = api.call(
            "GET", f"/api/v1/gatherings/{gathering_id}/attendees", alice
        ).get_json()
        states.append([a["state"] for a in attendees if a["user_id"] == bob["id"]])
    assert states == [[], [], ["going"], ["going"], ["going"], ["going"]]


def test_all_future_on_a_plain_gathering_is_422(api):
    alice = api.signup()
    plain = weekly()
    del plain["recurrence"]
    body = api.call("POST", "/api/v1/gatherings", alice, json=plain).get_json()
    response = api.call(
        "PUT",
        f"/api/v1/gatherings/{body['id']}/rsvp",
        alice,
        json={"response": "yes", "all_future": True},
    )
    assert response.status_code == 422 and "all_future" in response.get_json()["errors"]


def _expand_with_vobject(ics: bytes) -> tuple[list[datetime], list[str]]:
    calendar = vobject.readOne(ics.decode())
    masters = [e for e in calendar.vevent_list if not hasattr(e, "recurrence_id")]
    assert len(masters) == 1
    instants = [d.astimezone(UTC) for d in masters[0].getrruleset(addRDate=True)]
    cancelled = [
        e.recurrence_id.value.astimezone(UTC)
        for e in calendar.vevent_list
        if hasattr(e, "recurrence_id") and e.status.value == "CANCELLED"
    ]
    return instants, cancelled


def test_group_feed_shows_the_series_as_one_rrule_with_the_cancelled_one_gone(api, client):
    alice = api.signup()
    group = api.call(
        "POST", "/api/v1/groups", alice, json={"name": "Chess", "interests": []}
    ).get_json()
    body = api.call(
        "POST",
        "/api/v1/gatherings",
        alice,
        json=weekly(group_id=group["id"], visibility="public"),
    ).get_json()
    occurrences = body["occurrences"]
    cancelled_id = occurrences[2]["id"]
    assert api.call("POST", f"/api/v1/gatherings/{cancelled_id}/cancel", alice).status_code == 200
    ics = client.get(f"/groups/{group['id']}.ics").data
    # a second, independent parser expands the rule to the same instants, less the cancelled one
    instants, cancelled_overrides = _expand_with_vobject(ics)
    expected = [
        datetime.fromisoformat(o["starts_at"]) for o in occurrences if o["id"] != cancelled_id
    ]
    assert sorted(set(instants) - set(cancelled_overrides)) == expected
    parsed = icalendar.Calendar.from_ical(ics)
    events = list(parsed.walk("VEVENT"))
    assert len({str(e["UID"]) for e in events}) == 1
    assert "RRULE" in events[0] or any("RRULE" in e for e in events)


def test_moving_one_occurrence_becomes_an_override_in_the_feed(api, client):
    alice = api.signup()
    group = api.call(
        "POST", "/api/v1/groups", alice, json={"name": "Chess", "interests": []}
    ).get_json()
    body = api.call(
        "POST",
        "/api/v1/gatherings",
        alice,
        json=weekly(group_id=group["id"], visibility="public"),
    ).get_json()
    target = body["occurrences"][1]
    original = datetime.fromisoformat(target["starts_at"])
    moved = original + timedelta(hours=1)
    response = api.call(
        "PATCH", f"/api/v1/gatherings/{target['id']}", alice, json={"starts_at": moved.isoformat()}
    )
    assert response.status_code == 200
    calendar = vobject.readOne(client.get(f"/groups/{group['id']}.ics").data.decode())
    overrides = [e for e in calendar.vevent_list if hasattr(e, "recurrence_id")]
    assert [o.recurrence_id.value.astimezone(UTC) for o in overrides] == [original]
    assert overrides[0].dtstart.value.astimezone(UTC) == moved


def test_this_and_following_splits_the_series(api):
    alice, bob = api.signup(), api.signup()
    body = api.call("POST", "/api/v1/gatherings", alice, json=weekly()).get_json()
    occurrences = body["occurrences"]
    api.call(
        "PUT", f"/api/v1/gatherings/{occurrences[4]['id']}/rsvp", bob, json={"response": "yes"}
    )
    later = datetime.fromisoformat(occurrences[3]["starts_at"]) + timedelta(hours=1)
    response = api.call(
        "PATCH",
        f"/api/v1/gatherings/{occurrences[3]['id']}",
        alice,
        json={"scope": "following", "starts_at": later.isoformat(), "location": "Room 2"},
    )
    assert response.status_code == 200, response.get_json()
    new = response.get_json()
    assert new["series_id"] != body["series_id"]
    assert new["recurrence"] == "FREQ=WEEKLY;BYDAY=TH;COUNT=3"
    assert [o["id"] for o in new["occurrences"]] == [o["id"] for o in occurrences[3:]]
    assert all(
        datetime.fromisoformat(o["starts_at"]).astimezone(BERLIN).hour == 20
        for o in new["occurrences"]
    )
    old = api.call("GET", f"/api/v1/gatherings/{occurrences[0]['id']}").get_json()
    assert old["recurrence"] == "FREQ=WEEKLY;BYDAY=TH;UNTIL=" + utc_text(occurrences[2]["starts_at"])
    assert [o["starts_at"] for o in old["occurrences"]] == [o["starts_at"] for o in occurrences[:3]]
    attendees = api.call(
        "GET", f"/api/v1/gatherings/{occurrences[4]['id']}/attendees", alice
    ).get_json()
    assert [a["state"] for a in attendees if a["user_id"] == bob["id"]] == ["going"]


def test_this_and_following_applies_reminders_interests_and_follow_up_to_existing_ones(api):
    alice = api.signup()
    body = api.call("POST", "/api/v1/gatherings", alice, json=weekly(count=4)).get_json()
    occurrences = body["occurrences"]
    response = api.call(
        "PATCH",
        f"/api/v1/gatherings/{occurrences[1]['id']}",
        alice,
        json={
            "scope": "following",
            "reminders": [30, 60, 30],
            "interests": ["chess openings"],
            "followup_minutes": 15,
        },
    )
    assert response.status_code == 200, response.get_json()
    shown = [api.call("GET", f"/api/v1/gatherings/{o['id']}").get_json() for o in occurrences]
    assert [g["reminders"] for g in shown] == [[1440, 60]] + [[60, 30]] * 3
    assert [g["interests"] for g in shown] == [[]] + [["chess openings"]] * 3
    assert [g["followup_minutes"] for g in shown][1:] == [15, 15, 15]
    assert shown[0]["followup_minutes"] != 15


def test_this_and_following_keeps_an_occurrence_moved_on_its_own_unless_the_time_changes(api):
    alice = api.signup()
    body = api.call("POST", "/api/v1/gatherings", alice, json=weekly(count=4)).get_json()
    occurrences = body["occurrences"]
    own = datetime.fromisoformat(occurrences[2]["starts_at"]) + timedelta(hours=2)
    api.call(
        "PATCH",
        f"/api/v1/gatherings/{occurrences[2]['id']}",
        alice,
        json={"starts_at": own.isoformat(), "location": "The park"},
    )
    response = api.call(
        "PATCH",
        f"/api/v1/gatherings/{occurrences[1]['id']}",
        alice,
        json={"scope": "following", "title": "Chess club (new season)"},
    )
    assert response.status_code == 200, response.get_json()
    moved = api.call("GET", f"/api/v1/gatherings/{occurrences[2]['id']}").get_json()
    assert moved["title"] == "Chess club (new season)"
    assert datetime.fromisoformat(moved["starts_at"]) == own
    assert moved["location"] == "The park"
    # an edit of the time itself does move it back onto the rule
    later = datetime.fromisoformat(occurrences[1]["starts_at"]) + timedelta(hours=1)
    api.call(
        "PATCH",
        f"/api/v1/gatherings/{occurrences[1]['id']}",
        alice,
        json={"scope": "following", "starts_at": later.isoformat()},
    )
    moved = api.call("GET", f"/api/v1/gatherings/{occurrences[2]['id']}").get_json()
    start = datetime.fromisoformat(moved["starts_at"]).astimezone(BERLIN)
    assert (start.hour, start.minute) == (20, 0)


def test_scope_following_on_a_plain_gathering_is_422(api):
    alice = api.signup()
    plain = weekly()
    del plain["recurrence"]
    body = api.call("POST", "/api/v1/gatherings", alice, json=plain).get_json()
    response = api.call(
        "PATCH",
        f"/api/v1/gatherings/{body['id']}",
        alice,
        json={"scope": "following", "title": "x"},
    )
    assert response.status_code == 422 and "scope" in response.get_json()["errors"]


def test_all_future_owes_one_invite_that_carries_the_rrule(api, app, session, config):
    from sqlalchemy import select

    from scheduler.models import OutboxMessage
    from scheduler.services.mail.renderers import render_outbox_message
    from tests.support.mail import run_planner

    alice, bob = api.signup(), api.signup()
    body = api.call("POST", "/api/v1/gatherings", alice, json=weekly()).get_json()
    first = body["occurrences"][0]["id"]
    api.call(
        "PUT", f"/api/v1/gatherings/{first}/rsvp", bob, json={"response": "yes", "all_future": True}
    )
    run_planner(app)
    rows = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.recipient_id == bob["id"], OutboxMessage.status == "pending"
        )
    ).all()
    kinds = sorted(r.kind for r in rows if r.kind in ("invite", "series_invite"))
    assert kinds == ["series_invite"]
    series_row = next(r for r in rows if r.kind == "series_invite")
    mail = render_outbox_message(session, series_row, config)
    calendar = vobject.readOne(mail.ics.decode())
    assert calendar.method.value == "REQUEST"
    master = calendar.vevent_list[0]
    assert sorted(master.rrule.value.split(";")) == ["BYDAY=TH", "COUNT=6", "FREQ=WEEKLY"]
    assert len(list(master.getrruleset())) == 6
    assert "every week on Thursday" in mail.text


def test_a_weekly_poll_ends_in_a_weekly_series_on_the_winning_weekday(api):
    alice, bob = api.signup(), api.signup()
    # a typical week: Monday to Sunday, next week
    monday = next_thursday_19h().replace(hour=0) + timedelta(days=4)
    poll = {
        "window_start": monday.isoformat(),
        "window_end": (monday + timedelta(days=7)).isoformat(),
        "step_minutes": 60,
    }
    body = {
        "title": "Weekly run",
        "timezone": "Europe/Berlin",
        "duration_minutes": 60,
        "poll": poll,
        "recurrence": "FREQ=WEEKLY;COUNT=4",
    }
    created = api.call("POST", "/api/v1/gatherings", alice, json=body)
    assert created.status_code == 201, created.get_json()
    gid = created.get_json()["id"]
    wednesday_18 = monday + timedelta(days=2, hours=18)
    api.call(
        "PUT",
        f"/api/v1/gatherings/{gid}/availability",
        bob,
        json={
            "intervals": [
                {
                    "start": wednesday_18.isoformat(),
                    "end": (wednesday_18 + timedelta(hours=2)).isoformat(),
                }
            ]
        },
    )
    scheduled = api.call(
        "POST",
        f"/api/v1/gatherings/{gid}/schedule",
        alice,
        json={"start": wednesday_18.isoformat()},
    )
    assert scheduled.status_code == 200, scheduled.get_json()
    detail = api.call("GET", f"/api/v1/gatherings/{gid}").get_json()
    assert detail["recurrence"] == "FREQ=WEEKLY;BYDAY=WE;COUNT=4"
    starts = [
        datetime.fromisoformat(o["starts_at"]).astimezone(BERLIN) for o in detail["occurrences"]
    ]
    assert detail["occurrences"][0]["id"] == gid
    assert [(s.weekday(), s.hour) for s in starts] == [(2, 18)] * 4


def test_a_poll_recurrence_must_be_plain_weekly(api):
    alice = api.signup()
    monday = next_thursday_19h() + timedelta(days=4)
    body = {
        "title": "x",
        "timezone": "Europe/Berlin",
        "duration_minutes": 60,
        "poll": {
            "window_start": monday.isoformat(),
            "window_end": (monday + timedelta(days=7)).isoformat(),
        },
        "recurrence": "FREQ=MONTHLY;BYDAY=1SA",
    }
    response = api.call("POST", "/api/v1/gatherings", alice, json=body)
    assert response.status_code == 422 and "recurrence" in response.get_json()["errors"]


def utc_text(instant: str) -> str:
    """An API time as an RRULE UNTIL value."""
    return f"{datetime.fromisoformat(instant).astimezone(UTC):%Y%m%dT%H%M%SZ}"
