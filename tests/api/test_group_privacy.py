"""Regression tests for the leaks of issue #17, each tried as a newcomer would.

- a group gathering's place (often a home address) went to anyone, signed in or not;
- people outside a group saw who is free when in its polls (ids in /slots, names on pages);
- anyone could RSVP to a group's gathering, and so read its attendee list;
- a person who hides their name still showed it wherever they organize.
The full role x route table is tests/test_group_access.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
from sqlalchemy import select

from scheduler.models import OutboxMessage, Rsvp
from scheduler.schemas.rsvps import RsvpArgsSchema
from scheduler.services.accounts.identity import sha256_hex
from scheduler.services.mail.renderers import render_outbox_message
from scheduler.web.rsvp_fastpath import RsvpFastPath
from tests.support.accounts import page_session
from tests.support.mail import run_planner

HOME = "7 Home Street"
SOON = (datetime.now(UTC) + timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
WINDOW = SOON + timedelta(days=1)


def group_of(api, organizer, **extra):
    body = {"name": "Knitters", "interests": ["knitting"], **extra}
    return api.call("POST", "/api/v1/groups", organizer, json=body).get_json()


def gathering_in(api, organizer, group, **extra):
    body = {
        "title": "Knit night",
        "location": HOME,
        "timezone": "UTC",
        "duration_minutes": 90,
        "starts_at": SOON.isoformat(),
        "group_id": group["id"],
        "interests": ["knitting"],
        **extra,
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def join(api, group, person):
    return api.call("POST", f"/api/v1/groups/{group['id']}/members", person)


def signed_in(client, user) -> None:
    with client.session_transaction() as cookie:
        cookie.clear()
        cookie["csrf"] = "x"
        if user is not None:
            cookie.update(page_session(client.application, user["id"]))


def test_the_place_of_a_group_gathering_is_only_for_members(api, client):
    org, mia, out = api.signup("Olga"), api.signup("Mia"), api.signup("Otto")
    group = group_of(api, org)
    join(api, group, mia)
    public = gathering_in(api, org, group, visibility="public")
    path = f"/api/v1/gatherings/{public['id']}"

    for who in (None, out):  # signed out, and signed in but outside the group
        shown = api.call("GET", path, who).get_json()
        assert shown["location"] == "" and shown["members_only"] is True
        listed = api.call("GET", "/api/v1/gatherings", who).get_json()
        assert [g["location"] for g in listed] == [""]
        signed_in(client, who)
        assert HOME not in client.get(f"/g/{public['id']}").text
        assert HOME not in client.get(f"/groups/{group['id']}").text
        assert HOME.encode() not in client.get(f"/gatherings/{public['id']}.ics").data
    assert "Members only" in client.get(f"/g/{public['id']}").text
    feed = icalendar.Calendar.from_ical(client.get(f"/groups/{group['id']}.ics").data)
    (event,) = feed.walk("VEVENT")
    assert "LOCATION" not in event or str(event["LOCATION"]) == ""

    assert api.call("GET", path, mia).get_json()["location"] == HOME
    signed_in(client, mia)
    assert HOME in client.get(f"/g/{public['id']}").text
    assert HOME.encode() in client.get(f"/gatherings/{public['id']}.ics").data
    # a file with the place in it is nobody else's to cache
    assert "private" in client.get(f"/gatherings/{public['id']}.ics").headers["Cache-Control"]


def test_who_is_free_when_stays_inside_the_group(api, client):
    org, mia, out = api.signup("Olga"), api.signup("Mia"), api.signup("Otto")
    group = group_of(api, org)
    join(api, group, mia)
    poll_body = {
        "title": "When?",
        "poll": {
            "window_start": WINDOW.isoformat(),
            "window_end": (WINDOW + timedelta(days=1)).isoformat(),
        },
        "starts_at": None,
    }
    public = gathering_in(api, org, group, visibility="public", **poll_body)
    members = gathering_in(api, org, group, **poll_body)
    for poll in (public, members):
        answer = {
            "intervals": [
                {"start": WINDOW.isoformat(), "end": (WINDOW + timedelta(hours=3)).isoformat()}
            ]
        }
        assert (
            api.call(
                "PUT", f"/api/v1/gatherings/{poll['id']}/availability", mia, json=answer
            ).status_code
            == 200
        )

    # the public poll can be seen, but not who answered it, and outsiders cannot answer
    slots = api.call("GET", f"/api/v1/gatherings/{public['id']}/slots", out)
    assert slots.status_code == 403
    refused = api.call(
        "PUT", f"/api/v1/gatherings/{public['id']}/availability", out, json={"intervals": []}
    )
    assert refused.status_code == 403
    signed_in(client, out)
    page = client.get(f"/g/{public['id']}")
    assert page.status_code == 200 and "Mia" not in page.text and "Members only" in page.text
    assert client.get(f"/g/{public['id']}/slots.json").status_code == 403
    # the members-only poll is not there at all for them
    assert api.call("GET", f"/api/v1/gatherings/{members['id']}/slots", out).status_code == 404
    assert client.get(f"/g/{members['id']}").status_code == 404

    seen = api.call("GET", f"/api/v1/gatherings/{public['id']}/slots", mia).get_json()
    assert seen["status"] in ("ready", "pending")
    signed_in(client, mia)
    assert client.get(f"/g/{public['id']}/slots.json").status_code == 200


def test_only_members_answer_and_see_who_is_coming_on_every_path(api, client, session):
    org, mia, out = api.signup("Olga"), api.signup("Mia"), api.signup("Otto")
    group = group_of(api, org)
    join(api, group, mia)
    public = gathering_in(api, org, group, visibility="public")
    gid = public["id"]

    # the API (its WSGI fast path, then the Flask view) refuses the outsider
    refused = api.call("PUT", f"/api/v1/gatherings/{gid}/rsvp", out, json={"response": "yes"})
    assert refused.status_code == 403, refused.get_json()
    # ... and so does the one statement the fast path runs, on its own
    fast = client.application.wsgi_app
    while not isinstance(fast, RsvpFastPath):
        fast = fast.app
    answer = RsvpArgsSchema().load({"response": "yes"})
    assert fast._call(sha256_hex(out["token"]), gid, answer) == {"error": "not_member"}
    # the page's button goes the same way
    signed_in(client, out)
    client.post(f"/g/{gid}/rsvp", data={"response": "yes"}, headers={"X-CSRF-Token": "x"})
    assert session.scalars(select(Rsvp).where(Rsvp.gathering_id == gid)).all() == []
    assert api.call("GET", f"/api/v1/gatherings/{gid}/attendees", out).status_code == 403

    # once in the group, the same person answers
    join(api, group, out)
    done = api.call("PUT", f"/api/v1/gatherings/{gid}/rsvp", out, json={"response": "yes"})
    assert done.status_code == 200 and done.get_json()["state"] == "going"
    assert [
        a["name"] for a in api.call("GET", f"/api/v1/gatherings/{gid}/attendees", mia).get_json()
    ] == ["Otto"]


def test_a_hidden_name_stays_hidden_where_they_organize(api, client):
    shy, mia, out = api.signup("Shy Sam"), api.signup("Mia"), api.signup("Otto")
    assert api.call("PATCH", "/api/v1/me", shy, json={"share_name": False}).status_code == 200
    group = group_of(api, shy)
    join(api, group, mia)
    in_group = gathering_in(api, shy, group, visibility="public")
    alone = api.call(
        "POST",
        "/api/v1/gatherings",
        shy,
        json={
            "title": "Open knit",
            "timezone": "UTC",
            "duration_minutes": 60,
            "starts_at": SOON.isoformat(),
        },
    ).get_json()

    for viewer in (None, out, mia):
        for gathering in (in_group, alone):
            shown = api.call("GET", f"/api/v1/gatherings/{gathering['id']}", viewer).get_json()
            assert shown["organizer"]["name"] == "A Kindred member"
        assert (
            api.call("GET", f"/api/v1/groups/{group['id']}", viewer).get_json()["organizer"]["name"]
            == "A Kindred member"
        )
        signed_in(client, viewer)
        for path in (f"/g/{in_group['id']}", f"/g/{alone['id']}", f"/groups/{group['id']}"):
            assert "Shy Sam" not in client.get(path).text, path
        for path in (f"/gatherings/{alone['id']}.ics", f"/groups/{group['id']}.ics"):
            assert b"Shy Sam" not in client.get(path).data, path
    # they still see their own name
    own = api.call("GET", f"/api/v1/gatherings/{alone['id']}", shy).get_json()
    assert own["organizer"]["name"] == "Shy Sam"


def test_attendee_emails_go_to_every_organizer_and_nobody_else(api):
    org, co, mia = api.signup("Olga"), api.signup("Cora"), api.signup("Mia")
    group = group_of(api, org)
    for person in (co, mia):
        join(api, group, person)
    api.call(
        "PUT", f"/api/v1/groups/{group['id']}/members/{co['id']}", org, json={"role": "organizer"}
    )
    gathering = gathering_in(api, org, group)
    api.call("PUT", f"/api/v1/gatherings/{gathering['id']}/rsvp", mia, json={"response": "yes"})
    path = f"/api/v1/gatherings/{gathering['id']}/attendees"
    for organizer in (org, co):
        assert [a["email"] for a in api.call("GET", path, organizer).get_json()] == [mia["email"]]
    assert all("email" not in a for a in api.call("GET", path, mia).get_json())
    # and the co-organizer runs it: edits, sees the heatmap's neighbour (mail status), cancels
    changed = api.call(
        "PATCH", f"/api/v1/gatherings/{gathering['id']}", co, json={"title": "Knit night II"}
    )
    assert changed.status_code == 200
    assert (
        api.call("GET", f"/api/v1/gatherings/{gathering['id']}/mail-status", co).status_code == 200
    )
    assert api.call("POST", f"/api/v1/gatherings/{gathering['id']}/cancel", co).status_code == 200


def test_recommendations_and_lists_leave_out_what_the_reader_may_not_see(api):
    org = api.signup("Olga")
    out = api.signup("Otto", interests=["knitting"])
    group = group_of(api, org)
    members = gathering_in(api, org, group, title="Members knit")
    public = gathering_in(api, org, group, title="Open knit", visibility="public")
    unlisted = gathering_in(api, org, group, title="Quiet knit", visibility="unlisted")
    recommended = api.call("GET", "/api/v1/me/recommendations", out).get_json()
    ids = [g["id"] for g in recommended["gatherings"]]
    assert public["id"] in ids and members["id"] not in ids and unlisted["id"] not in ids
    listed = [g["id"] for g in api.call("GET", "/api/v1/gatherings", out).get_json()]
    assert listed == [public["id"]]
    # unlisted: there for anyone with the link, without its place
    shown = api.call("GET", f"/api/v1/gatherings/{unlisted['id']}", out)
    assert shown.status_code == 200 and shown.get_json()["location"] == ""


def test_joining_waits_for_approval_and_a_group_keeps_an_organizer(api):
    org, ann = api.signup("Olga"), api.signup("Ann")
    group = group_of(api, org, join_policy="approval")
    assert group["join_policy"] == "approval"
    asked = join(api, group, ann)
    assert asked.status_code == 201 and asked.get_json()["state"] == "pending"
    assert join(api, group, ann).status_code == 200  # asking twice changes nothing
    gathering = gathering_in(api, org, group)
    path = f"/api/v1/gatherings/{gathering['id']}"
    assert api.call("GET", path, ann).status_code == 404
    waiting = api.call("GET", f"/api/v1/groups/{group['id']}/members", org).get_json()
    assert [(m["name"], m["state"]) for m in waiting] == [("Olga", "member"), ("Ann", "pending")]
    assert api.call("GET", f"/api/v1/groups/{group['id']}", ann).get_json()["member_count"] == 1

    member = f"/api/v1/groups/{group['id']}/members/{ann['id']}"
    assert api.call("PUT", member, ann, json={"state": "member"}).status_code == 403
    assert api.call("PUT", member, org, json={"state": "member"}).get_json()["state"] == "member"
    assert api.call("GET", path, ann).status_code == 200

    me = f"/api/v1/groups/{group['id']}/members/{org['id']}"
    last = api.call("PUT", me, org, json={"role": "member"})
    assert last.status_code == 409, last.get_json()
    assert api.call("DELETE", me, org).status_code == 409
    assert api.call("PUT", member, org, json={"role": "organizer"}).status_code == 200
    assert api.call("PUT", me, ann, json={"role": "member"}).get_json()["role"] == "member"
    # the group now names its remaining organizer
    assert (
        api.call("GET", f"/api/v1/groups/{group['id']}").get_json()["organizer"]["id"] == ann["id"]
    )
    bad = api.call("PUT", member, ann, json={"role": "boss"})
    assert bad.status_code == 422 and "role" in bad.get_json()["errors"]
    empty = api.call("PUT", member, ann, json={})
    assert empty.status_code == 422
    bad_policy = api.call(
        "POST", "/api/v1/groups", org, json={"name": "X", "interests": [], "join_policy": "x"}
    )
    assert bad_policy.status_code == 422 and "join_policy" in bad_policy.get_json()["errors"]
    outside = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={
            "title": "Alone",
            "timezone": "UTC",
            "duration_minutes": 60,
            "starts_at": SOON.isoformat(),
            "visibility": "members",
        },
    )
    assert outside.status_code == 422 and "visibility" in outside.get_json()["errors"]


def test_a_hidden_organizer_name_stays_out_of_invites(api, app, session, config):
    shy, ann = api.signup("Shy Sam"), api.signup("Ann")
    api.call("PATCH", "/api/v1/me", shy, json={"share_name": False})
    gathering = api.call(
        "POST",
        "/api/v1/gatherings",
        shy,
        json={
            "title": "Open knit",
            "timezone": "UTC",
            "duration_minutes": 60,
            "starts_at": SOON.isoformat(),
        },
    ).get_json()
    api.call("PUT", f"/api/v1/gatherings/{gathering['id']}/rsvp", ann, json={"response": "yes"})
    run_planner(app)
    (invite,) = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "invite"))
    mail = render_outbox_message(session, invite, config)
    assert mail is not None
    assert "Shy Sam" not in mail.text and "Shy Sam" not in mail.html
    assert b"Shy Sam" not in (mail.ics or b"")
    assert "A Kindred member" in mail.text


def test_a_removed_member_gives_up_their_seats_to_the_waitlist(api):
    org, mia, wes = api.signup("Olga"), api.signup("Mia"), api.signup("Wes")
    group = group_of(api, org)
    for person in (mia, wes):
        join(api, group, person)
    gathering = gathering_in(api, org, group, capacity=1)
    rsvp = f"/api/v1/gatherings/{gathering['id']}/rsvp"
    assert api.call("PUT", rsvp, mia, json={"response": "yes"}).get_json()["state"] == "going"
    assert api.call("PUT", rsvp, wes, json={"response": "yes"}).get_json()["state"] == "waitlisted"
    # a member cannot remove another; the organizer can
    member = f"/api/v1/groups/{group['id']}/members/{mia['id']}"
    assert api.call("DELETE", member, wes).status_code == 403
    assert api.call("DELETE", member, org).status_code == 204
    attendees = api.call("GET", f"/api/v1/gatherings/{gathering['id']}/attendees", org).get_json()
    assert [(a["name"], a["state"]) for a in attendees] == [("Wes", "going"), ("Mia", "not_going")]
    assert api.call("GET", f"/api/v1/gatherings/{gathering['id']}", mia).status_code == 404
    assert api.call("PUT", rsvp, mia, json={"response": "yes"}).status_code == 404



def test_a_member_who_made_a_gathering_has_no_say_in_it_once_removed(api):
    org, mia = api.signup("Olga"), api.signup("Mia")
    group = group_of(api, org)
    join(api, group, mia)
    gathering = gathering_in(api, mia, group)  # members make gatherings in their group
    path = f"/api/v1/gatherings/{gathering['id']}"
    assert api.call("PATCH", path, mia, json={"title": "Mia's knit night"}).status_code == 200

    member = f"/api/v1/groups/{group['id']}/members/{mia['id']}"
    assert api.call("DELETE", member, org).status_code == 204
    assert api.call("PATCH", path, mia, json={"title": "Taken back"}).status_code == 404
    assert api.call("GET", path, mia).status_code == 404
    # the group's organizers still run it
    assert api.call("PATCH", path, org, json={"title": "Knit night"}).status_code == 200
    listed = api.call("GET", "/api/v1/gatherings", mia).get_json()
    assert gathering["id"] not in [g["id"] for g in listed]

def test_a_series_changes_visibility_from_an_occurrence_on(api):
    org, out = api.signup("Olga"), api.signup("Otto")
    group = group_of(api, org)
    made = gathering_in(api, org, group, visibility="public", recurrence="FREQ=WEEKLY;COUNT=4")
    ids = [o["id"] for o in made["occurrences"]]
    changed = api.call(
        "PATCH",
        f"/api/v1/gatherings/{ids[2]}",
        org,
        json={"scope": "following", "visibility": "members"},
    )
    assert changed.status_code == 200, changed.get_json()
    seen = [api.call("GET", f"/api/v1/gatherings/{gid}", out).status_code for gid in ids]
    assert seen == [200, 200, 404, 404]
