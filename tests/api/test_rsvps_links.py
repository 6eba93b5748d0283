"""One-click RSVP links: a GET only asks, a POST answers; forged and stale links are refused."""

from __future__ import annotations

import time

from scheduler.services.gatherings.rsvp_links import rsvp_link
from tests.api.test_rsvps import create


def path_of(url: str) -> str:
    assert url.startswith("http://kindred.test/r/")
    return url.removeprefix("http://kindred.test")


def attendee_states(api, organizer, gathering_id):
    rows = api.call("GET", f"/api/v1/gatherings/{gathering_id}/attendees", organizer).get_json()
    return {row["user_id"]: row["state"] for row in rows}


def test_get_only_asks_and_post_records_the_answer_once(api, config):
    org = api.signup()
    g = create(api, org, capacity=1)
    guest = api.signup("Gita")
    link = path_of(rsvp_link(config, g["id"], guest["id"], "yes"))

    # what a mail scanner's prefetch does
    page = api.client.get(link)
    assert page.status_code == 200
    assert b'method="post"' in page.data
    assert b"Soldering evening" in page.data
    assert attendee_states(api, org, g["id"]) == {}

    done = api.client.post(link)
    assert done.status_code == 200
    assert b'data-state="going"' in done.data
    again = api.client.post(link)
    assert again.status_code == 200
    assert b'data-state="going"' in again.data
    assert attendee_states(api, org, g["id"]) == {guest["id"]: "going"}


def test_a_link_for_a_full_gathering_puts_you_on_the_waitlist(api, config):
    org = api.signup()
    g = create(api, org, capacity=1)
    api.call("PUT", f"/api/v1/gatherings/{g['id']}/rsvp", org, json={"response": "yes"})
    guest = api.signup()
    done = api.client.post(path_of(rsvp_link(config, g["id"], guest["id"], "yes")))
    assert b'data-state="waitlisted"' in done.data
    assert b"number 1 on the waitlist" in done.data
    no = api.client.post(path_of(rsvp_link(config, g["id"], guest["id"], "no")))
    assert b'data-state="not_going"' in no.data


def test_tampered_foreign_and_stale_links_are_refused_kindly(api, config, monkeypatch):
    org = api.signup()
    g = create(api, org)
    guest = api.signup()
    link = path_of(rsvp_link(config, g["id"], guest["id"], "yes"))
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    for bad in (tampered, "/r/garbage", "/r/" + "x" * 5000):
        for method in ("GET", "POST"):
            response = api.client.open(bad, method=method)
            assert response.status_code == 400, (bad[:40], method)
            assert b"not valid" in response.data
    # signed with the same key for another purpose
    from itsdangerous import URLSafeTimedSerializer

    foreign = URLSafeTimedSerializer(config.secret_key, salt="other").dumps(
        [g["id"], guest["id"], "yes"]
    )
    assert api.client.post(f"/r/{foreign}").status_code == 400

    old = time.time() - (config.rsvp_link_max_age_days * 86400 + 60)
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: old)
        stale = path_of(rsvp_link(config, g["id"], guest["id"], "yes"))
    for method in ("GET", "POST"):
        response = api.client.open(stale, method=method)
        assert response.status_code == 410
        assert b"expired" in response.data
    assert attendee_states(api, org, g["id"]) == {}


def test_links_to_cancelled_or_missing_gatherings(api, config):
    org = api.signup()
    g = create(api, org)
    guest = api.signup()
    link = path_of(rsvp_link(config, g["id"], guest["id"], "yes"))
    api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel", org)
    page = api.client.get(link)
    assert page.status_code == 200
    assert b"cancelled" in page.data
    assert b'method="post"' not in page.data
    refused = api.client.post(link)
    assert refused.status_code == 409
    assert b"cancelled" in refused.data
    missing = api.client.post(path_of(rsvp_link(config, 987_654, guest["id"], "yes")))
    assert missing.status_code == 404
