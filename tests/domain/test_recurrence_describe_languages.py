"""A recurrence rule described in German, French and Spanish: whole sentences per branch from
the catalogues, weekday and month names, lists and dates from CLDR."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.domain.recurrence import describe, parse_rule

ROOT = Path(__file__).resolve().parents[2] / "scheduler"

# The representative rules, in the order of the expected texts below.
RULES = (
    "FREQ=WEEKLY;BYDAY=MO,WE",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=8",
    "FREQ=MONTHLY;BYDAY=1MO",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYMONTHDAY=15",
    "FREQ=YEARLY;BYMONTH=3",
    "FREQ=DAILY;UNTIL=20271231",
    "FREQ=WEEKLY;BYDAY=TH;COUNT=1",
    "FREQ=MONTHLY;BYDAY=-2MO",
    "FREQ=MONTHLY;BYMONTHDAY=1,15,-1",
    "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=21",
    "FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR",
    "FREQ=WEEKLY;BYDAY=TH;BYMONTH=6,7,8;UNTIL=20270901T120000Z",
)

EXPECTED = {
    "de": (
        "jede Woche am Montag und Mittwoch",
        "alle 2 Wochen am Montag und Mittwoch, 8-mal",
        "am ersten Montag jedes Monats",
        "am letzten Freitag jedes Monats",
        "am 15. jedes Monats",
        "jedes Jahr im März",
        "jeden Tag, bis zum 31. Dezember 2027",
        "jede Woche am Donnerstag, einmal",
        "am vorletzten Montag jedes Monats",
        "am 1., 15. und letzten Tag jedes Monats",
        "jedes Jahr am letzten Sonntag im März",
        "jedes Jahr am 21. Juni",
        "am 13. jedes Monats, wenn er auf einen Freitag fällt",
        "jede Woche am Donnerstag, im Juni, Juli und August, "
        "bis zum 1. September 2027 um 12:00 UTC",
    ),
    "fr": (
        "toutes les semaines, le lundi et mercredi",
        "toutes les 2 semaines, le lundi et mercredi, 8 fois",
        "le premier lundi de chaque mois",
        "le dernier vendredi de chaque mois",
        "le 15 de chaque mois",
        "tous les ans en mars",
        "tous les jours, jusqu'au 31 décembre 2027",
        "toutes les semaines, le jeudi, une fois",
        "l'avant-dernier lundi de chaque mois",
        "le 1er, le 15 et le dernier jour de chaque mois",
        "tous les ans en mars, le dernier dimanche",
        "tous les ans, le 21 juin",
        "le 13 de chaque mois, quand c'est un vendredi",
        "toutes les semaines, le jeudi, en juin, juillet et août, "
        "jusqu'au 1er septembre 2027 à 12:00 UTC",
    ),
    "es": (
        "todas las semanas, el lunes y miércoles",
        "cada 2 semanas, el lunes y miércoles, 8 veces",
        "el primer lunes de cada mes",
        "el último viernes de cada mes",
        "el día 15 de cada mes",
        "todos los años en marzo",
        "todos los días, hasta el 31 de diciembre de 2027",
        "todas las semanas, el jueves, una vez",
        "el penúltimo lunes de cada mes",
        "el día 1, el día 15 y el último día de cada mes",
        "el último domingo de marzo de cada año",
        "el día 21 de junio de cada año",
        "el día 13 de cada mes, cuando cae en viernes",
        "todas las semanas, el jueves, en junio, julio y agosto, "
        "hasta el 1 de septiembre de 2027 a las 12:00 UTC",
    ),
}


@pytest.fixture(autouse=True)
def _require_catalogues() -> None:
    """The compiled catalogues (`make`) are what these tests read."""
    for locale in EXPECTED:
        if not (ROOT / "translations" / locale / "LC_MESSAGES" / "messages.mo").exists():
            pytest.fail(f"the {locale} catalogue is not compiled: run `make` first")


@pytest.mark.parametrize(
    ("locale", "text", "words"),
    [
        (locale, rule, words)
        for locale, texts in EXPECTED.items()
        for rule, words in zip(RULES, texts, strict=True)
    ],
)
def test_describe_in_each_language(locale: str, text: str, words: str) -> None:
    assert describe(parse_rule(text), locale) == words


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "on the 20th Monday of every year, 3 times"),
        ("de", "am 20. Montag jedes Jahres, 3-mal"),
        ("fr", "le 20e lundi de chaque année, 3 fois"),
        ("es", "el 20.º lunes de cada año, 3 veces"),
    ],
)
def test_numbered_weekdays_past_the_fifth_are_written_as_numbers(locale: str, words: str) -> None:
    assert describe(parse_rule("FREQ=YEARLY;BYDAY=20MO;COUNT=3"), locale) == words


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "every 3 days, until 1 January 2028"),
        ("de", "alle 3 Tage, bis zum 1. Januar 2028"),
        ("fr", "tous les 3 jours, jusqu'au 1er janvier 2028"),
        ("es", "cada 3 días, hasta el 1 de enero de 2028"),
    ],
)
def test_the_first_of_a_month_is_written_as_each_language_does(locale: str, words: str) -> None:
    assert describe(parse_rule("FREQ=DAILY;INTERVAL=3;UNTIL=20280101"), locale) == words


def test_a_day_must_also_be_one_of_several_month_days_in_words_saying_or() -> None:
    rule = parse_rule("FREQ=MONTHLY;BYDAY=3FR;BYMONTHDAY=15,16,17")

    assert describe(rule) == (
        "on the third Friday of every month, when that is the 15th, 16th or 17th"
    )
    assert describe(rule, "de") == (
        "am dritten Freitag jedes Monats, wenn er auf den 15., 16. oder 17. fällt"
    )


@pytest.mark.parametrize("locale", ["en", "en-GB", "pt", "", "xx"])
def test_english_or_an_unsupported_locale_is_the_english_text(locale: str) -> None:
    rule = parse_rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=8")

    assert (
        describe(rule, locale)
        == describe(rule)
        == ("every 2 weeks on Monday and Wednesday, 8 times")
    )


def test_the_default_locale_is_english() -> None:
    assert describe(parse_rule("FREQ=MONTHLY;BYDAY=1SA")) == "on the first Saturday of every month"


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "every week on Thursday, until 31 December 2027"),
        ("de", "jede Woche am Donnerstag, bis zum 31. Dezember 2027"),
        ("fr", "toutes les semaines, le jeudi, jusqu'au 31 décembre 2027"),
        ("es", "todas las semanas, el jueves, hasta el 31 de diciembre de 2027"),
    ],
)
def test_an_until_date_is_that_date_in_the_series_zone(locale: str, words: str) -> None:
    # stored as 2027-12-31T22:59:59Z: written in UTC it would read "22:59 UTC"
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH;UNTIL=20271231", "Europe/Berlin")

    assert describe(rule, locale, "Europe/Berlin") == words


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "every week on Thursday, until 1 January 2028 at 02:30"),
        ("de", "jede Woche am Donnerstag, bis zum 1. Januar 2028 um 02:30"),
    ],
)
def test_an_until_instant_is_its_local_date_and_time(locale: str, words: str) -> None:
    rule = parse_rule("FREQ=WEEKLY;BYDAY=TH;UNTIL=20280101T013000Z", "Europe/Berlin")

    assert describe(rule, locale, "Europe/Berlin") == words
    assert describe(rule, locale).endswith("01:30 UTC")
