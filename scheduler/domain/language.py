"""People's languages: which Kindred speaks, the message catalogues, and dates, times and
numbers written the way each language writes them (Babel and CLDR).

Pure: the catalogues are read from the package (`scheduler/translations`, compiled by
`make`), never from the request; callers pass the locale in.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

SUPPORTED_LOCALES = ("en", "de", "fr", "es")
DEFAULT_LOCALE = "en"
# The language each locale is called in itself, for the choice on the profile.
LOCALE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}
TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
# Kindred's English writes dates the British way ("Thu, 4 Jun 2026").
_FORMAT_LOCALE = {"en": "en_GB"}
# A day heading names the weekday in full; CLDR's skeletons abbreviate it in some languages.
_DAY_PATTERN = {
    "en": "EEEE d MMMM",
    "de": "EEEE, d. MMMM",
    "fr": "EEEE d MMMM",
    "es": "EEEE, d 'de' MMMM",
}


def normalise_locale(value: str | None) -> str:
    """A supported locale for a stored or requested value ('de-AT' → 'de'), else English."""
    if not value:
        return DEFAULT_LOCALE
    language = value.replace("_", "-").split("-", 1)[0].strip().lower()
    return language if language in SUPPORTED_LOCALES else DEFAULT_LOCALE


def negotiate_locale(accept_language: str | None) -> str:
    """The best supported locale for an `Accept-Language` header (RFC 9110 weights)."""
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:50]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language = tag.strip().replace("_", "-").split("-", 1)[0].lower()
        if language in SUPPORTED_LOCALES and weight > 0:
            choices.append((-weight, position, language))
    return min(choices)[2] if choices else DEFAULT_LOCALE


def text_direction(locale: str) -> str:
    """'rtl' or 'ltr', for `<html dir>`."""
    return Locale.parse(normalise_locale(locale)).text_direction


@lru_cache(maxsize=len(SUPPORTED_LOCALES) + 1)
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of a locale (English: the source texts themselves)."""
    locale = normalise_locale(locale)
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [locale])


def N_(message: str) -> str:
    """Mark English text for the catalogues; it is translated where it is shown."""
    return message


def translate(locale: str, message: str, **params: Any) -> str:
    """`message` in `locale`, with `%(name)s` placeholders filled from `params`."""
    text = translations(locale).gettext(message)
    return text % params if params else text


def translate_plural(locale: str, singular: str, plural: str, count: int, **params: Any) -> str:
    """The plural form of `locale` for `count`; `%(num)s` is the count, written locally."""
    return counted(translations(locale), locale, singular, plural, count) % params


def counted(
    catalogue: NullTranslations, locale: str, singular: str, plural: str, count: int
) -> str:
    """`catalogue`'s plural form for `count` with the count in it written the way of `locale`
    ("1,000", "1.000", "1 000"); other placeholders are left to the caller. Templates and
    gettext write it `%(num)d` or `%(num)s` and would fill in the bare number."""
    number = format_number(count, locale)
    text = catalogue.ngettext(singular, plural, count)
    return text.replace("%(num)d", number).replace("%(num)s", number)


def format_number(value: float, locale: str) -> str:
    """1234.5 → '1,234.5' / '1.234,5' / '1 234,5'."""
    if isinstance(value, int):
        return _format_integer(value, _babel_locale(locale))
    return format_decimal(value, locale=_babel_locale(locale))


@lru_cache(maxsize=4096)
def _format_integer(value: int, babel_locale: str) -> str:
    # counts are written per cell of a poll grid (thousands a page); Babel parses the
    # locale's pattern on every call, ~30 us
    return format_decimal(value, locale=babel_locale)


def _babel_locale(locale: str) -> str:
    locale = normalise_locale(locale)
    return _FORMAT_LOCALE.get(locale, locale)


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    return value.astimezone(zone)


def format_day(value: datetime | date, locale: str, *, zone: ZoneInfo | None = None) -> str:
    """'Thursday 4 June' / 'Do., 4. Juni': a day heading within a known year."""
    day = _local(value, zone) if isinstance(value, datetime) and zone else value
    pattern = _DAY_PATTERN[normalise_locale(locale)]
    return format_date(day, pattern, locale=_babel_locale(locale))


def format_long_date(value: datetime | date, locale: str, *, zone: ZoneInfo | None = None) -> str:
    """'Thursday 4 June 2026' / 'Donnerstag, 4. Juni 2026'."""
    day = _local(value, zone) if isinstance(value, datetime) and zone else value
    return format_date(day, "full", locale=_babel_locale(locale))


def format_month(value: datetime | date, locale: str, *, with_year: bool = True) -> str:
    """'June 2026' / 'Juni 2026', or the month alone."""
    if with_year:
        return format_skeleton("yMMMM", value, locale=_babel_locale(locale))
    return format_date(value, "LLLL", locale=_babel_locale(locale))  # stand-alone: "März"


def format_clock(value: datetime, locale: str, zone: ZoneInfo) -> str:
    """'18:00' in the zone, as the locale writes a time of day."""
    return format_time(_local(value, zone), "short", locale=_babel_locale(locale))


def format_when(value: datetime, locale: str, zone: ZoneInfo, *, with_zone: bool = True) -> str:
    """'Thu, 4 Jun 2026, 18:00 CEST' / 'Do., 4. Juni 2026, 18:00 MESZ' in `zone`."""
    local = _local(value, zone)
    text = f"{format_skeleton('yMMMEd', local, locale=_babel_locale(locale))}, {format_clock(local, locale, zone)}"
    return f"{text} {local.tzname()}" if with_zone else text


def format_long_when(value: datetime, locale: str, zone: ZoneInfo) -> str:
    """'Thursday 4 June 2026, 18:00' / 'Donnerstag, 4. Juni 2026, 18:00' in `zone`."""
    local = _local(value, zone)
    return f"{format_long_date(local, locale)}, {format_clock(local, locale, zone)}"


def format_time_range(start: datetime, end: datetime | None, locale: str, zone: ZoneInfo) -> str:
    """'Thu, 4 Jun 2026, 18:00-20:00 CEST' (an en dash), or across days in full."""
    if end is None:
        return format_when(start, locale, zone)
    a, b = _local(start, zone), _local(end, zone)
    if a.date() == b.date():
        return f"{format_when(a, locale, zone, with_zone=False)}\u2013{format_clock(b, locale, zone)} {b.tzname()}"
    return f"{format_when(a, locale, zone)} \u2013 {format_when(b, locale, zone)}"
