"""Online and hybrid gatherings: who sees the link, and how calendars get it (CONFERENCE)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from sqlalchemy import select

from scheduler.models import Gathering, Rsvp
from tests.support.calendar_client import ICALJS
from tests.support.mail import send_pending

LINK = "https://meet.example.com/kindred-go?pwd=abc"
NEW_LINK = "https://video.example.org/room/42"
NOW = datetime.now(UTC)


@pytest.fixture
def db(app):
    session = app.extensions["kindred"].db.session_factory()
    yield session
    session.close()


def soon(days: int = 10) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def answer(api, user, gathering_id, value):
    response = api.call(
        "PUT", f"/api/v1/gatherings/{gathering_id}/rsvp", user, json={"response": value}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def world(api):
    """An online go evening in a group, public, one seat: Gus going, Walt waitlisted, May
    maybe, Mem a member who has not answered, Otto outside the group."""
    org = api.signup("Olga")
    group = api.call(
        "POST", "/api/v1/groups", org, json={"name": "Go club", "interests": ["go"]}
    ).get_json()
    people = {name: api.signup(name) for name in ("Gus", "Walt", "May", "Mem", "Otto")}
    for name in ("Gus", "Walt", "May", "Mem"):
        joined = api.call("POST", f"/api/v1/groups/{group['id']}/members", people[name])
        assert joined.status_code == 201, joined.get_json()
    response = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={
            "title": "Go online",
            "timezone": "Europe/Berlin",
            "duration_minutes": 90,
            "starts_at": soon().isoformat(),
            "group_id": group["id"],
            "visibility": "public",
            "capacity": 1,
            "attendance_mode": "online",
            "online_url": LINK,
        },
    )
    assert response.status_code == 201, response.get_json()
    gathering = response.get_json()
    answer(api, people["Gus"], gathering["id"], "yes")
    assert answer(api, people["Walt"], gathering["id"], "yes")["state"] == "waitlisted"
    answer(api, people["May"], gathering["id"], "maybe")
    return {"org": org, "group": group, "gathering": gathering, **people}


@pytest.mark.parametrize(
    ("who", "sees_link"),
    [
        ("org", True),
        ("Gus", True),  # going
        ("Walt", False),  # waitlisted
        ("May", False),  # maybe
        ("Mem", False),  # a member who has not answered
        ("Otto", False),  # outside the group
        (None, False),  # signed out
    ],
)
def test_who_sees_the_online_link(api, world, who, sees_link):
    user = world[who] if who else None
    response = api.call("GET", f"/api/v1/gatherings/{world['gathering']['id']}", user)
    assert response.status_code == 200
    body = response.get_json()
    assert body["attendance_mode"] == "online"
    assert body["online_url"] == (LINK if sees_link else "")
    listed = api.call(
        "GET", "/api/v1/gatherings", user, query_string={"group_id": world["group"]["id"]}
    ).get_json()
    assert [g["online_url"] for g in listed] == [LINK if sees_link else ""]


def feed_text(api, client, user) -> str:
    url = api.call("GET", "/api/v1/me", user).get_json()["feed_url"]
    response = client.get(url.removeprefix("http://kindred.test"))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_feeds_carry_the_link_only_for_people_going(api, client, world):
    going = icalendar.Calendar.from_ical(feed_text(api, client, world["Gus"]))
    (event,) = going.walk("VEVENT")
    assert str(event["CONFERENCE"]) == LINK
    assert event["CONFERENCE"].params["FEATURE"] == "VIDEO"
    assert LINK in str(event["DESCRIPTION"])
    for name in ("Walt", "May", "Mem"):  # their own feeds: waitlisted, maybe, not in it
        assert LINK not in feed_text(api, client, world[name]).replace("\r\n ", "")
    group_feed = client.get(f"/groups/{world['group']['id']}.ics").get_data(as_text=True)
    assert "CONFERENCE" not in group_feed and LINK not in group_feed.replace("\r\n ", "")
    single = client.get(f"/gatherings/{world['gathering']['id']}.ics").get_data(as_text=True)
    assert "CONFERENCE" not in single


def deliver(db, config, kinds=("invite", "update", "promoted")):
    sent = send_pending(db, config, now=NOW, kinds=kinds)
    return {row.recipient_email: message for row, message in sent}


def calendar_of(message) -> bytes:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part.get_payload(decode=True)


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def icaljs_conference(ics: bytes) -> list[dict]:
    """CONFERENCE as ical.js (Thunderbird's parser) reads it: value and parameters."""
    node = shutil.which("node")
    assert node and (ICALJS / "node_modules" / "ical.js").is_dir(), "make test installs ical.js"
    script = (
        'import ICAL from "ical.js"; import {readFileSync} from "node:fs";'
        "const c = new ICAL.Component(ICAL.parse(readFileSync(0, 'utf8')));"
        "const e = c.getFirstSubcomponent('vevent');"
        "console.log(JSON.stringify(e.getAllProperties('conference').map(p => ({"
        "value: p.getFirstValue(), type: p.type, feature: p.getParameter('feature')}))));"
    )
    result = subprocess.run(
        [node, "--input-type=module", "-e", script],
        input=ics.decode("utf-8"),
        capture_output=True,
        text=True,
        cwd=ICALJS,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_invites_carry_conference_for_going_and_a_link_change_resends_with_higher_sequence(
    api, world, db, config
):
    mails = deliver(db, config)
    gus, walt, may = (world[n]["email"] for n in ("Gus", "Walt", "May"))
    assert set(mails) == {gus, walt, may}
    ics = calendar_of(mails[gus])
    (event,) = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert str(event["CONFERENCE"]) == LINK
    assert event["CONFERENCE"].params["VALUE"] == "URI"
    assert event["SEQUENCE"] == 0
    assert f"Join online: {LINK}" in str(event["DESCRIPTION"])
    assert icaljs_conference(ics) == [{"value": LINK, "type": "uri", "feature": "VIDEO"}]
    assert LINK in text_of(mails[gus])
    for other in (walt, may):  # waitlisted and maybe: in their calendar, without the link
        assert b"CONFERENCE" not in calendar_of(mails[other])
        assert LINK not in text_of(mails[other])

    changed = api.call(
        "PATCH",
        f"/api/v1/gatherings/{world['gathering']['id']}",
        world["org"],
        json={"online_url": NEW_LINK},
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["sequence"] == 1
    updates = deliver(db, config)
    assert set(updates) == {gus, walt, may}
    (event,) = icalendar.Calendar.from_ical(calendar_of(updates[gus])).walk("VEVENT")
    assert event["SEQUENCE"] == 1
    assert str(event["CONFERENCE"]) == NEW_LINK
    assert icaljs_conference(calendar_of(updates[gus]))[0]["value"] == NEW_LINK
    assert b"CONFERENCE" not in calendar_of(updates[walt])


def test_a_seat_opening_mails_the_link_to_the_promoted(api, world, db, config):
    deliver(db, config)
    answer(api, world["Gus"], world["gathering"]["id"], "no")
    mails = deliver(db, config)
    promoted = mails[world["Walt"]["email"]]
    assert promoted["X-Kindred-Kind"] == "promoted"
    assert LINK in text_of(promoted)
    (event,) = icalendar.Calendar.from_ical(calendar_of(promoted)).walk("VEVENT")
    assert str(event["CONFERENCE"]) == LINK
    shown = api.call("GET", f"/api/v1/gatherings/{world['gathering']['id']}", world["Walt"])
    assert shown.get_json()["online_url"] == LINK


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"attendance_mode": "zoom"}, "attendance_mode"),
        ({"online_url": "javascript:alert(1)"}, "online_url"),
        ({"online_url": "ftp://files.example.com/x"}, "online_url"),
        ({"online_url": "https://example.com/" + "a" * 2000}, "online_url"),
        ({"online_url": "not a link"}, "online_url"),
    ],
)
def test_bad_online_fields_are_422_naming_the_field(api, body, field):
    org = api.signup("Olga")
    response = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={
            "title": "Call",
            "timezone": "UTC",
            "duration_minutes": 30,
            "starts_at": soon().isoformat(),
            **body,
        },
    )
    assert response.status_code == 422
    assert field in json.dumps(response.get_json())


def test_an_online_gathering_needs_no_location_and_defaults_in_person(api):
    org = api.signup("Olga")
    base = {"title": "Call", "timezone": "UTC", "duration_minutes": 30}
    online = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={**base, "starts_at": soon().isoformat(), "attendance_mode": "online"},
    ).get_json()
    assert online["location"] == "" and online["attendance_mode"] == "online"
    plain = api.call(
        "POST", "/api/v1/gatherings", org, json={**base, "starts_at": soon(3).isoformat()}
    ).get_json()
    assert plain["attendance_mode"] == "in_person" and plain["online_url"] == ""


def _masters_and_overrides(ics: str | bytes) -> tuple[list, list]:
    events = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    return (
        [e for e in events if "RECURRENCE-ID" not in e],
        [e for e in events if "RECURRENCE-ID" in e],
    )


def test_a_whole_series_carries_the_link_only_where_its_holder_is_going(
    api, client, world, db, config
):
    """Gus answers a weekly online series "all future" and takes its one seat; Walt does
    the same and waits. Gus gives up the third week, so Walt goes to that one only."""
    org, group = world["org"], world["group"]
    created = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={
            "title": "Go online weekly",
            "timezone": "Europe/Berlin",
            "duration_minutes": 60,
            "starts_at": soon(days=3).isoformat(),
            "recurrence": "FREQ=WEEKLY;COUNT=4",
            "group_id": group["id"],
            "visibility": "public",
            "capacity": 1,
            "attendance_mode": "online",
            "online_url": LINK,
        },
    )
    assert created.status_code == 201, created.get_json()
    weeks = [o["id"] for o in created.get_json()["occurrences"]]
    gus, walt = world["Gus"], world["Walt"]
    for person in (gus, walt):
        response = api.call(
            "PUT",
            f"/api/v1/gatherings/{weeks[0]}/rsvp",
            person,
            json={"response": "yes", "all_future": True},
        )
        assert response.status_code == 200, response.get_json()
    assert answer(api, gus, weeks[2], "no")["state"] == "not_going"
    promoted = db.scalar(
        select(Rsvp.state).where(Rsvp.gathering_id == weeks[2], Rsvp.user_id == walt["id"])
    )
    assert promoted == "going"

    # Gus: the series' master carries the link; his week off is an EXDATE, not an override
    masters, overrides = _masters_and_overrides(feed_text(api, client, gus))
    (master,) = [m for m in masters if "RRULE" in m]
    assert str(master["CONFERENCE"]) == LINK
    assert not [o for o in overrides if "CONFERENCE" not in o]
    # Walt: no link on the master (he waits for three weeks), only on the week he goes to
    masters, overrides = _masters_and_overrides(feed_text(api, client, walt))
    (master,) = [m for m in masters if "RRULE" in m]
    assert "CONFERENCE" not in master
    with_link = [o for o in overrides if "CONFERENCE" in o]
    assert [str(o["CONFERENCE"]) for o in with_link] == [LINK]
    week_three = db.get(Gathering, weeks[2])
    assert with_link[0]["RECURRENCE-ID"].dt == week_three.recurrence_id

    # the whole-series invites say the same
    mails = deliver(db, config, kinds=("series_invite", "series_update"))
    gus_masters, _ = _masters_and_overrides(calendar_of(mails[gus["email"]]))
    assert [str(m["CONFERENCE"]) for m in gus_masters] == [LINK]
    walt_masters, walt_overrides = _masters_and_overrides(calendar_of(mails[walt["email"]]))
    assert all("CONFERENCE" not in m for m in walt_masters)
    assert [str(o["CONFERENCE"]) for o in walt_overrides if "CONFERENCE" in o] == [LINK]
    # and nobody else's: the group's feed carries no link at all
    group_feed = client.get(f"/groups/{group['id']}.ics").get_data(as_text=True)
    assert "CONFERENCE" not in group_feed and LINK not in group_feed.replace("\r\n ", "")
