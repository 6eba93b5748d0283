"""Who may use each endpoint and page: one row per route and method, checked against the app.

Every route the app serves must have its row here (a new one cannot ship without saying who
may use it), and each row is tried: signed-in routes refuse visitors (401 from the API, the
log-in page for people), organizer and site-admin routes refuse other accounts (403), links
refuse a bogus token without asking anyone to sign in, and open routes answer visitors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.accounts import page_session as page_signed_in

ANYONE = "anyone"  # no account needed
SIGNED_IN = "signed-in"  # any account: a bearer token (API) or a session (pages)
ORGANIZER = "organizer"  # the gathering's or group's organizer
ADMIN = "site admin"  # a site administrator (granted from the command line)
LINK = "link"  # the signed token in the URL is the credential

PERMISSIONS: dict[tuple[str, str], str] = {
    # accounts
    ("accounts.Users", "POST"): ANYONE,
    ("accounts.Tokens", "POST"): ANYONE,
    ("accounts.Me", "GET"): SIGNED_IN,
    ("accounts.Me", "PATCH"): SIGNED_IN,
    ("accounts.FeedToken", "POST"): SIGNED_IN,
    ("accounts.Me", "DELETE"): SIGNED_IN,
    ("accounts.MyData", "GET"): SIGNED_IN,
    ("accounts.MyTokens", "GET"): SIGNED_IN,
    ("accounts.MyTokenById", "DELETE"): SIGNED_IN,  # one's own tokens only (else 404)
    ("accounts.VerifyEmailAgain", "POST"): SIGNED_IN,
    ("accounts.MyEmail", "POST"): SIGNED_IN,
    ("accounts.MyPassword", "POST"): SIGNED_IN,
    ("accounts.EmailLink", "POST"): ANYONE,  # 202 whether an account has the address or not
    ("accounts.PasswordReset", "POST"): ANYONE,
    # groups
    ("groups.Groups", "GET"): ANYONE,
    ("groups.Groups", "POST"): SIGNED_IN,
    ("groups.GroupById", "GET"): ANYONE,
    ("groups.Members", "GET"): ORGANIZER,
    ("groups.Members", "POST"): SIGNED_IN,
    ("groups.Members", "DELETE"): SIGNED_IN,
    ("groups.MemberById", "PUT"): ORGANIZER,
    ("groups.MemberById", "DELETE"): ORGANIZER,  # or the member themself
    # gatherings and attendance
    ("gatherings.Gatherings", "GET"): ANYONE,
    ("gatherings.Gatherings", "POST"): SIGNED_IN,
    ("gatherings.GatheringById", "GET"): ANYONE,
    ("gatherings.GatheringById", "PATCH"): ORGANIZER,
    ("gatherings.GatheringCancel", "POST"): ORGANIZER,
    ("gatherings.GatheringRsvp", "PUT"): SIGNED_IN,
    ("gatherings.GatheringAttendees", "GET"): SIGNED_IN,
    ("gatherings.GatheringAttendeesCsv", "GET"): ORGANIZER,  # answers are for organizers
    ("mail_status.GatheringMailStatus", "GET"): ORGANIZER,
    # reach: a gathering's discussion is its members' and attendees' (else 403/404)
    ("reach.Comments", "GET"): SIGNED_IN,
    ("reach.Comments", "POST"): SIGNED_IN,
    ("reach.CommentById", "DELETE"): SIGNED_IN,  # its author, or an organizer
    ("reach.Messages", "GET"): SIGNED_IN,
    ("reach.Messages", "POST"): ORGANIZER,
    ("reach_pages.post_comment", "POST"): SIGNED_IN,
    ("reach_pages.delete_comment", "POST"): SIGNED_IN,
    ("reach_pages.send_message", "POST"): ORGANIZER,
    # polls
    ("polls.Availability", "GET"): SIGNED_IN,
    ("polls.Availability", "PUT"): SIGNED_IN,
    ("polls.Slots", "GET"): SIGNED_IN,
    ("polls.Schedule", "POST"): ORGANIZER,
    ("polls.Participants", "GET"): ORGANIZER,
    # tribe
    ("interests.Interests", "GET"): ANYONE,
    ("interests.Aliases", "GET"): ANYONE,
    ("interests.Aliases", "POST"): ADMIN,
    ("interests.AliasByName", "DELETE"): ADMIN,
    ("interests.AliasSuggestions", "GET"): SIGNED_IN,  # admins see all, others their own
    ("interests.AliasSuggestions", "POST"): ORGANIZER,  # of a group
    ("interests.AcceptSuggestion", "POST"): ADMIN,
    ("interests.RejectSuggestion", "POST"): ADMIN,
    ("recommendations.MyRecommendations", "GET"): SIGNED_IN,
    ("recommendations.PeopleIMet", "GET"): SIGNED_IN,
    ("recommendations.GroupPeople", "GET"): SIGNED_IN,
    ("recommendations.GroupProposals", "POST"): ORGANIZER,
    ("recommendations.DigestUnsubscribe", "POST"): LINK,
    # check-ins: between the two people only (anyone else: 404); asking needs to have met (403)
    ("checkins.Checkins", "POST"): SIGNED_IN,
    ("checkins.MyCheckins", "GET"): SIGNED_IN,
    ("checkins.CheckinAccept", "POST"): SIGNED_IN,
    ("checkins.CheckinDecline", "POST"): SIGNED_IN,
    ("checkins.CheckinStop", "POST"): SIGNED_IN,
    # the API's own
    ("api-docs.openapi_json", "GET"): ANYONE,
    ("health.healthz", "GET"): ANYONE,
    # calendars
    ("feeds.personal_feed", "GET"): LINK,
    ("feeds.group_feed", "GET"): ANYONE,
    ("feeds.gathering_file", "GET"): ANYONE,
    # pages
    ("pages.home", "GET"): ANYONE,
    ("pages.signup", "GET"): ANYONE,
    ("pages.signup", "POST"): ANYONE,
    ("pages.login", "GET"): ANYONE,
    ("pages.login", "POST"): ANYONE,
    ("pages.logout", "POST"): ANYONE,
    ("pages.profile", "GET"): SIGNED_IN,
    ("pages.profile", "POST"): SIGNED_IN,
    ("account_pages.verify", "GET"): LINK,
    ("account_pages.verify", "POST"): LINK,
    ("account_pages.sign_in", "GET"): LINK,
    ("account_pages.sign_in", "POST"): LINK,
    ("account_pages.reset", "GET"): LINK,
    ("account_pages.reset", "POST"): LINK,
    ("account_pages.confirm_email", "GET"): LINK,
    ("account_pages.confirm_email", "POST"): LINK,
    ("account_pages.email_link", "GET"): ANYONE,
    ("account_pages.email_link", "POST"): ANYONE,
    ("account_pages.password_reset", "GET"): ANYONE,
    ("account_pages.password_reset", "POST"): ANYONE,
    ("account_pages.resend_verify", "POST"): SIGNED_IN,
    ("account_pages.sign_out_everywhere", "POST"): SIGNED_IN,
    ("account_pages.revoke_token", "POST"): SIGNED_IN,
    ("account_pages.change_password", "POST"): SIGNED_IN,
    ("account_pages.change_email", "POST"): SIGNED_IN,
    ("account_pages.export", "GET"): SIGNED_IN,
    ("account_pages.delete_account", "POST"): SIGNED_IN,
    ("group_pages.index", "GET"): ANYONE,
    ("group_pages.show", "GET"): ANYONE,
    ("group_pages.new", "GET"): SIGNED_IN,
    ("group_pages.new", "POST"): SIGNED_IN,
    ("group_pages.join", "POST"): SIGNED_IN,
    ("group_pages.leave", "POST"): SIGNED_IN,
    ("group_pages.member", "POST"): ORGANIZER,
    ("group_pages.propose", "GET"): SIGNED_IN,  # others are told only organizers may
    ("group_pages.propose_post", "POST"): ORGANIZER,
    ("gathering_pages.new", "GET"): SIGNED_IN,
    ("gathering_pages.new", "POST"): SIGNED_IN,
    ("gathering_pages.show", "GET"): ANYONE,
    ("gathering_pages.edit", "GET"): ORGANIZER,
    ("gathering_pages.edit", "POST"): ORGANIZER,
    ("gathering_pages.rsvp", "POST"): SIGNED_IN,
    ("gathering_pages.attendees_csv", "GET"): ORGANIZER,
    ("gathering_pages.cancel", "POST"): ORGANIZER,
    ("poll_pages.show", "GET"): ANYONE,
    ("poll_pages.save_availability", "POST"): SIGNED_IN,
    ("poll_pages.slots_json", "GET"): SIGNED_IN,
    ("poll_pages.schedule", "POST"): ORGANIZER,
    ("rsvp_links.confirm", "GET"): LINK,
    ("approval_links.confirm", "GET"): LINK,
    ("approval_links.approve", "POST"): LINK,
    ("rsvp_links.record", "POST"): LINK,
    ("unsubscribe.confirm", "GET"): LINK,
    ("checkin_pages.met", "GET"): SIGNED_IN,
    ("checkin_pages.ask", "POST"): SIGNED_IN,
    ("checkin_pages.settings", "POST"): SIGNED_IN,
    ("checkin_pages.act", "POST"): SIGNED_IN,
    ("checkin_pages.answer_link", "GET"): LINK,
    ("checkin_pages.answer_link_post", "POST"): LINK,
    ("unsubscribe.unsubscribe", "POST"): LINK,
    ("static", "GET"): ANYONE,
    # two-way calendars: one's own calendars and busy times; the INBOUND_SECRET is the
    # credential of forwarded mail (404 while unset, 403 when wrong)
    ("calendars.MyCalendars", "GET"): SIGNED_IN,
    ("calendars.MyCalendars", "POST"): SIGNED_IN,
    ("calendars.MyCalendarById", "DELETE"): SIGNED_IN,  # one's own calendars only (else 404)
    ("calendars.PollBusy", "GET"): SIGNED_IN,
    ("inbound.inbound_mail", "POST"): LINK,
    ("calendar_pages.add_calendar", "POST"): SIGNED_IN,
    ("calendar_pages.remove_calendar", "POST"): SIGNED_IN,  # one's own only (else 404)
}

# Bodies that pass validation, so that what is checked is who asks, not what they send.
_SOON = (datetime.now(UTC) + timedelta(days=20)).replace(minute=0, second=0, microsecond=0)
API_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("accounts.Me", "PATCH"): {"name": "Renamed"},
    ("accounts.Me", "DELETE"): {"password": "not the password"},
    ("accounts.MyEmail", "POST"): {"email": "new@example.org", "password": "x"},
    ("accounts.MyPassword", "POST"): {"current_password": "x", "new_password": "y" * 12},
    ("accounts.EmailLink", "POST"): {"email": "nobody@example.org"},
    ("accounts.PasswordReset", "POST"): {"email": "nobody@example.org"},
    ("groups.Groups", "POST"): {"name": "Knitters", "interests": ["knitting"]},
    ("gatherings.Gatherings", "POST"): {
        "title": "Tea",
        "timezone": "UTC",
        "duration_minutes": 60,
        "starts_at": _SOON.isoformat(),
    },
    ("gatherings.GatheringById", "PATCH"): {"title": "Renamed"},
    ("gatherings.GatheringRsvp", "PUT"): {"response": "yes"},
    ("groups.MemberById", "PUT"): {"state": "member"},
    ("polls.Availability", "PUT"): {"intervals": []},
    ("polls.Schedule", "POST"): {"start": (_SOON + timedelta(days=1, hours=10)).isoformat()},
    ("reach.Comments", "POST"): {"body": "See you there"},
    ("reach.Messages", "POST"): {"subject": "Hi", "body": "Bring snacks", "to": "all"},
    ("interests.Aliases", "POST"): {"alias": "igo", "interest": "go"},
    ("interests.AliasSuggestions", "POST"): {"alias": "igo", "interest": "go"},
    ("calendars.MyCalendars", "POST"): {"url": "https://calendar.example.org/me.ics"},
    ("checkins.Checkins", "POST"): {"with": 1},
    ("checkins.CheckinAccept", "POST"): {"choice": 0},
}

PAGE_FORMS: dict[tuple[str, str], dict[str, str]] = {
    ("poll_pages.schedule", "POST"): {"start": (_SOON + timedelta(days=1, hours=10)).isoformat()},
    ("reach_pages.send_message", "POST"): {"subject": "Hi", "body": "Bring snacks", "to": "all"},
}


def routes(app) -> dict[tuple[str, str], str]:
    """(endpoint, method) → URL rule of everything the app serves."""
    found = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(rule.endpoint, method)] = rule.rule
    return found


def test_every_route_says_who_may_use_it(app):
    served = routes(app)
    assert sorted(set(served) - set(PERMISSIONS)) == [], "routes without a row"
    assert sorted(set(PERMISSIONS) - set(served)) == [], "rows for routes that are gone"


@pytest.fixture
def world(api, client, session):
    """An organizer with a group, a gathering in it and a poll; another signed-up person."""
    organizer, other = api.signup("Olga"), api.signup("Oscar")
    group = api.call(
        "POST", "/api/v1/groups", organizer, json={"name": "Go club", "interests": ["go"]}
    ).get_json()
    gathering = api.call(
        "POST",
        "/api/v1/gatherings",
        organizer,
        json={
            **API_BODIES[("gatherings.Gatherings", "POST")],
            "group_id": group["id"],
            "visibility": "public",  # who may see members-only ones: tests/test_group_access.py
        },
    ).get_json()
    window = _SOON + timedelta(days=1)
    poll = api.call(
        "POST",
        "/api/v1/gatherings",
        organizer,
        json={
            "title": "When?",
            "timezone": "UTC",
            "duration_minutes": 60,
            "poll": {
                "window_start": window.isoformat(),
                "window_end": (window + timedelta(days=2)).isoformat(),
            },
        },
    ).get_json()
    return {
        "organizer": organizer,
        "other": other,
        "group": group,
        "gathering": gathering,
        "poll": poll,
    }


def url_for_row(rule: str, endpoint: str, world: dict[str, Any]) -> str:
    """The rule with real ids (the poll's for poll routes) and a bogus token."""
    polls = endpoint.startswith(("polls.", "poll_pages.")) or endpoint == "calendars.PollBusy"
    gathering = world["poll"] if polls else world["gathering"]
    return (
        rule.replace("<int:gathering_id>", str(gathering["id"]))
        .replace("<int:group_id>", str(world["group"]["id"]))
        .replace("<int:user_id>", str(world["organizer"]["id"]))
        .replace("<token>", "not-a-real-token")
        .replace("<string:token>", "not-a-real-token")
        .replace("<path:filename>", "kindred.css")
        .replace("<path:alias>", "igo")
        .replace("<int:suggestion_id>", "1")
        .replace("<int:token_id>", "1")
        .replace("<int:comment_id>", "1")
        .replace("<int:calendar_id>", "1")
        .replace("<int:checkin_id>", "1")
        .replace("<any(accept, decline, stop):action>", "accept")
    )


def request_as(client, method: str, url: str, endpoint: str, *, user=None, headers=None) -> Any:
    """The request as the API or a page would get it: a bearer token or a session, a valid
    body, and the session's CSRF token on page forms."""
    headers = dict(headers or {})
    api = url.startswith("/api/")
    with client.session_transaction() as page_session:
        page_session.clear()
        page_session["csrf"] = "test-csrf"
        if user is not None and not api:
            page_session.update(page_signed_in(client.application, user["id"]))
    if user is not None and api:
        headers.update(user["headers"])
    if not api:
        headers["X-CSRF-Token"] = "test-csrf"
    if api:
        response = client.open(
            url, method=method, headers=headers, json=API_BODIES.get((endpoint, method))
        )
    else:
        response = client.open(
            url, method=method, headers=headers, data=PAGE_FORMS.get((endpoint, method))
        )
    response.get_data()
    response.close()  # static files are streamed from an open file
    return response


def refused_visitor(response, url: str) -> bool:
    if url.startswith("/api/"):
        return response.status_code == 401
    return response.status_code in (302, 303) and "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "row", sorted(k for k, v in PERMISSIONS.items() if v in (SIGNED_IN, ORGANIZER, ADMIN))
)
def test_visitors_are_refused_where_an_account_is_needed(app, client, world, row):
    endpoint, method = row
    url = url_for_row(routes(app)[row], endpoint, world)
    response = request_as(client, method, url, endpoint)
    assert refused_visitor(response, url), (url, response.status_code, response.data[:300])


@pytest.mark.parametrize(
    "row", sorted(k for k, v in PERMISSIONS.items() if v in (ORGANIZER, ADMIN))
)
def test_other_accounts_are_refused_where_the_organizer_or_an_admin_is_needed(
    app, client, world, row
):
    endpoint, method = row
    url = url_for_row(routes(app)[row], endpoint, world)
    response = request_as(client, method, url, endpoint, user=world["other"])
    assert response.status_code == 403, (url, response.status_code, response.data[:300])


@pytest.mark.parametrize("row", sorted(k for k, v in PERMISSIONS.items() if v == LINK))
def test_links_refuse_a_bogus_token_without_a_sign_in(app, client, world, row):
    endpoint, method = row
    url = url_for_row(routes(app)[row], endpoint, world)
    response = request_as(client, method, url, endpoint)
    assert 400 <= response.status_code < 500, (url, response.status_code)
    assert not refused_visitor(response, url)


@pytest.mark.parametrize(
    "row", sorted(k for k, v in PERMISSIONS.items() if v == ANYONE and k[1] == "GET")
)
def test_open_pages_and_reads_answer_visitors(app, client, world, row):
    endpoint, method = row
    url = url_for_row(routes(app)[row], endpoint, world)
    response = request_as(client, method, url, endpoint)
    assert response.status_code == 200, (url, response.status_code)
