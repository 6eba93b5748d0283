"""Kindred's pages in German, French and Spanish: `<html lang>` follows the reader's language
and no English is left on the main pages.

Each page is rendered twice, once in English and once in the language under test; every text
the reader sees (text nodes, and the title, aria-label, placeholder, alt attributes and the
confirmation questions) that is identical in both and still holds a word is English that was
not translated, unless it is one of the few texts that are the same by design (Kindred, API,
what the people in the test typed, time zone names).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from zoneinfo import available_timezones

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from scheduler.domain.language import LOCALE_NAMES
from scheduler.models import User
from tests.web.test_pages import create_evening_poll, create_gathering, csrf, local, next_evening
from tests.web.test_pages import sign_up as sign_up_page

ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-confirm")
SKIPPED_ELEMENTS = {"script", "style", "code"}
# What the people in this test typed, and texts that are the same in every language.
USER_DATA = [
    "Olga Organa",
    "Bruno Bauer",
    "olga@example.org",
    "bruno@example.org",
    "Tischtennis Treff",
    "Rundlauf und Doppel",
    "Turnier im Keller",
    "Umfrage zum Sommerfest",
    "Kellerraum",
    "tischtennis",
    "Welcher Schläger?",
    "chess",
    "board games",
]
SAME_EVERYWHERE = {"Kindred", "API", "UTC", "ICS", "CSV"}
# Words a language writes exactly as English does (checked by hand, not left-overs).
SAME_WORD = {
    "de": {"Online", "Details"},
    "fr": {"Message", "Description", "Discussion", "Question", "minutes", "min"},
    "es": {"min"},
}
ZONE_NAMES = {name.replace("_", " ") for name in available_timezones()}
# English that Python code outside the templates makes (scheduler/web/*.py view code: labels of
# choices, the error page's title and message), translated there in its own change; the pages
# here show them as given. Remove an entry once its view code translates it.
# the language choice names each language in itself (with its own lang attribute)
ENDONYMS = set(LOCALE_NAMES.values())


class VisibleText(HTMLParser):
    """The texts of a page a reader meets, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._skipping = 0
        self._in_option_of_zone_select = False
        self._zone_select = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in SKIPPED_ELEMENTS:
            self._skipping += 1
        if tag == "select" and "data-tz-select" in values:
            self._zone_select = True
        for name in ATTRIBUTES:
            if values.get(name):
                self.texts.append(str(values[name]))

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_ELEMENTS and self._skipping:
            self._skipping -= 1
        if tag == "select":
            self._zone_select = False

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and not self._skipping and not self._zone_select:
            self.texts.append(text)


def visible_texts(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.texts


def left_in_english(english: str, translated: str, locale: str) -> list[str]:
    """The texts of `translated` that are also in `english` and still hold a word."""
    same = set(visible_texts(english)) & set(visible_texts(translated))
    allowed_words = SAME_EVERYWHERE | SAME_WORD[locale]
    left = []
    for text in sorted(same):
        if text in ZONE_NAMES or text in ENDONYMS or text.startswith("https://"):
            continue
        rest = text
        for data in USER_DATA:
            rest = rest.replace(data, " ")
        words = [w for w in re.findall(r"[^\W\d_]{2,}", rest) if w not in allowed_words]
        if words:
            left.append(text)
    return left


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([a-z-]+)"', html)
    assert match, "the page has no <html lang>"
    return match.group(1)


@pytest.fixture
def site(app: Any, session: Any) -> dict[str, Any]:
    """Olga organizes a group with a gathering and a poll; Bruno joined and answered."""
    olga = app.test_client()
    sign_up_page(olga, "Olga Organa", "olga@example.org")
    made = olga.post(
        "/groups/new",
        data={
            "csrf_token": csrf(olga.get("/groups/new").text),
            "name": "Tischtennis Treff",
            "interests": "tischtennis",
            "description": "Rundlauf und Doppel",
        },
    )
    group = made.headers["Location"]
    group_id = group.rsplit("/", 1)[-1]
    gathering = create_gathering(
        olga,
        title="Turnier im Keller",
        location="Kellerraum",
        group_id=group_id,
        capacity="8",
        max_guests="1",
        question_text_0="Welcher Schläger?",
        question_required_0="1",
        starts_at=local(next_evening(5)),
    ).headers["Location"]
    poll = create_evening_poll(olga, title="Umfrage zum Sommerfest", group_id=group_id)

    bruno = app.test_client()
    sign_up_page(bruno, "Bruno Bauer", "bruno@example.org")
    page = bruno.get(group)
    bruno.post(f"{group}/join", data={"csrf_token": csrf(page.text)})
    page = bruno.get(poll)
    bruno.post(
        f"{poll}/availability", data={"csrf_token": csrf(page.text), "c0": "yes", "c1": "yes"}
    )
    olga.get("/")  # the flashes of the set-up are shown once, here
    olga_id, bruno_id = (
        session.scalar(
            User.__table__.select().with_only_columns(User.id).where(User.email == email)
        )
        for email in ("olga@example.org", "bruno@example.org")
    )
    return {
        "olga": olga,
        "olga_id": olga_id,
        "bruno": bruno,
        "bruno_id": bruno_id,
        "group": group,
        "gathering": gathering,
        "poll": poll,
        "gathering_edit": f"{gathering}/edit",
        "group_propose": f"{group}/propose",
    }


def set_locale(session: Any, user_id: int, locale: str) -> None:
    session.execute(update(User).where(User.id == user_id).values(locale=locale))
    session.commit()


ANONYMOUS_PAGES = [
    "/",
    "/login",
    "/signup",
    "/groups",
    "/no-such-page",
    "/account/sign-in-link",
    "/account/forgot-password",
    # links from mail that no longer work (a reset, an answer, an unsubscribe, a check-in)
    "/account/reset/not-a-token",
    "/r/not-a-token",
    "/unsubscribe/not-a-token",
    "/checkins/answer/not-a-token",
    "/groups/approve/not-a-token",
]
SIGNED_IN_PAGES = [
    "/",
    "/groups",
    "group",
    "gathering",
    "/gatherings/new",
    "poll",
    "/profile",
    "/people",
    "/groups/new",
    "gathering_edit",
    "group_propose",
]

MEMBER_PAGES = ["group", "gathering", "poll"]


@pytest.mark.parametrize("locale", ["de", "fr", "es"])
def test_the_main_pages_speak_the_readers_language(
    app: Any, session: Any, site: dict[str, Any], locale: str
) -> None:
    visitor: FlaskClient = app.test_client()
    olga: FlaskClient = site["olga"]
    pages = [(visitor, path) for path in ANONYMOUS_PAGES]
    pages += [(olga, site.get(path, path)) for path in SIGNED_IN_PAGES]
    # and as a member who answered: the RSVP form with its question, the painted poll
    pages += [(site["bruno"], site[path]) for path in MEMBER_PAGES]

    english, translated = {}, {}
    for person in ("olga_id", "bruno_id"):
        set_locale(session, site[person], "en")
    for who, path in pages:
        english[who, path] = who.get(path, headers={"Accept-Language": "en-GB,en;q=0.9"})
    for person in ("olga_id", "bruno_id"):
        set_locale(session, site[person], locale)
    for who, path in pages:
        translated[who, path] = who.get(path, headers={"Accept-Language": f"{locale},en;q=0.5"})

    problems = {}
    for key, page in translated.items():
        assert page.status_code == english[key].status_code, key[1]
        assert html_lang(english[key].text) == "en"
        assert html_lang(page.text) == locale, key[1]
        left = left_in_english(english[key].text, page.text, locale)
        if left:
            problems[key[1]] = left
    assert problems == {}, "\n".join(f"{path}: {texts}" for path, texts in problems.items())


def test_the_poll_grid_names_the_days_in_the_readers_language(
    session: Any, site: dict[str, Any]
) -> None:
    set_locale(session, site["olga_id"], "de")
    page = site["olga"].get(site["poll"]).text
    evening = next_evening()
    weekday = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"][
        evening.weekday()
    ]
    assert f'title="{weekday}, ' in page  # the column heading, in full
    assert re.search(rf'aria-label="{weekday}, \d+\. \w+, 18:00\u201318:30"', page)
    assert ">ja</option>" in page and ">notfalls</option>" in page
    assert "Wann kannst du?" in page

    set_locale(session, site["olga_id"], "en")
    page = site["olga"].get(site["poll"]).text  # the painted options are kept per language
    assert ">yes</option>" in page and ">ja</option>" not in page
