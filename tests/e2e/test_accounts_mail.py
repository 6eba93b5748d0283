"""Accounts end to end through real mail: API and pages → outbox → delivery over SMTP to a real
server (aiosmtpd) → the link in the mail, followed with the test client as a browser would.

Delivery runs in-process here (the planner and `deliver_due`, as the worker runs them); one
test runs the real worker and clock processes.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select, text, update

from scheduler.config import Config
from scheduler.models import AccountLink, OutboxMessage, OutboxStatus, Rsvp, User, WebSession
from scheduler.services.mail import delivery
from tests.support.accounts import page_session
from tests.support.mail import run_planner
from tests.support.processes import running, wait_for

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
LINK = re.compile(r"http://kindred\.test(/account/(?:verify|sign-in|reset|email)/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def config(config: Config, smtp_sink: Any) -> Config:
    """The test config, mailing the test SMTP server."""
    return dataclasses.replace(config, smtp_url=smtp_sink.url)


@pytest.fixture
def db(app: Any) -> Any:
    return app.extensions["kindred"].db.session_factory


def deliver(app: Any) -> delivery.DeliveryReport:
    """What the worker does after a commit: the planner, then delivery over SMTP."""
    run_planner(app)
    return delivery.deliver_due(app.extensions["kindred"])


def mails_to(sink: Any, address: str) -> list[Any]:
    return [m for m in sink.messages if m["To"].addresses[0].addr_spec == address]


def link_in(message: Any) -> str:
    """The account link (a path on the site) in a mail's text part."""
    body = message.get_body(preferencelist=("plain",)).get_content()
    match = LINK.search(body)
    assert match, body
    return match.group(1)


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def follow(client: FlaskClient, path: str, **form: str) -> Any:
    """Open a mailed link as a browser does: the page (GET), then its button (POST)."""
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(path, data={"csrf_token": csrf(page.text), **form})


def signed_in(client: FlaskClient) -> bool:
    return client.get("/profile").status_code == 200


def page_login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    token = csrf(client.get("/login").text)
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password})


def gathering(api: Any, organizer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    response = api.call(
        "POST",
        "/api/v1/gatherings",
        organizer,
        json={
            "title": "Soldering evening",
            "timezone": "Europe/Berlin",
            "duration_minutes": 90,
            "starts_at": start.isoformat(),
            **extra,
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def rsvp(api: Any, user: dict[str, Any], gathering_id: int, answer: str) -> Any:
    response = api.call(
        "PUT", f"/api/v1/gatherings/{gathering_id}/rsvp", user, json={"response": answer}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def kinds(messages: list[Any]) -> list[str]:
    return [str(m["X-Kindred-Kind"]) for m in messages]


# --- verified addresses ----------------------------------------------------------------------


def test_sign_up_mails_only_a_verify_link_and_rsvp_flips_mail_nothing_until_it_is_followed(
    app, api, client, smtp_sink, db
):
    org = api.signup("Olga")
    g = gathering(api, org, capacity=5)
    newbie = api.signup("Nina", verified=False, email="nina@example.org")
    assert newbie["email_verified"] is False
    assert api.call("GET", "/api/v1/me", newbie).get_json()["email_verified"] is False
    for answer in ["yes", "no"] * 15 + ["yes"]:  # 31 flips in a row
        rsvp(api, newbie, g["id"], answer)
    report = deliver(app)
    assert kinds(mails_to(smtp_sink, "nina@example.org")) == ["verify"]
    assert report.unverified >= 1  # the invite waits for the address to be proved
    with db() as s:
        held = s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.recipient_id == newbie["id"], OutboxMessage.kind == "invite"
            )
        ).all()
        assert [(row.status, row.last_error) for row in held] == [
            (OutboxStatus.PENDING, delivery.HELD_UNVERIFIED)
        ]
    # the profile page says so, and offers the link again
    browser = app.test_client()
    page_login(browser, "nina@example.org")
    profile = browser.get("/profile").text
    assert "data-email-unverified" in profile and "Send the link again" in profile

    (verify_mail,) = mails_to(smtp_sink, "nina@example.org")
    followed = follow(browser, link_in(verify_mail))
    assert followed.status_code == 302
    assert api.call("GET", "/api/v1/me", newbie).get_json()["email_verified"] is True
    assert "data-email-verified" in browser.get("/profile").text
    deliver(app)
    assert kinds(mails_to(smtp_sink, "nina@example.org")) == ["verify", "invite"]
    # from now on invites flow as for anyone
    g2 = gathering(api, org)
    rsvp(api, newbie, g2["id"], "yes")
    deliver(app)
    assert kinds(mails_to(smtp_sink, "nina@example.org")) == ["verify", "invite", "invite"]
    # a verify link works once
    assert follow(app.test_client(), link_in(verify_mail)).status_code == 410


def test_resending_the_verify_link_is_rate_limited_per_account(app, api, smtp_sink, config):
    newbie = api.signup("Nina", verified=False, email="nina@example.org")
    statuses = [api.call("POST", "/api/v1/me/verify-email", newbie).status_code for _ in range(2)]
    assert statuses == [202, 202]
    deliver(app)
    assert kinds(mails_to(smtp_sink, "nina@example.org")) == ["verify"] * 3
    # (the budgets themselves are exercised with limits on in test_accounts_rate_limits)


def test_an_unverified_account_does_not_lock_the_address(app, api, client, smtp_sink, db):
    # an attacker signs up with Vera's address, sets up a token and takes the last seat
    attacker = api.signup("Mallory", verified=False, email="vera@example.org")
    assert api.call("GET", "/api/v1/me", attacker).status_code == 200
    org = api.signup("Olga")
    g = gathering(api, org, capacity=1)
    assert rsvp(api, attacker, g["id"], "yes")["state"] == "going"
    bea = api.signup("Bea", email="bea@example.org")
    assert rsvp(api, bea, g["id"], "yes")["state"] == "waitlisted"
    # Vera signs up: the address is not "taken", she is mailed a link instead
    again = client.post(
        "/api/v1/users",
        json={"email": "vera@example.org", "name": "Vera", "password": "vera's own secret"},
    )
    assert again.status_code == 202, again.get_json()
    assert again.get_json()["email_verified"] is False
    deliver(app)
    assert kinds(mails_to(smtp_sink, "vera@example.org")) == ["verify", "sign_in"]
    vera = app.test_client()
    assert follow(vera, link_in(mails_to(smtp_sink, "vera@example.org")[-1])).status_code == 302
    assert signed_in(vera)
    # the account is hers now: the maker's token and password are dead, the address proved
    assert api.call("GET", "/api/v1/me", attacker).status_code == 401
    login = client.post("/api/v1/tokens", json={"email": "vera@example.org", "password": PASSWORD})
    assert login.status_code == 401
    with db() as s:
        user = s.scalars(select(User).where(User.email == "vera@example.org")).one()
        assert user.email_verified_at is not None
    assert "Set a password" in vera.get("/profile").text
    # what the maker did is withdrawn: the seat went to Bea, and Vera is mailed no invite
    with db() as s:
        states = dict(
            s.execute(select(Rsvp.user_id, Rsvp.state).where(Rsvp.gathering_id == g["id"])).all()
        )
        assert states == {bea["id"]: "going"}
    deliver(app)
    assert kinds(mails_to(smtp_sink, "vera@example.org")) == ["verify", "sign_in"]
    assert "promoted" in kinds(mails_to(smtp_sink, "bea@example.org"))


# --- sign-in by link, reset ------------------------------------------------------------------


def test_sign_in_by_link_works_once_and_not_after_it_expires(app, api, client, smtp_sink, db):
    api.signup("Sam", email="sam@example.org")
    for address in ("sam@example.org", "nobody@example.org"):
        response = client.post("/api/v1/auth/email-link", json={"email": address})
        assert response.status_code == 202  # the same answer either way
    deliver(app)
    assert mails_to(smtp_sink, "nobody@example.org") == []
    (mail,) = mails_to(smtp_sink, "sam@example.org")
    assert mail["X-Kindred-Kind"] == "sign_in"
    path = link_in(mail)
    browser = app.test_client()
    assert browser.get(path).status_code == 200  # opening it (a mail scanner) spends nothing
    assert browser.get(path).status_code == 200
    assert not signed_in(browser)
    assert follow(browser, path).status_code == 302
    assert signed_in(browser)
    second = app.test_client()
    reused = follow(second, path)
    assert reused.status_code == 410 and "used already" in reused.text
    assert not signed_in(second)

    client.post("/api/v1/auth/email-link", json={"email": "sam@example.org"})
    deliver(app)
    late = link_in(mails_to(smtp_sink, "sam@example.org")[-1])
    with db.begin() as s:  # 16 minutes later
        s.execute(update(AccountLink).values(expires_at=func.now() - timedelta(minutes=1)))
    third = app.test_client()
    expired = follow(third, late)
    assert expired.status_code == 410 and "expired" in expired.text
    assert not signed_in(third)


def test_a_sign_in_link_expires_after_15_minutes_by_default(app, api, client, db):
    api.signup("Sam", email="sam@example.org")
    client.post("/api/v1/auth/email-link", json={"email": "sam@example.org"})
    with db() as s:
        link = s.scalars(select(AccountLink).where(AccountLink.purpose == "sign_in")).one()
        assert link.expires_at - link.created_at == timedelta(minutes=15)


def test_password_reset_by_link_ends_every_session_and_token(app, api, client, smtp_sink, db):
    sam = api.signup("Sam", email="sam@example.org")
    browser = app.test_client()
    assert page_login(browser, "sam@example.org").status_code == 302
    assert signed_in(browser)
    assert (
        client.post("/api/v1/auth/password-reset", json={"email": "sam@example.org"}).status_code
        == 202
    )
    assert (
        client.post("/api/v1/auth/password-reset", json={"email": "x@example.org"}).status_code
        == 202
    )
    deliver(app)
    (mail,) = mails_to(smtp_sink, "sam@example.org")
    assert mail["X-Kindred-Kind"] == "password_reset"
    path = link_in(mail)
    phone = app.test_client()
    short = follow(phone, path, password="short")
    assert short.status_code == 422  # the link is not spent by a refused password
    assert follow(phone, path, password="a brand new passphrase").status_code == 302
    assert signed_in(phone)
    assert not signed_in(browser)  # the old session is over
    assert api.call("GET", "/api/v1/me", sam).status_code == 401  # and the old token
    old = client.post("/api/v1/tokens", json={"email": "sam@example.org", "password": PASSWORD})
    assert old.status_code == 401
    new = client.post(
        "/api/v1/tokens", json={"email": "sam@example.org", "password": "a brand new passphrase"}
    )
    assert new.status_code == 201
    assert follow(app.test_client(), path, password="yet another passphrase").status_code == 410


def test_a_reset_link_dies_when_the_password_changes_meanwhile(app, api, client, smtp_sink):
    sam = api.signup("Sam", email="sam@example.org")
    client.post("/api/v1/auth/password-reset", json={"email": "sam@example.org"})
    deliver(app)
    path = link_in(mails_to(smtp_sink, "sam@example.org")[-1])
    changed = api.call(
        "POST",
        "/api/v1/me/password",
        sam,
        json={"current_password": PASSWORD, "new_password": "changed in between"},
    )
    assert changed.status_code == 204
    assert follow(app.test_client(), path, password="a brand new passphrase").status_code == 410


def test_change_of_address_takes_effect_once_the_new_address_is_proved(app, api, client, smtp_sink):
    sam = api.signup("Sam", email="sam@example.org")
    asked = api.call(
        "POST", "/api/v1/me/email", sam, json={"email": "sam@new.example", "password": PASSWORD}
    )
    assert asked.status_code == 202
    assert api.call("GET", "/api/v1/me", sam).get_json()["email"] == "sam@example.org"
    deliver(app)
    (mail,) = mails_to(smtp_sink, "sam@new.example")
    assert mail["X-Kindred-Kind"] == "verify"
    assert follow(app.test_client(), link_in(mail)).status_code == 302
    me = api.call("GET", "/api/v1/me", sam).get_json()
    assert (me["email"], me["email_verified"]) == ("sam@new.example", True)
    # mail owed from now on goes to the new address
    org = api.signup("Olga")
    rsvp(api, sam, gathering(api, org)["id"], "yes")
    deliver(app)
    assert kinds(mails_to(smtp_sink, "sam@new.example")) == ["verify", "invite"]
    assert mails_to(smtp_sink, "sam@example.org") == []


# --- sessions and tokens ---------------------------------------------------------------------


def test_a_session_cookie_replayed_after_log_out_is_signed_out(app, api):
    api.signup("Sam", email="sam@example.org")
    browser = app.test_client()
    page_login(browser, "sam@example.org")
    assert signed_in(browser)
    cookie = browser.get_cookie("session").value
    logout = browser.post("/logout", data={"csrf_token": csrf(browser.get("/profile").text)})
    assert logout.status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", cookie, domain="localhost")
    assert thief.get("/profile").status_code == 302  # to the log-in page
    assert not signed_in(thief)


def test_sign_out_everywhere_and_a_password_change_end_other_sessions(app, api, db):
    api.signup("Sam", email="sam@example.org")
    laptop, phone, tablet = app.test_client(), app.test_client(), app.test_client()
    for browser in (laptop, phone, tablet):
        page_login(browser, "sam@example.org")
        assert signed_in(browser)
    changed = laptop.post(
        "/profile/password",
        data={
            "csrf_token": csrf(laptop.get("/profile").text),
            "current_password": PASSWORD,
            "new_password": "another good passphrase",
        },
    )
    assert changed.status_code == 302
    assert signed_in(laptop) and not signed_in(phone) and not signed_in(tablet)
    page_login(phone, "sam@example.org", "another good passphrase")
    everywhere = laptop.post(
        "/profile/sign-out-everywhere", data={"csrf_token": csrf(laptop.get("/profile").text)}
    )
    assert everywhere.status_code == 302
    assert not signed_in(laptop) and not signed_in(phone)
    with db() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0


def test_tokens_are_listed_without_their_secret_and_a_revoked_one_answers_401(app, api, client):
    sam = api.signup("Sam", email="sam@example.org")
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    made = client.post(
        "/api/v1/tokens",
        json={
            "email": "sam@example.org",
            "password": PASSWORD,
            "label": "calendar script",
            "expires_at": later,
        },
    )
    assert made.status_code == 201
    script = {"Authorization": f"Bearer {made.get_json()['token']}"}
    assert client.get("/api/v1/me", headers=script).status_code == 200
    listed = api.call("GET", "/api/v1/me/tokens", sam)
    assert listed.status_code == 200
    tokens = listed.get_json()
    assert sorted(t["label"] for t in tokens) == ["", "calendar script"]
    assert all(set(t) >= {"id", "label", "created_at", "last_used_at"} for t in tokens)
    assert made.get_json()["token"] not in listed.text and sam["token"] not in listed.text
    (script_row,) = [t for t in tokens if t["label"] == "calendar script"]
    assert script_row["last_used_at"] is not None and script_row["expires_at"].endswith("Z")

    assert api.call("DELETE", f"/api/v1/me/tokens/{script_row['id']}", sam).status_code == 204
    assert client.get("/api/v1/me", headers=script).status_code == 401
    assert api.call("GET", "/api/v1/me", sam).status_code == 200  # the other one still works
    # someone else's token id is not found, and stays good
    other = api.signup("Olga")
    (own,) = api.call("GET", "/api/v1/me/tokens", other).get_json()
    assert api.call("DELETE", f"/api/v1/me/tokens/{own['id']}", sam).status_code == 404
    assert api.call("GET", "/api/v1/me", other).status_code == 200


def test_an_expired_token_answers_401(app, api, client, db):
    api.signup("Sam", email="sam@example.org")
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = client.post(
        "/api/v1/tokens",
        json={"email": "sam@example.org", "password": PASSWORD, "expires_at": soon},
    ).get_json()
    headers = {"Authorization": f"Bearer {made['token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with db.begin() as s:
        s.execute(text("UPDATE api_tokens SET expires_at = now() - interval '1 second'"))
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_tokens_are_revoked_from_the_profile_page(app, api):
    sam = api.signup("Sam", email="sam@example.org")
    browser = app.test_client()
    page_login(browser, "sam@example.org")
    page = browser.get("/profile").text
    token_id = re.search(r'data-token-id="(\d+)"', page).group(1)
    revoked = browser.post(f"/profile/tokens/{token_id}/revoke", data={"csrf_token": csrf(page)})
    assert revoked.status_code == 302
    assert api.call("GET", "/api/v1/me", sam).status_code == 401


# --- your data -------------------------------------------------------------------------------


def test_export_holds_the_persons_data(app, api, smtp_sink):
    org = api.signup("Olga")
    group = api.call(
        "POST", "/api/v1/groups", org, json={"name": "Solder club", "interests": ["electronics"]}
    ).get_json()
    sam = api.signup("Sam", email="sam@example.org", interests=["electronics", "tea"])
    assert api.call("POST", f"/api/v1/groups/{group['id']}/members", sam).status_code in (200, 201)
    g = gathering(api, org)
    rsvp(api, sam, g["id"], "yes")
    deliver(app)
    exported = api.call("GET", "/api/v1/me/export", sam)
    assert exported.status_code == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    data = exported.get_json()
    assert data["profile"]["email"] == "sam@example.org"
    assert data["profile"]["interests"] == ["electronics", "tea"]
    assert [m["group_id"] for m in data["groups"]] == [group["id"]]
    assert [(r["gathering_id"], r["response"]) for r in data["rsvps"]] == [(g["id"], "yes")]
    assert [(m["kind"], m["status"]) for m in data["mail"]] == [("invite", "sent")]
    assert len(data["api_tokens"]) == 1 and "token" not in data["api_tokens"][0]
    assert "availability" in data and "sessions" in data
    # and as a download from the profile page
    browser = app.test_client()
    page_login(browser, "sam@example.org")
    download = browser.get("/profile/export")
    assert download.status_code == 200 and download.get_json()["profile"]["name"] == "Sam"


def test_deleting_the_account_frees_seats_promotes_the_waitlist_and_leaves_no_name(
    app, api, client, smtp_sink, db
):
    org = api.signup("Olga")
    g = gathering(api, org, capacity=1)
    zed = api.signup("Zed Zimmermann", email="zed@example.org")
    bea = api.signup("Bea", email="bea@example.org")
    assert rsvp(api, zed, g["id"], "yes")["state"] == "going"
    assert rsvp(api, bea, g["id"], "yes")["state"] == "waitlisted"
    own = gathering(api, zed, title="Zed's own evening")  # a row others point at stays
    run_planner(app)  # Zed's invite is owed, not yet sent: pending mail with his name
    with db() as s:
        assert s.scalar(
            select(func.count()).where(OutboxMessage.recipient_email == "zed@example.org")
        )
    wrong = api.call("DELETE", "/api/v1/me", zed, json={"password": "not it"})
    assert wrong.status_code == 403 and wrong.get_json()["errors"]
    gone = api.call("DELETE", "/api/v1/me", zed, json={"password": PASSWORD})
    assert gone.status_code == 204
    assert api.call("GET", "/api/v1/me", zed).status_code == 401
    # the seat went to Bea, who is mailed so
    attendees = api.call("GET", f"/api/v1/gatherings/{g['id']}/attendees", org).get_json()
    people = attendees if isinstance(attendees, list) else attendees.get("items", attendees)
    assert "Zed" not in str(people) and "zed@example.org" not in str(people)
    with db() as s:
        states = dict(
            s.execute(select(Rsvp.user_id, Rsvp.state).where(Rsvp.gathering_id == g["id"])).all()
        )
        assert states == {bea["id"]: "going"}
    deliver(app)
    assert "promoted" in kinds(mails_to(smtp_sink, "bea@example.org"))
    assert mails_to(smtp_sink, "zed@example.org") == []  # his pending invite never went
    # the gathering's and the group's pages and feeds do not name him
    for path in (f"/gatherings/{g['id']}.ics", f"/gatherings/{own['id']}.ics", f"/g/{g['id']}"):
        body = client.get(path).text
        assert "Zimmermann" not in body and "zed@example.org" not in body, path
    # nothing of his is left but an anonymous placeholder for the gathering he organized
    with db() as s:
        dump = s.execute(text("SELECT row_to_json(u)::text FROM users u")).scalars().all()
        assert not [row for row in dump if "Zimmermann" in row or "zed@example.org" in row]
        placeholder = s.get(User, zed["id"])
        assert placeholder.name == "Deleted account" and placeholder.deleted_at is not None
        outbox = s.execute(text("SELECT row_to_json(o)::text FROM outbox_messages o")).scalars()
        assert not [row for row in outbox if "zed@example.org" in row or "Zimmermann" in row]
    # the address is free again
    again = client.post(
        "/api/v1/users", json={"email": "zed@example.org", "name": "Zed", "password": PASSWORD}
    )
    assert again.status_code == 201


def test_an_account_with_nothing_organized_leaves_no_row_at_all(app, api, db):
    sam = api.signup("Sam", email="sam@example.org")
    assert api.call("DELETE", "/api/v1/me", sam, json={"password": PASSWORD}).status_code == 204
    with db() as s:
        assert s.get(User, sam["id"]) is None


def test_deleting_from_the_profile_page_signs_out(app, api):
    sam = api.signup("Sam", email="sam@example.org")
    browser = app.test_client()
    page_login(browser, "sam@example.org")
    page = browser.get("/profile").text
    deleted = browser.post("/profile/delete", data={"csrf_token": csrf(page), "password": PASSWORD})
    assert deleted.status_code == 302
    assert not signed_in(browser)
    assert api.call("GET", "/api/v1/me", sam).status_code == 401


# --- bad links -------------------------------------------------------------------------------


def test_expired_reused_tampered_and_cross_purpose_links_never_sign_in(
    app, api, client, smtp_sink, db, config
):
    api.signup("Sam", email="sam@example.org")
    client.post("/api/v1/auth/email-link", json={"email": "sam@example.org"})
    client.post("/api/v1/auth/password-reset", json={"email": "sam@example.org"})
    deliver(app)
    sign_in_path, reset_path = (link_in(m) for m in mails_to(smtp_sink, "sam@example.org"))
    token = sign_in_path.rsplit("/", 1)[1]
    forged = URLSafeSerializer("not our secret", salt="kindred.account-link.sign_in.v1").dumps(1)
    odd_payload = URLSafeSerializer(
        config.secret_key, salt="kindred.account-link.sign_in.v1"
    ).dumps("1")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    cases = {
        "tampered": (f"/account/sign-in/{tampered}", 400),
        "forged": (f"/account/sign-in/{forged}", 400),
        "not an id": (f"/account/sign-in/{odd_payload}", 400),
        "cross-purpose: a sign-in token as a reset": (f"/account/reset/{token}", 400),
        "cross-purpose: a sign-in token as a verify": (f"/account/verify/{token}", 400),
        "cross-purpose: a reset token as a sign-in": (
            "/account/sign-in/" + reset_path.rsplit("/", 1)[1],
            400,
        ),
        "garbage": ("/account/sign-in/%00%ff..", 400),
        "long": ("/account/sign-in/" + "a" * 5000, 400),
    }
    for name, (path, status) in cases.items():
        for method in ("GET", "POST"):
            browser = app.test_client()
            if method == "GET":
                response = browser.get(path)
            else:
                form = csrf(browser.get("/account/sign-in-link").text)
                response = browser.post(path, data={"csrf_token": form, "password": "x" * 12})
            assert response.status_code == status, (name, method, response.status_code)
            assert "This link does not work" in response.text, name
            assert not signed_in(browser), name
    # still good after all that, once; then used
    browser = app.test_client()
    assert follow(browser, sign_in_path).status_code == 302
    reused = app.test_client()
    assert follow(reused, sign_in_path).status_code == 410
    assert not signed_in(reused)


def test_a_sign_in_link_leads_on_to_the_poll_it_was_asked_for(app, api, client, smtp_sink):
    sam = api.signup("Sam", email="sam@example.org")
    client.post("/api/v1/auth/email-link", json={"email": "sam@example.org", "next": "/g/7/poll"})
    client.post(
        "/api/v1/auth/email-link", json={"email": "sam@example.org", "next": "//evil.example"}
    )
    deliver(app)
    first, second = (link_in(m) for m in mails_to(smtp_sink, "sam@example.org"))
    assert follow(app.test_client(), first).headers["Location"].endswith("/g/7/poll")
    # following one spent the other (the latest link is the only one that counts... once)
    assert follow(app.test_client(), second).status_code == 410
    assert sam  # (the person is the same throughout)


# --- the real processes ----------------------------------------------------------------------


def test_verify_then_invites_flow_through_the_real_worker_and_clock(
    api, client, config, smtp_sink, tmp_path: Path
):
    org = api.signup("Olga")
    g = gathering(api, org)
    nina = api.signup("Nina", verified=False, email="nina@example.org")
    env = {"SWEEP_INTERVAL_SECONDS": "1"}
    with (
        running("worker", config, tmp_path, name="e2e-accounts", **env) as worker,
        running("clock", config, tmp_path, **env) as clock,
    ):
        for answer in ("yes", "no", "yes"):
            rsvp(api, nina, g["id"], answer)
        try:
            wait_for(lambda: len(mails_to(smtp_sink, "nina@example.org")) >= 1, timeout=60)
        except AssertionError:
            print(worker.log(), clock.log())
            raise
        (verify_mail,) = mails_to(smtp_sink, "nina@example.org")
        assert verify_mail["X-Kindred-Kind"] == "verify"
        browser = client.application.test_client()
        assert follow(browser, link_in(verify_mail)).status_code == 302
        try:
            wait_for(lambda: len(mails_to(smtp_sink, "nina@example.org")) >= 2, timeout=60)
        except AssertionError:
            print(worker.log(), clock.log())
            raise
    assert kinds(mails_to(smtp_sink, "nina@example.org")) == ["verify", "invite"]


def test_a_revoked_or_expired_token_cannot_answer_through_the_rsvp_fast_path(app, api, client, db):
    org = api.signup("Olga")
    g = gathering(api, org)
    sam = api.signup("Sam", email="sam@example.org")
    assert rsvp(api, sam, g["id"], "yes")["state"] == "going"  # the fast path knows the token
    (token,) = api.call("GET", "/api/v1/me/tokens", sam).get_json()
    assert api.call("DELETE", f"/api/v1/me/tokens/{token['id']}", sam).status_code == 204
    answer = api.call("PUT", f"/api/v1/gatherings/{g['id']}/rsvp", sam, json={"response": "no"})
    assert answer.status_code == 401
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = client.post(
        "/api/v1/tokens",
        json={"email": "sam@example.org", "password": PASSWORD, "expires_at": soon},
    ).get_json()
    headers = {"Authorization": f"Bearer {made['token']}"}
    path = f"/api/v1/gatherings/{g['id']}/rsvp"
    assert client.put(path, json={"response": "maybe"}, headers=headers).status_code == 200
    with db.begin() as s:
        s.execute(text("UPDATE api_tokens SET expires_at = now() - interval '1 second'"))
    assert client.put(path, json={"response": "no"}, headers=headers).status_code == 401
    with db() as s:
        assert s.scalar(select(Rsvp.response).where(Rsvp.user_id == sam["id"])) == "maybe"


def rank(db: Any, gathering_id: int) -> None:
    """What the worker's recompute_slots job does."""
    from scheduler.services.polls import slots

    with db.begin() as s:
        snapshot = slots.take_snapshot(s, gathering_id)
        result = slots.rank_snapshot(snapshot)
        slots.store_result(s, gathering_id, snapshot.revision, result, now=datetime.now(UTC))


def test_deleting_the_account_takes_the_name_out_of_poll_rankings_and_heatmaps(app, api, db):
    from scheduler.models import Poll

    org = api.signup("Olga")
    start = (datetime.now(UTC) + timedelta(days=4)).replace(minute=0, second=0, microsecond=0)
    poll = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={
            "title": "When?",
            "timezone": "UTC",
            "duration_minutes": 60,
            "poll": {
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(hours=4)).isoformat(),
            },
        },
    ).get_json()
    zed = api.signup("Zed Zimmermann", email="zed@example.org")
    span = {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
    path = f"/api/v1/gatherings/{poll['id']}/availability"
    assert api.call("PUT", path, zed, json={"intervals": [span]}).status_code == 200
    rank(db, poll["id"])
    organizer = app.test_client()
    with organizer.session_transaction() as cookie:
        cookie.update(page_session(app, org["id"]))
    poll_page = f"/g/{poll['id']}/poll"
    assert "Zimmermann" in organizer.get(poll_page).text  # the heatmap names who can come
    assert api.call("DELETE", "/api/v1/me", zed, json={"password": PASSWORD}).status_code == 204
    with db() as s:
        assert s.get(Poll, poll["id"]).result is None  # dropped until the worker ranks again
    assert "Zimmermann" not in organizer.get(poll_page).text
    rank(db, poll["id"])
    slots_path = f"/api/v1/gatherings/{poll['id']}/slots"
    assert api.call("GET", slots_path, org).get_json()["participants"] == 0
    assert "Zimmermann" not in organizer.get(poll_page).text


def test_an_answer_this_poll_link_signs_in_once_and_opens_the_poll(app, api, db, config):
    from scheduler.services.self_service import account_links

    sam = api.signup("Sam", email="sam@example.org")
    with db.begin() as s:
        user = s.get(User, sam["id"])
        url = account_links.poll_answer_link(s, config, user, 7, now=datetime.now(UTC))
        link = s.scalars(select(AccountLink).where(AccountLink.purpose == "sign_in")).one()
        assert link.expires_at - link.created_at == timedelta(hours=config.poll_link_hours)
    path = url.removeprefix(config.base_url)
    browser = app.test_client()
    assert follow(browser, path).headers["Location"].endswith("/g/7/poll")
    assert signed_in(browser)
    assert follow(app.test_client(), path).status_code == 410
