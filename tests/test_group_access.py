"""What each role gets from every route of a group's members-only gathering, poll and group.

tests/test_permissions.py says who may use a route at all (an account, an organizer...);
this table says what each relation to a group gets from the routes that show or change a
group's things: its organizer, a co-organizer (promoted, not the gathering's creator), a
member, a pending member (the group approves its members), an outsider and a visitor.
Every route with a gathering or group in its URL must have its row (a new one cannot ship
without saying what each of them gets), and every cell is tried on a fresh world.

Statuses: 200/201/204 done, 403 seen but not allowed, 404 not there for them (members-only),
401 the API wants a token, LOGIN a page sends visitors to log in, DONE a page form did it
and redirected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.domain.access import Relation, Visibility, gathering_access
from tests.support.accounts import page_session
from tests.test_permissions import routes

ROLES = ("organizer", "co_organizer", "member", "pending", "outsider", "signed_out")
LOGIN = "login"  # a page redirects a visitor to the log-in page
DONE = "done"  # a page form did it and redirected back

SECRET_PLACE = "12 Secret Lane"


def row(*cells: Any) -> dict[str, Any]:
    """One row: what organizer, co-organizer, member, pending, outsider, signed out get."""
    assert len(cells) == len(ROLES)
    return dict(zip(ROLES, cells, strict=True))


# (endpoint, method) → what each role gets, on a members-only gathering / poll / the group
ROLE_TABLE: dict[tuple[str, str], dict[str, Any]] = {
    # groups
    ("groups.GroupById", "GET"): row(200, 200, 200, 200, 200, 200),
    ("groups.Members", "GET"): row(200, 200, 403, 403, 403, 401),
    ("groups.Members", "POST"): row(200, 200, 200, 200, 201, 401),
    ("groups.Members", "DELETE"): row(204, 204, 204, 204, 204, 401),
    ("groups.MemberById", "PUT"): row(200, 200, 403, 403, 403, 401),  # approve the pending
    ("groups.MemberById", "DELETE"): row(204, 204, 403, 204, 403, 401),  # the pending: self
    ("recommendations.GroupPeople", "GET"): row(200, 200, 200, 200, 200, 401),
    ("recommendations.GroupProposals", "POST"): row(201, 201, 403, 403, 403, 401),
    # the members-only gathering
    ("gatherings.GatheringById", "GET"): row(200, 200, 200, 404, 404, 404),
    ("gatherings.GatheringById", "PATCH"): row(200, 200, 403, 404, 404, 401),
    ("gatherings.GatheringCancel", "POST"): row(200, 200, 403, 404, 404, 401),
    ("gatherings.GatheringRsvp", "PUT"): row(200, 200, 200, 404, 404, 401),
    ("gatherings.GatheringAttendees", "GET"): row(200, 200, 200, 404, 404, 401),
    ("gatherings.GatheringAttendeesCsv", "GET"): row(200, 200, 403, 404, 404, 401),
    ("mail_status.GatheringMailStatus", "GET"): row(200, 200, 403, 404, 404, 401),
    ("reach.Comments", "GET"): row(200, 200, 200, 404, 404, 401),
    ("reach.Comments", "POST"): row(201, 201, 201, 404, 404, 401),
    ("reach.CommentById", "DELETE"): row(204, 204, 204, 404, 404, 401),  # the member's comment
    ("reach.Messages", "GET"): row(200, 200, 200, 404, 404, 401),
    ("reach.Messages", "POST"): row(202, 202, 403, 404, 404, 401),
    # the members-only poll
    ("polls.Availability", "GET"): row(200, 200, 200, 404, 404, 401),
    ("polls.Availability", "PUT"): row(200, 200, 200, 404, 404, 401),
    ("polls.Slots", "GET"): row(200, 200, 200, 404, 404, 401),
    ("polls.Schedule", "POST"): row(200, 200, 403, 404, 404, 401),
    ("polls.Participants", "GET"): row(200, 200, 403, 404, 404, 401),
    ("calendars.PollBusy", "GET"): row(200, 200, 200, 404, 404, 401),  # one's own busy times
    # calendars: the group feed is public (it leaves members-only ones out, see below)
    ("feeds.group_feed", "GET"): row(200, 200, 200, 200, 200, 200),
    ("feeds.gathering_file", "GET"): row(200, 200, 200, 404, 404, 404),
    # pages
    ("group_pages.show", "GET"): row(200, 200, 200, 200, 200, 200),
    ("group_pages.join", "POST"): row(DONE, DONE, DONE, DONE, DONE, LOGIN),
    ("group_pages.leave", "POST"): row(DONE, DONE, DONE, DONE, DONE, LOGIN),
    ("group_pages.member", "POST"): row(DONE, DONE, 403, 403, 403, LOGIN),
    ("group_pages.propose", "GET"): row(200, 200, 200, 200, 200, LOGIN),
    ("group_pages.propose_post", "POST"): row(DONE, DONE, 403, 403, 403, LOGIN),
    ("gathering_pages.show", "GET"): row(200, 200, 200, 404, 404, 404),
    ("gathering_pages.edit", "GET"): row(200, 200, 403, 404, 404, LOGIN),
    ("gathering_pages.edit", "POST"): row(DONE, DONE, 403, 404, 404, LOGIN),
    ("gathering_pages.rsvp", "POST"): row(DONE, DONE, DONE, 404, 404, LOGIN),
    ("gathering_pages.attendees_csv", "GET"): row(200, 200, 403, 404, 404, LOGIN),
    ("gathering_pages.cancel", "POST"): row(DONE, DONE, 403, 404, 404, LOGIN),
    ("poll_pages.show", "GET"): row(200, 200, 200, 404, 404, 404),
    ("poll_pages.save_availability", "POST"): row(DONE, DONE, DONE, 404, 404, LOGIN),
    ("poll_pages.slots_json", "GET"): row(200, 200, 200, 404, 404, LOGIN),
    ("poll_pages.schedule", "POST"): row(DONE, DONE, 403, 404, 404, LOGIN),
    ("reach_pages.post_comment", "POST"): row(DONE, DONE, DONE, 404, 404, LOGIN),
    ("reach_pages.delete_comment", "POST"): row(DONE, DONE, DONE, 404, 404, LOGIN),
    ("reach_pages.send_message", "POST"): row(DONE, DONE, 403, 404, 404, LOGIN),
}

_SOON = (datetime.now(UTC) + timedelta(days=20)).replace(minute=0, second=0, microsecond=0)
_WINDOW = _SOON + timedelta(days=1)
_CHOSEN = _WINDOW + timedelta(hours=10)


def _group_routes(app) -> dict[tuple[str, str], str]:
    return {
        key: rule
        for key, rule in routes(app).items()
        if "<int:gathering_id>" in rule or "<int:group_id>" in rule
    }


def test_every_route_of_a_group_or_gathering_has_its_row(app):
    served = _group_routes(app)
    assert sorted(set(served) - set(ROLE_TABLE)) == [], "routes without a row"
    assert sorted(set(ROLE_TABLE) - set(served)) == [], "rows for routes that are gone"


def make_world(api) -> dict[str, Any]:
    """A group that approves its members; its founder, a co-organizer, a member, someone
    waiting for approval and an outsider; a members-only gathering at a secret place and a
    members-only poll the member answered."""
    people = {name: api.signup(name.title()) for name in ROLES if name != "signed_out"}
    org = people["organizer"]
    group = api.call(
        "POST",
        "/api/v1/groups",
        org,
        json={"name": "Night walkers", "interests": ["walking"], "join_policy": "approval"},
    ).get_json()
    members = f"/api/v1/groups/{group['id']}/members"
    for name in ("co_organizer", "member", "pending"):
        assert api.call("POST", members, people[name]).get_json()["state"] == "pending"
    for name in ("co_organizer", "member"):
        done = api.call("PUT", f"{members}/{people[name]['id']}", org, json={"state": "member"})
        assert done.status_code == 200, done.get_json()
    promoted = api.call(
        "PUT", f"{members}/{people['co_organizer']['id']}", org, json={"role": "organizer"}
    )
    assert promoted.get_json()["role"] == "organizer"
    gathering = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={
            "title": "Moonlit walk",
            "location": SECRET_PLACE,
            "timezone": "Europe/Berlin",
            "duration_minutes": 60,
            "starts_at": _SOON.isoformat(),
            "group_id": group["id"],
        },
    ).get_json()
    assert gathering["visibility"] == "members"  # the default in a group
    poll = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={
            "title": "When shall we walk?",
            "location": SECRET_PLACE,
            "timezone": "UTC",
            "duration_minutes": 60,
            "group_id": group["id"],
            "poll": {
                "window_start": _WINDOW.isoformat(),
                "window_end": (_WINDOW + timedelta(days=2)).isoformat(),
            },
        },
    ).get_json()
    answered = api.call(
        "PUT",
        f"/api/v1/gatherings/{poll['id']}/availability",
        people["member"],
        json={
            "intervals": [
                {"start": _CHOSEN.isoformat(), "end": (_CHOSEN + timedelta(hours=2)).isoformat()}
            ]
        },
    )
    assert answered.status_code == 200
    comment = api.call(
        "POST",
        f"/api/v1/gatherings/{gathering['id']}/comments",
        people["member"],
        json={"body": "Shall I bring a torch?"},
    )
    assert comment.status_code == 201, comment.get_json()
    return {
        **people,
        "group": group,
        "gathering": gathering,
        "poll": poll,
        "comment": comment.get_json(),
    }


def _url(rule: str, endpoint: str, world: dict[str, Any]) -> str:
    polls = endpoint.startswith(("polls.", "poll_pages.")) or endpoint == "calendars.PollBusy"
    gathering = world["poll"] if polls else world["gathering"]
    return (
        rule.replace("<int:gathering_id>", str(gathering["id"]))
        .replace("<int:group_id>", str(world["group"]["id"]))
        .replace("<int:user_id>", str(world["pending"]["id"]))
        .replace("<int:comment_id>", str(world["comment"]["id"]))
    )


def _edit_form(world: dict[str, Any]) -> dict[str, Any]:
    start = _SOON.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M")
    return {
        "title": "Moonlit walk, renamed",
        "description": "",
        "location": SECRET_PLACE,
        "interests": "",
        "timezone": "Europe/Berlin",
        "duration_minutes": "60",
        "capacity": "",
        "reminders": ["1440", "60"],
        "starts_at": start,
        "visibility": "members",
    }


API_BODIES: dict[tuple[str, str], Any] = {
    ("groups.MemberById", "PUT"): {"state": "member"},
    ("gatherings.GatheringById", "PATCH"): {"title": "Renamed"},
    ("gatherings.GatheringRsvp", "PUT"): {"response": "yes"},
    ("polls.Availability", "PUT"): {"intervals": []},
    ("polls.Schedule", "POST"): {"start": _CHOSEN.isoformat()},
    ("reach.Comments", "POST"): {"body": "See you there"},
    ("reach.Messages", "POST"): {"subject": "Torches", "body": "Bring one.", "to": "all"},
}
PAGE_FORMS: dict[tuple[str, str], Any] = {
    ("group_pages.member", "POST"): {"action": "approve"},
    ("gathering_pages.rsvp", "POST"): {"response": "yes"},
    ("gathering_pages.edit", "POST"): _edit_form,
    ("poll_pages.schedule", "POST"): {"start": _CHOSEN.isoformat()},
    ("reach_pages.post_comment", "POST"): {"body": "See you there"},
    ("reach_pages.send_message", "POST"): {"subject": "Torches", "body": "Bring one.", "to": "all"},
}


def ask(client, world, key: tuple[str, str], role: str) -> Any:
    """The request of `key` as `role`: a bearer token (API) or a signed-in session (pages
    and calendar files), with a valid body and the session's CSRF token."""
    endpoint, method = key
    url = _url(_group_routes(client.application)[key], endpoint, world)
    user = world.get(role)
    api = url.startswith("/api/")
    headers = {"X-CSRF-Token": "test-csrf"}
    with client.session_transaction() as cookie:
        cookie.clear()
        cookie["csrf"] = "test-csrf"
        if user is not None and not api:
            cookie.update(page_session(client.application, user["id"]))
    if api:
        if user is not None:
            headers.update(user["headers"])
        response = client.open(url, method=method, headers=headers, json=API_BODIES.get(key))
    else:
        form = PAGE_FORMS.get(key)
        response = client.open(
            url, method=method, headers=headers, data=form(world) if callable(form) else form
        )
    response.get_data()
    response.close()
    return response


def outcome(response) -> Any:
    """The table's word for a response."""
    if response.status_code in (302, 303):
        return LOGIN if "/login" in response.headers["Location"] else DONE
    return response.status_code


@pytest.fixture
def world(api) -> dict[str, Any]:
    return make_world(api)


@pytest.mark.parametrize("key", sorted(ROLE_TABLE))
def test_each_role_gets_what_its_row_says(api, client, key):
    # reads share one world; each write gets a fresh one
    world = None
    for role in ROLES:
        if world is None or key[1] != "GET":
            world = make_world(api)
        response = ask(client, world, key, role)
        assert outcome(response) == ROLE_TABLE[key][role], (key, role, response.data[:300])
        # whatever a route answers, the secret place reaches only members and organizers
        if role in ("pending", "outsider", "signed_out"):
            assert SECRET_PLACE.encode() not in response.data, (key, role)


# listings: the SQL filter (access.listed_for) agrees with the domain rule for every role and
# visibility, on the API list, a group's page and its feed
@pytest.mark.parametrize("role", ROLES)
def test_lists_show_each_role_what_the_rule_lists(api, client, world, role):
    org = world["organizer"]
    made = {}
    for visibility in ("public", "members", "unlisted"):
        made[visibility] = api.call(
            "POST",
            "/api/v1/gatherings",
            org,
            json={
                "title": f"Walk ({visibility})",
                "timezone": "UTC",
                "duration_minutes": 60,
                "starts_at": (_SOON + timedelta(days=3)).isoformat(),
                "group_id": world["group"]["id"],
                "visibility": visibility,
            },
        ).get_json()["id"]
    relation = {
        "organizer": Relation.ORGANIZER,
        "co_organizer": Relation.ORGANIZER,
        "member": Relation.MEMBER,
        "pending": Relation.PENDING,
        "outsider": Relation.OUTSIDER,
        "signed_out": Relation.SIGNED_OUT,
    }[role]
    expected = sorted(
        made[v] for v in made if gathering_access(relation, Visibility(v), in_group=True).listed
    )
    user = world.get(role)
    listed = api.call(
        "GET", f"/api/v1/gatherings?group_id={world['group']['id']}&page_size=50", user
    ).get_json()
    assert sorted(g["id"] for g in listed if g["id"] in made.values()) == expected
    with client.session_transaction() as cookie:
        cookie.clear()
        if user is not None:
            cookie.update(page_session(client.application, user["id"]))
    page = client.get(f"/groups/{world['group']['id']}").text
    assert sorted(gid for gid in made.values() if f'href="/g/{gid}"' in page) == expected
