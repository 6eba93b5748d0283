"""A person's language: set from the browser at sign-up, changed with PATCH /me or on the
profile page; pages for signed-out visitors follow Accept-Language."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.web.test_pages import csrf, field_errors, sign_up


def _signup_body(email: str, **extra: str) -> dict[str, str]:
    return {"email": email, "name": "Zoé", "password": "a long enough password", **extra}


@pytest.mark.parametrize(
    ("accept_language", "body_locale", "expected"),
    [
        ("fr-CH, fr;q=0.9, de;q=0.5", None, "fr"),
        ("pt-BR, es;q=0.4", None, "es"),  # the first language Kindred speaks
        ("de-AT", "es", "es"),  # a choice in the body wins over the browser
        (None, None, "en"),
        ("pt, *;q=0.1", None, "en"),
    ],
)
def test_signup_takes_the_language_from_the_browser(api, accept_language, body_locale, expected):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    extra = {"locale": body_locale} if body_locale else {}
    response = api.call(
        "POST", "/api/v1/users", json=_signup_body("zoe@example.org", **extra), headers=headers
    )
    assert response.status_code == 201, response.get_json()
    token = api.call(
        "POST",
        "/api/v1/tokens",
        json={"email": "zoe@example.org", "password": "a long enough password"},
    ).get_json()["token"]
    me = api.call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.get_json()["locale"] == expected


def test_patch_me_changes_the_language_and_refuses_unknown_ones(api):
    ann = api.signup("Ann")
    assert api.call("GET", "/api/v1/me", ann).get_json()["locale"] == "en"
    changed = api.call("PATCH", "/api/v1/me", ann, json={"locale": "de"})
    assert changed.status_code == 200
    assert changed.get_json()["locale"] == "de"
    assert api.call("GET", "/api/v1/me", ann).get_json()["locale"] == "de"
    for bad in ("xx", "DE", "", "de-DE", 5):
        refused = api.call("PATCH", "/api/v1/me", ann, json={"locale": bad})
        assert refused.status_code == 422, bad
        assert "locale" in refused.get_json()["errors"]
    assert api.call("GET", "/api/v1/me", ann).get_json()["locale"] == "de"


def test_the_callers_language_wins_over_the_browsers_for_api_messages(api):
    ann = api.signup("Ann")
    api.call("PATCH", "/api/v1/me", ann, json={"locale": "de"})
    refused = api.call(
        "PATCH", "/api/v1/me", ann, json={"locale": "xx"}, headers={"Accept-Language": "en"}
    )
    message = refused.get_json()["errors"]["locale"][0]
    assert message == "Muss einer der folgenden Werte sein: en, de, fr, es.", message


def _html_lang(html: str) -> str:
    match = re.search(r'<html lang="([a-z]+)" dir="(ltr|rtl)">', html)
    assert match, "the page names no language"
    return match.group(1)


def test_signed_out_pages_follow_accept_language(client: FlaskClient):
    assert _html_lang(client.get("/login").text) == "en"
    german = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})
    assert _html_lang(german.text) == "de"
    assert "Anmelden" in german.text
    assert _html_lang(client.get("/", headers={"Accept-Language": "es"}).text) == "es"
    assert _html_lang(client.get("/", headers={"Accept-Language": "fr"}).text) == "fr"


def test_page_signup_keeps_the_browsers_language_and_the_profile_changes_it(
    client: FlaskClient,
):
    sign_up(client, "Zoé", "zoe@example.org", "Europe/Paris", headers={"Accept-Language": "fr-FR"})
    # signed in, the account's language holds whatever the browser asks for
    profile = client.get("/profile", headers={"Accept-Language": "en"})
    assert _html_lang(profile.text) == "fr"
    assert '<option value="fr" lang="fr" selected>Français</option>' in profile.text
    saved = client.post(
        "/profile",
        data={
            "csrf_token": csrf(profile.text),
            "name": "Zoé",
            "timezone": "Europe/Paris",
            "locale": "de",
        },
        follow_redirects=True,
    )
    assert _html_lang(saved.text) == "de"
    assert "Profil gespeichert." in saved.text
    bad = client.post(
        "/profile",
        data={"csrf_token": csrf(saved.text), "name": "Zoé", "timezone": "UTC", "locale": "xx"},
    )
    assert bad.status_code == 422
    assert "locale" in field_errors(bad.text)


def test_pages_chosen_by_accept_language_say_so_to_caches(client: FlaskClient):
    page = client.get("/login", headers={"Accept-Language": "es"})
    assert "Accept-Language" in page.headers.get("Vary", "")
