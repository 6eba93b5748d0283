"""The API answers in the caller's language: validation messages (Kindred's and marshmallow's
own), domain errors and refusals, with field names and error codes left as they are.

The expected texts come from the catalogues (domain.language.translate), and each is checked
to differ from the English, so a message that slipped past the catalogues fails here.
"""

from __future__ import annotations

import inspect
import string

import pytest
from marshmallow import fields, validate
from sqlalchemy import update

from scheduler.domain.language import translate
from scheduler.models import User
from scheduler.schemas import messages
from scheduler.web.rate_limits import WRITES_PER_ACCOUNT, refusal_message
from tests.api.test_group_privacy import gathering_in, group_of, join

REQUIRED = "Missing data for required field."
TOO_LONG = "Longer than maximum length {max}."
LOGIN = {"email": "sam@example.org", "password": "correct horse battery"}


def in_language(locale: str, message: str, **params: object) -> str:
    text = translate(locale, message)
    assert text != message, f"no {locale} translation of {message!r}"
    return text.format(**params) if params else text


def set_locale(app, user_id: int, locale: str) -> None:
    with app.extensions["kindred"].db.session_factory.begin() as session:
        session.execute(update(User).where(User.id == user_id).values(locale=locale))


def test_a_validation_error_names_the_field_in_german(api, client):
    api.signup("Sam", email=LOGIN["email"])
    response = client.post(
        "/api/v1/tokens", json={**LOGIN, "label": "x" * 101}, headers={"Accept-Language": "de"}
    )
    assert response.status_code == 422
    body = response.get_json()
    german = in_language("de", TOO_LONG, max=100)
    assert body["errors"] == {"label": [german]}
    assert body["message"] == f"label: {german}"
    assert body["error"] == "validation_error" and body["status"] == "Unprocessable Entity"


def test_a_missing_field_is_said_in_french(client):
    response = client.post(
        "/api/v1/users",
        json={"name": "Sam", "password": "correct horse battery"},
        headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"]["email"] == [in_language("fr", REQUIRED)]


def test_an_unknown_field_and_a_wrong_type_in_spanish(client):
    response = client.post(
        "/api/v1/users",
        json={"email": 5, "name": "Sam", "password": "correct horse battery", "extra": 1},
        headers={"Accept-Language": "es"},
    )
    errors = response.get_json()["errors"]
    assert errors["extra"] == [in_language("es", "Unknown field.")]
    assert errors["email"] == [in_language("es", "Not a valid string.")]


def test_a_domain_error_in_spanish(client):
    response = client.get("/api/v1/gatherings/999999", headers={"Accept-Language": "es"})
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "not_found"
    assert body["message"] == in_language("es", "No gathering with id %(id)s.") % {"id": 999999}


def test_no_credential_is_said_in_spanish(client):
    response = client.get("/api/v1/me", headers={"Accept-Language": "es"})
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "unauthorized"
    assert body["message"] == in_language(
        "es", "Send 'Authorization: Bearer <token>' (from POST /api/v1/tokens)."
    )


def test_without_a_language_the_messages_stay_english(api, client):
    api.signup("Sam", email=LOGIN["email"])
    long_label = client.post("/api/v1/tokens", json={**LOGIN, "label": "x" * 101})
    assert long_label.get_json()["errors"] == {"label": ["Longer than maximum length 100."]}
    missing = client.post("/api/v1/users", json={"name": "Sam", "password": "x" * 12})
    assert missing.get_json()["errors"]["email"] == [REQUIRED]
    not_json = client.post("/api/v1/users", data="{", headers={"Content-Type": "application/json"})
    assert not_json.get_json()["message"] == "The request body is not valid JSON."


def test_an_unreadable_body_is_said_in_german(client):
    response = client.post(
        "/api/v1/users",
        data="{",
        headers={"Content-Type": "application/json", "Accept-Language": "de"},
    )
    assert response.status_code == 400
    assert response.get_json()["message"] == in_language(
        "de", "The request body is not valid JSON."
    )


def test_the_signed_in_persons_language_wins_over_the_browsers(app, api):
    sam = api.signup("Sam")
    set_locale(app, sam["id"], "de")
    response = api.call(
        "POST", "/api/v1/gatherings", sam, json={}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    assert response.get_json()["errors"]["title"] == [in_language("de", REQUIRED)]


def test_refusals_follow_the_language_and_keep_the_english():
    assert refusal_message(WRITES_PER_ACCOUNT, 1, "en") == (
        "Too many changes from this account in a short time. Try again in 1 second."
    )
    assert refusal_message(WRITES_PER_ACCOUNT, 130, "en").endswith("Try again in 2 minutes.")
    german = refusal_message(WRITES_PER_ACCOUNT, 30, "de")
    assert german.startswith(in_language("de", WRITES_PER_ACCOUNT.refusal))
    assert "30" in german and "Try again" not in german


def _marshmallow_messages() -> set[str]:
    """Every message marshmallow can write out, Range's as it puts them together."""
    found: set[str] = set()
    for cls in vars(fields).values():
        if inspect.isclass(cls) and issubclass(cls, fields.Field):
            found.update(cls.__dict__.get("default_error_messages", {}).values())
    for cls in vars(validate).values():
        if (
            inspect.isclass(cls)
            and issubclass(cls, validate.Validator)
            and cls is not validate.Range
        ):
            found.update(
                value
                for name, value in cls.__dict__.items()
                if name == "default_message" or name.startswith("message_")
            )
    for low in (True, False):
        for high in (True, False):
            found.add(validate.Range(min=0, min_inclusive=low).message_min)
            found.add(validate.Range(max=0, max_inclusive=high).message_max)
            found.add(validate.Range(0, 1, min_inclusive=low, max_inclusive=high).message_all)
    return found


def test_every_marshmallow_message_is_in_the_catalogue_list():
    listed = {str(m) for m in messages.MESSAGES}
    assert _marshmallow_messages() - listed == set()


@pytest.mark.parametrize("locale", ["de", "fr", "es"])
def test_every_listed_message_is_translated_with_its_placeholders(locale):
    for message in [*messages.MESSAGES, *messages.WORDS]:
        english = str(message)
        text = translate(locale, english)
        assert text != english or english in ("date",), (locale, english)
        assert sorted(_braces(text)) == sorted(_braces(english)), (locale, english)


def _braces(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]


def test_an_erased_organizer_is_named_in_the_readers_language(api, app):
    olga, zed, mia = api.signup("Olga"), api.signup("Zed"), api.signup("Mia")
    group = group_of(api, olga)
    for person in (zed, mia):
        join(api, group, person)
    gathering = gathering_in(api, zed, group)  # the placeholder stays: it organized this
    gone = api.call("DELETE", "/api/v1/me", zed, json={"password": "correct horse battery"})
    assert gone.status_code == 204
    set_locale(app, olga["id"], "de")
    set_locale(app, mia["id"], "fr")
    path = f"/api/v1/gatherings/{gathering['id']}"

    # the group's organizer sees what the account is; a member, as for any hidden name
    assert api.call("GET", path, olga).get_json()["organizer"]["name"] == in_language(
        "de", "Deleted account"
    )
    assert api.call("GET", path, mia).get_json()["organizer"]["name"] == in_language(
        "fr", "A Kindred member"
    )
