"""What the pages say after an action (flashes, form errors, error pages) is in the page's
language: the signed-in person's, else the browser's."""

from __future__ import annotations

import re

from sqlalchemy import update

from scheduler.domain.language import translate
from scheduler.models import User
from tests.support.accounts import page_session


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def in_language(locale: str, message: str, **params: object) -> str:
    text = translate(locale, message)
    assert text != message, f"no {locale} translation of {message!r}"
    return text % params if params else text


def signed_in(app, client, user_id: int, locale: str) -> None:
    with app.extensions["kindred"].db.session_factory.begin() as session:
        session.execute(update(User).where(User.id == user_id).values(locale=locale))
    with client.session_transaction() as cookie:
        cookie.update(page_session(app, user_id))


def test_a_flash_is_in_the_signed_in_persons_language(app, api, client):
    sam = api.signup("Sam")
    signed_in(app, client, sam["id"], "fr")
    page = client.get("/groups/new", headers={"Accept-Language": "de"})
    created = client.post(
        "/groups/new",
        data={"csrf_token": csrf(page.text), "name": "Échecs du jeudi", "join_policy": "open"},
        headers={"Accept-Language": "de"},
        follow_redirects=True,
    )
    assert created.status_code == 200
    expected = in_language("fr", "Your group “%(name)s” is ready.", name="Échecs du jeudi")
    assert expected in created.text


def test_a_flash_after_signing_out_follows_the_browser(app, api, client):
    sam = api.signup("Sam")
    signed_in(app, client, sam["id"], "en")
    home = client.get("/")
    out = client.post(
        "/logout",
        data={"csrf_token": csrf(home.text)},
        headers={"Accept-Language": "es"},
        follow_redirects=True,
    )
    assert in_language("es", "You are signed out.") in out.text


def test_form_errors_are_in_the_page_language(app, api, client):
    sam = api.signup("Sam")
    signed_in(app, client, sam["id"], "de")
    page = client.get("/groups/new")
    refused = client.post("/groups/new", data={"csrf_token": csrf(page.text), "name": ""})
    assert refused.status_code == 422
    expected = translate("de", "Length must be between {min} and {max}.").format(min=1, max=120)
    assert expected != "Length must be between 1 and 120." and expected in refused.text


def test_a_missing_csrf_token_is_explained_in_the_browsers_language(client):
    refused = client.post("/logout", headers={"Accept-Language": "de"})
    assert refused.status_code == 400
    assert (
        in_language(
            "de",
            "This form has expired or did not come from Kindred. Go back, reload the page and try "
            "again.",
        )
        in refused.text
    )


def test_without_a_language_the_flash_stays_english(app, api, client):
    sam = api.signup("Sam")
    signed_in(app, client, sam["id"], "en")
    home = client.get("/")
    out = client.post("/logout", data={"csrf_token": csrf(home.text)}, follow_redirects=True)
    assert "You are signed out." in out.text
