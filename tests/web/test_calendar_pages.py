"""The profile's calendars: add one's own calendar URL, see how its fetch went, remove it."""

from __future__ import annotations

from tests.support.accounts import page_session

CSRF = {"X-CSRF-Token": "test-csrf"}


def signed_in(client, user):
    with client.session_transaction() as session:
        session.update(page_session(client.application, user["id"]))
        session["csrf"] = "test-csrf"


def test_a_calendar_is_added_listed_and_removed_on_the_profile(api, client):
    ann = api.signup("Ann")
    signed_in(client, ann)

    added = client.post(
        "/profile/calendars", data={"url": "webcal://calendar.example.org/ann.ics"}, headers=CSRF
    )
    assert added.status_code == 302 and added.headers["Location"].endswith("/profile#calendars")
    profile = client.get("/profile").get_data(as_text=True)
    assert "https://calendar.example.org/ann.ics" in profile and "waiting to be read" in profile
    (calendar,) = api.call("GET", "/api/v1/me/calendars", ann).get_json()

    refused = client.post("/profile/calendars", data={"url": "file:///etc/passwd"}, headers=CSRF)
    assert refused.status_code == 422
    assert "http" in refused.get_data(as_text=True)
    again = client.post(
        "/profile/calendars", data={"url": "https://calendar.example.org/ann.ics"}, headers=CSRF
    )
    assert again.status_code == 409

    bob = api.signup("Bob")
    signed_in(client, bob)
    assert (
        client.post(f"/profile/calendars/{calendar['id']}/delete", headers=CSRF).status_code == 404
    )
    signed_in(client, ann)
    removed = client.post(f"/profile/calendars/{calendar['id']}/delete", headers=CSRF)
    assert removed.status_code == 302
    assert api.call("GET", "/api/v1/me/calendars", ann).get_json() == []
