"""Counts inside sentences are written the reader's way ("1,234 members", "1.234 Mitglieder",
"1 234 membres"), on pages, in mail and in texts built in Python alike."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from scheduler.domain.language import translate_plural
from scheduler.services.mail.content import render_template
from scheduler.web.rate_limits import WRITES_PER_ACCOUNT, refusal_message

# CLDR's group separators: French uses a narrow no-break space
GROUPED = {"en": "1,234", "de": "1.234", "fr": "1\u202f234", "es": "1.234"}
WORDS = {"en": "members", "de": "Mitglieder", "fr": "membres", "es": "miembros"}


@pytest.mark.parametrize("locale", sorted(GROUPED))
def test_a_page_writes_the_count_the_readers_way(app, locale):
    template = app.jinja_env.from_string(
        '{{ ngettext("%(num)d member", "%(num)d members", count) }}'
    )
    with app.test_request_context("/", headers={"Accept-Language": locale}):
        assert template.render(count=1234) == f"{GROUPED[locale]} {WORDS[locale]}"
        assert template.render(count=1) in {"1 member", "1 Mitglied", "1 membre", "1 miembro"}


def test_a_mail_writes_the_count_the_readers_way():
    text = render_template(
        "followup.txt",
        locale="es",
        recipient=SimpleNamespace(name="Ana"),
        gathering=SimpleNamespace(title="Rundlauf"),
        group=None,
        names=[],
        others=12345,
        interests=[],
        next_gathering=None,
        propose_url=None,
        group_url=None,
        unsubscribe_url="http://kindred.test/unsubscribe/x",
    )
    assert "12.345 personas" in text


@pytest.mark.parametrize("locale", sorted(GROUPED))
def test_texts_built_in_python_write_the_count_the_readers_way(locale):
    words = translate_plural(locale, "in %(num)s day", "in %(num)s days", 1234)
    assert GROUPED[locale] in words


def test_a_scripts_plural_forms_leave_the_count_to_the_script(app):
    # the poll grid's "N people can come" is written by poll.js, which puts in the count
    template = app.jinja_env.from_string(
        '{{ plural_forms("%(num)s person can come", "%(num)s people can come")|tojson }}'
    )
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        forms = json.loads(template.render())
    assert forms == {
        "one": "{count} personne peut venir",
        "other": "{count} personnes peuvent venir",
        "many": "{count} de personnes peuvent venir",  # "1 000 000 de personnes"
    }


def test_an_api_refusal_writes_its_limit_the_callers_way(api):
    german = api.signup("Greta", locale="de")
    body = {
        "title": "Lesekreis",
        "timezone": "Europe/Berlin",
        "duration_minutes": 60,
        "starts_at": "2027-03-01T18:00:00Z",
        "attendance_mode": "online",
        "online_url": "https://meet.example/" + "x" * 2000,
    }
    response = api.call("POST", "/api/v1/gatherings", german, json=body)
    assert response.status_code == 422
    assert response.get_json()["errors"]["online_url"] == ["Höchstens 2.000 Zeichen."]


def test_a_rate_limit_refusal_writes_its_wait_the_readers_way():
    day = 24 * 60 * 60
    assert refusal_message(WRITES_PER_ACCOUNT, day, "en").endswith("Try again in 1,440 minutes.")
    assert "1.440 Minuten" in refusal_message(WRITES_PER_ACCOUNT, day, "de")
