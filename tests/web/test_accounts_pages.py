"""Account pages: asking for links, the sign-up that mails a verify link, CSRF on every form,
and a profile that shows what the account holds."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from scheduler.models import OutboxMessage, User

PASSWORD = "correct horse battery"


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def owed(app, kind: str) -> int:
    with app.extensions["kindred"].db.session_factory() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.kind == kind)) or 0


def test_sign_up_on_the_page_signs_in_unverified_and_mails_a_verify_link(app, client):
    page = client.get("/signup")
    response = client.post(
        "/signup",
        data={
            "csrf_token": csrf(page.text),
            "email": "ann@example.org",
            "name": "Ann",
            "password": PASSWORD,
            "timezone": "UTC",
        },
    )
    assert response.status_code == 302
    assert owed(app, "verify") == 1
    profile = client.get("/profile").text
    assert "not confirmed" in profile and "Send the link again" in profile
    with app.extensions["kindred"].db.session_factory() as session:
        user = session.scalars(select(User).where(User.email == "ann@example.org")).one()
        assert user.email_verified_at is None
    again = client.post("/profile/verify-email", data={"csrf_token": csrf(profile)})
    assert again.status_code == 302 and owed(app, "verify") == 2


def test_link_request_pages_answer_the_same_for_any_address(app, api, client):
    api.signup("Sam", email="sam@example.org")
    for path, kind in (
        ("/account/sign-in-link", "sign_in"),
        ("/account/forgot-password", "password_reset"),
    ):
        page = client.get(path)
        assert page.status_code == 200
        for address in ("sam@example.org", "nobody@example.org"):
            sent = client.post(path, data={"csrf_token": csrf(page.text), "email": address})
            assert sent.status_code == 202 and "Check your mail" in sent.text
        empty = client.post(path, data={"csrf_token": csrf(page.text), "email": ""})
        assert empty.status_code == 422 and 'id="email-error"' in empty.text
        assert owed(app, kind) == 1


def test_account_forms_refuse_a_missing_csrf_token(app, api, client):
    api.signup("Sam", email="sam@example.org")
    assert (
        client.post("/account/sign-in-link", data={"email": "sam@example.org"}).status_code == 400
    )
    token = csrf(client.get("/login").text)
    client.post(
        "/login", data={"csrf_token": token, "email": "sam@example.org", "password": PASSWORD}
    )
    for path in ("/profile/sign-out-everywhere", "/profile/delete", "/profile/password"):
        assert client.post(path, data={"password": PASSWORD}).status_code == 400, path
    assert client.get("/profile").status_code == 200  # still signed in, nothing happened


def test_the_profile_lists_tokens_and_sessions_and_offers_the_export(app, api, client):
    api.signup("Sam", email="sam@example.org")
    client.post(
        "/api/v1/tokens",
        json={"email": "sam@example.org", "password": PASSWORD, "label": "my script"},
    )
    token = csrf(client.get("/login").text)
    client.post(
        "/login", data={"csrf_token": token, "email": "sam@example.org", "password": PASSWORD}
    )
    profile = client.get("/profile").text
    assert "my script" in profile and "never used" in profile
    assert "Sign out everywhere" in profile and "/profile/export" in profile
    assert "Delete my account" in profile and "data-email-verified" in profile
