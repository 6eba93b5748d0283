"""Recurring gatherings: RFC 5545 RRULE values, validated, expanded, split and described.

Pure: no Flask, SQLAlchemy or Redis, and no clock; callers pass every instant in.

Occurrences keep their wall-clock time in the gathering's time zone. The rule is expanded
by ``dateutil.rrule`` over *naive local wall-clock* times (so "weekly at 19:00" stays 19:00
across daylight-saving changes) and each local time is then turned into an aware UTC instant
with ``zoneinfo``, always with ``fold=0``. What ``fold=0`` does at the two kinds of DST edge,
checked against Europe/Berlin in 2027:

* Nonexistent local time (spring forward, e.g. 02:30 on 2027-03-28, when clocks jump from
  02:00 to 03:00): the offset from *before* the gap is used, which moves the occurrence
  forward by the size of the gap: 02:30 becomes 03:30 local (01:30Z).
* Ambiguous local time (fall back, e.g. 02:30 on 2027-10-31, which happens twice): the
  first of the two is used, still on summer time: 02:30 CEST (00:30Z).

Should two occurrences map to the same instant (only possible when a zone skips a whole day,
as Samoa did in 2011), the later duplicate is dropped so the instants strictly increase.

UNTIL is accepted as a UTC date-time (``20271231T230000Z``) or as a date (``20271231``,
meaning "through that local date" in the gathering's zone). A floating date-time (no ``Z``)
is rejected: RFC 5545 requires UTC when DTSTART carries a time zone, and guessing a zone
would silently move the end. ``parse_rule(text, timezone=...)`` turns a date UNTIL into the
UTC instant of the end of that local day, which is the form to store and put in ICS.

Supported: FREQ (DAILY, WEEKLY, MONTHLY, YEARLY), INTERVAL, COUNT, UNTIL, BYDAY (numbered
days such as ``1SA`` or ``-1FR`` with MONTHLY and YEARLY only), BYMONTHDAY (not with
WEEKLY, as RFC 5545 says), BYMONTH and WKST. A series has at most ``MAX_OCCURRENCES``
occurrences; unbounded rules are materialised over a rolling ``HORIZON_DAYS`` window.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from math import gcd
from typing import Any, NamedTuple

from babel.dates import format_date, get_day_names, get_month_names
from babel.lists import format_list
from dateutil import rrule as du

from scheduler.domain.date_bounds import FIRST_YEAR, LAST_YEAR, LATEST
from scheduler.domain.errors import InvalidInput, Term
from scheduler.domain.language import (
    DEFAULT_LOCALE,
    N_,
    normalise_locale,
    translate,
    translate_plural,
)
from scheduler.domain.timezones import zone

__all__ = [
    "HORIZON_DAYS",
    "MAX_COUNT",
    "MAX_INTERVAL",
    "MAX_OCCURRENCES",
    "ByDay",
    "Frequency",
    "RecurrenceError",
    "RecurrenceRule",
    "RuleSplit",
    "TooManyOccurrences",
    "describe",
    "expand",
    "parse_rule",
    "split_rule",
    "weekly_rule",
]

HORIZON_DAYS = 90
"""How far ahead the occurrences of an unbounded rule are materialised."""
MAX_OCCURRENCES = 1000
"""Hard cap on the occurrences one expansion returns (the default ``limit``)."""
MAX_COUNT = MAX_OCCURRENCES
"""Largest COUNT accepted."""
MAX_INTERVAL = 1000
"""Largest INTERVAL accepted; larger values only make dateutil loop for nothing."""
MAX_TEXT_LENGTH = 500
"""Longest RRULE text accepted."""

WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKDAY_NAMES = (
    N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
    N_("Sunday"),
)  # fmt: skip
_SUPPORTED_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST")
# Valid RFC 5545 / RFC 7529 parts that Kindred does not offer: a distinct message for them.
_UNSUPPORTED_PARTS = frozenset(
    {"BYSETPOS", "BYHOUR", "BYMINUTE", "BYSECOND", "BYYEARDAY", "BYWEEKNO", "RSCALE", "SKIP"}
)
_SUB_DAILY = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})
_BYDAY_ITEM = re.compile(r"([+-]?)([0-9]{1,2})?([A-Z]{2})")
_SMALL_INT = re.compile(r"[+-]?[0-9]{1,4}")
_DIGITS = re.compile(r"[0-9]+")
_UNTIL_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_UNTIL_UTC = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_UNTIL_FLOATING = re.compile(r"[0-9]{8}T[0-9]{6}")
# 2001-2028 holds every kind of year (leap or not x weekday of 1 January) and no
# skipped century leap day, so a day pattern that never matches there never matches at all.
_PATTERN_YEARS = range(2001, 2029)


class RecurrenceError(InvalidInput):
    """An RRULE that is invalid or unsupported; the message says what is wrong in plain words."""

    def __init__(self, message: str, *, field: str | None = "recurrence", **params: Any) -> None:
        super().__init__(message, field=field, **params)


class TooManyOccurrences(RecurrenceError):
    """The rule yields more occurrences in the requested window than the hard cap allows."""


class Frequency(StrEnum):
    """The supported FREQ values."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"


_DU_FREQ = {
    Frequency.DAILY: du.DAILY,
    Frequency.WEEKLY: du.WEEKLY,
    Frequency.MONTHLY: du.MONTHLY,
    Frequency.YEARLY: du.YEARLY,
}


@dataclass(frozen=True, slots=True)
class ByDay:
    """One BYDAY entry: a weekday (0 = Monday, as ``date.weekday()``), optionally numbered.

    ``ordinal`` 1 is the first such weekday of the month (or year), -1 the last; ``None``
    means every such weekday.
    """

    weekday: int
    ordinal: int | None = None

    def __str__(self) -> str:
        code = WEEKDAY_CODES[self.weekday]
        return code if self.ordinal is None else f"{self.ordinal}{code}"


@dataclass(frozen=True, slots=True)
class RecurrenceRule:
    """A validated RRULE. Build it with ``parse_rule`` (or ``weekly_rule``), not directly.

    ``until`` is an aware UTC datetime, or a ``date`` meaning "through that local date in the
    gathering's zone" when the text gave a date and no zone was known when parsing.
    ``wkst`` is None when the text did not say (RFC 5545 default: Monday).
    """

    freq: Frequency
    interval: int = 1
    count: int | None = None
    until: datetime | date | None = None
    by_day: tuple[ByDay, ...] = ()
    by_month_day: tuple[int, ...] = ()
    by_month: tuple[int, ...] = ()
    wkst: int | None = None
    _text: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_text", _canonical_text(self))

    @property
    def text(self) -> str:
        """Canonical RRULE value (no ``RRULE:`` prefix), to store and to put in ICS."""
        return self._text

    @property
    def is_bounded(self) -> bool:
        """Whether the rule ends by itself (COUNT or UNTIL)."""
        return self.count is not None or self.until is not None

    def __str__(self) -> str:
        return self._text


class RuleSplit(NamedTuple):
    """The result of ``split_rule``: the two series replacing one ("this and following")."""

    before: RecurrenceRule | None
    """The original series cut short; None when the split is at its first occurrence."""
    after: RecurrenceRule
    """The new series, starting at the split occurrence."""
    after_first_start_local: datetime
    """Naive wall-clock first start of the new series (the occurrence's nominal local time)."""


# --------------------------------------------------------------------------- parsing


def parse_rule(text: str, timezone: str | None = None) -> RecurrenceRule:
    """Validate RRULE text (with or without ``RRULE:``) and return the parsed rule.

    With ``timezone`` (the gathering's IANA zone), an UNTIL given as a date is turned into the
    UTC instant that ends that local day, so the canonical text is fit for ICS. Raises
    ``RecurrenceError`` naming the offending part for anything invalid or unsupported.
    """
    parts = _split_parts(text)
    freq = _parse_freq(parts)
    interval = _parse_bounded_int(parts, "INTERVAL", 1, MAX_INTERVAL, default=1)
    count = _parse_count(parts)
    until = _parse_until(parts.get("UNTIL"))
    if count is not None and until is not None:
        raise RecurrenceError("COUNT and UNTIL cannot be used together; use one of them")
    by_month = _parse_by_month(parts.get("BYMONTH"))
    by_month_day = _parse_by_month_day(parts.get("BYMONTHDAY"), freq)
    by_day = _parse_by_day(parts.get("BYDAY"), freq, by_month)
    wkst = _parse_wkst(parts.get("WKST"))
    numbered_in_year = freq is Frequency.YEARLY and not by_month
    if not _pattern_possible(
        by_month or None, by_month_day, by_day, numbered_in_year=numbered_in_year
    ):
        raise _never_matches(by_month, by_month_day, by_day)
    if timezone is not None and until is not None and not isinstance(until, datetime):
        until = _end_of_local_day(until, zone(timezone))
    return RecurrenceRule(
        freq=freq,
        interval=interval,
        count=count,
        until=until,
        by_day=by_day,
        by_month_day=by_month_day,
        by_month=by_month,
        wkst=wkst,
    )


def weekly_rule(
    weekdays: Sequence[int],
    *,
    interval: int = 1,
    count: int | None = None,
    until: datetime | None = None,
) -> RecurrenceRule:
    """A WEEKLY rule on the given weekdays (0 = Monday ... 6 = Sunday), validated as text."""
    if not weekdays:
        raise RecurrenceError("choose at least one weekday")
    codes = []
    for day in weekdays:
        if not isinstance(day, int) or not 0 <= day <= 6:
            raise RecurrenceError(
                "weekday %(day)r is not a number from 0 (Monday) to 6 (Sunday)", day=day
            )
        codes.append(WEEKDAY_CODES[day])
    text = f"FREQ=WEEKLY;INTERVAL={interval};BYDAY={','.join(codes)}"
    if count is not None:
        text += f";COUNT={count}"
    if until is not None:
        if until.tzinfo is None:
            raise ValueError("until must be timezone-aware")
        text += f";UNTIL={_format_utc(until.astimezone(UTC))}"
    return parse_rule(text)


def _split_parts(text: object) -> dict[str, str]:
    """NAME=VALUE parts of the rule text, names and values upper-cased and checked once each."""
    if not isinstance(text, str):
        raise RecurrenceError("the rule must be text such as FREQ=WEEKLY;BYDAY=TH")
    body = text.strip()
    if len(body) > MAX_TEXT_LENGTH:
        raise RecurrenceError(
            "the rule is too long (at most %(count)s characters)", count=MAX_TEXT_LENGTH
        )
    if body[:6].upper() == "RRULE:":
        body = body[6:].strip()
    if not body:
        raise RecurrenceError("the rule is empty; write something like FREQ=WEEKLY;BYDAY=TH")
    if not body.isprintable():
        raise RecurrenceError("the rule must be a single line of text (one RRULE value)")
    parts: dict[str, str] = {}
    pieces = body.split(";")
    if pieces[-1].strip() == "":
        pieces.pop()  # tolerate one trailing ';'
    for piece in pieces:
        name, sep, value = piece.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if not sep or not name:
            raise RecurrenceError(
                "%(part)s is not a NAME=VALUE part; parts look like FREQ=WEEKLY "
                "and are separated by ';'",
                part=_quote(piece),
            )
        if name in _UNSUPPORTED_PARTS:
            raise RecurrenceError(
                "%(name)s is not supported; supported parts are FREQ, INTERVAL, COUNT, UNTIL, "
                "BYDAY, BYMONTHDAY, BYMONTH and WKST",
                name=name,
            )
        if name not in _SUPPORTED_PARTS:
            raise RecurrenceError(
                "unknown part %(name)s; supported parts are FREQ, INTERVAL, COUNT, UNTIL, "
                "BYDAY, BYMONTHDAY, BYMONTH and WKST",
                name=_quote(name),
            )
        if name in parts:
            raise RecurrenceError("%(name)s is given more than once", name=name)
        if not value:
            raise RecurrenceError("%(name)s has no value", name=name)
        parts[name] = value
    return parts


def _quote(value: str, limit: int = 40) -> str:
    """User text quoted for a message, shortened so a huge input cannot flood it."""
    value = value.strip()
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _parse_freq(parts: dict[str, str]) -> Frequency:
    """The FREQ part, required and at least daily."""
    value = parts.get("FREQ")
    if value is None:
        raise RecurrenceError(
            "FREQ is missing; start the rule with FREQ=DAILY, WEEKLY, MONTHLY or YEARLY"
        )
    if value in _SUB_DAILY:
        raise RecurrenceError(
            "FREQ=%(value)s is not supported; use DAILY, WEEKLY, MONTHLY or YEARLY", value=value
        )
    try:
        return Frequency(value)
    except ValueError:
        raise RecurrenceError(
            "FREQ=%(value)s is not a frequency; use DAILY, WEEKLY, MONTHLY or YEARLY",
            value=_quote(value)[1:-1],
        ) from None


def _parse_bounded_int(
    parts: dict[str, str], name: str, low: int, high: int, *, default: int
) -> int:
    """A whole-number part within [low, high]."""
    value = parts.get(name)
    if value is None:
        return default
    if not _DIGITS.fullmatch(value):
        raise RecurrenceError(
            "%(name)s must be a whole number, not %(value)s", name=name, value=_quote(value)
        )
    number = int(value[:12])  # more digits are out of range anyway
    if number < low:
        raise RecurrenceError(
            "%(name)s must be at least %(low)s, not %(number)s", name=name, low=low, number=number
        )
    if len(value) > 12 or number > high:
        raise RecurrenceError(
            "%(name)s=%(value)s is too large; the most is %(high)s",
            name=name,
            value=_quote(value)[1:-1],
            high=high,
        )
    return number


def _parse_count(parts: dict[str, str]) -> int | None:
    """The COUNT part: 1 to MAX_COUNT occurrences."""
    if "COUNT" not in parts:
        return None
    return _parse_bounded_int(parts, "COUNT", 1, MAX_COUNT, default=1)


def _parse_until(value: str | None) -> datetime | date | None:
    """The UNTIL part: a date, or a UTC date-time ending in Z."""
    if value is None:
        return None
    shown = _quote(value)[1:-1]
    if match := _UNTIL_UTC.fullmatch(value):
        try:
            until: datetime | date = datetime(*map(int, match.groups()), tzinfo=UTC)
        except ValueError:
            raise RecurrenceError(
                "UNTIL=%(value)s is not a real date and time", value=shown
            ) from None
    elif match := _UNTIL_DATE.fullmatch(value):
        try:
            until = date(*map(int, match.groups()))
        except ValueError:
            raise RecurrenceError("UNTIL=%(value)s is not a real date", value=shown) from None
    elif _UNTIL_FLOATING.fullmatch(value):
        raise RecurrenceError(
            "UNTIL=%(value)s has no time zone; give it in UTC with a trailing Z "
            "(e.g. %(value)sZ) or as a date (e.g. %(day)s)",
            value=value,
            day=value[:8],
        )
    else:
        raise RecurrenceError(
            "UNTIL=%(value)s is not a date (YYYYMMDD) or a UTC date-time (YYYYMMDDTHHMMSSZ)",
            value=shown,
        )
    if not FIRST_YEAR <= until.year <= LAST_YEAR:
        raise RecurrenceError(
            "UNTIL=%(value)s is out of range; use a year from %(first)s to %(last)s",
            value=shown,
            first=FIRST_YEAR,
            last=LAST_YEAR,
        )
    return until


def _parse_int_list(value: str | None, name: str) -> list[int]:
    """A comma-separated list of (signed) whole numbers."""
    if value is None:
        return []
    numbers = []
    for item in value.split(","):
        item = item.strip()
        if not _SMALL_INT.fullmatch(item):
            raise RecurrenceError(
                "%(name)s must list whole numbers separated by commas, not %(value)s",
                name=name,
                value=_quote(item),
            )
        numbers.append(int(item))
    return numbers


def _parse_by_month(value: str | None) -> tuple[int, ...]:
    """BYMONTH: months 1 to 12."""
    months = _parse_int_list(value, "BYMONTH")
    for month in months:
        if not 1 <= month <= 12:
            raise RecurrenceError(
                "BYMONTH=%(month)s is not a month; use 1 (January) to 12 (December)", month=month
            )
    return tuple(sorted(set(months)))


def _parse_by_month_day(value: str | None, freq: Frequency) -> tuple[int, ...]:
    """BYMONTHDAY: 1 to 31 or -31 to -1 (counting from the end of the month)."""
    days = _parse_int_list(value, "BYMONTHDAY")
    if days and freq is Frequency.WEEKLY:
        raise RecurrenceError(
            "BYMONTHDAY cannot be used with FREQ=WEEKLY; use BYDAY or FREQ=MONTHLY"
        )
    for day in days:
        if day == 0 or not -31 <= day <= 31:
            raise RecurrenceError(
                "BYMONTHDAY=%(day)s is out of range; use 1 to 31, or -1 (last day) to -31", day=day
            )
    return tuple(sorted(set(days), key=lambda d: (d < 0, d)))


def _parse_by_day(
    value: str | None, freq: Frequency, by_month: tuple[int, ...]
) -> tuple[ByDay, ...]:
    """BYDAY: weekday codes, numbered (1SA, -1FR) only with MONTHLY and YEARLY."""
    if value is None:
        return ()
    days: set[ByDay] = set()
    for raw in value.split(","):
        item = raw.strip()
        match = _BYDAY_ITEM.fullmatch(item)
        if match is None:
            raise RecurrenceError(
                "BYDAY: %(value)s is not a weekday; use MO, TU, WE, TH, FR, SA or SU, "
                "optionally numbered like 1SA or -1FR",
                value=_quote(item),
            )
        sign, digits, code = match.groups()
        if code not in WEEKDAY_CODES:
            raise RecurrenceError(
                "BYDAY: %(value)s is not a weekday; use MO, TU, WE, TH, FR, SA or SU",
                value=_quote(code),
            )
        ordinal = None
        if digits is not None:
            ordinal = -int(digits) if sign == "-" else int(digits)
            _check_ordinal(item, ordinal, freq, by_month)
        elif sign:
            raise RecurrenceError("BYDAY: %(value)s has a sign but no number", value=_quote(item))
        days.add(ByDay(WEEKDAY_CODES.index(code), ordinal))
    numbered = {d for d in days if d.ordinal is not None}
    if numbered and len(numbered) != len(days):
        raise RecurrenceError(
            "BYDAY cannot mix plain weekdays (like MO) with numbered ones (like 1FR); "
            "use one kind in a rule"
        )
    return tuple(
        sorted(
            days, key=lambda d: (d.ordinal is not None and d.ordinal < 0, d.ordinal or 0, d.weekday)
        )
    )


def _check_ordinal(item: str, ordinal: int, freq: Frequency, by_month: tuple[int, ...]) -> None:
    """A numbered weekday must fit its period: a month (at most 5) or a year (at most 53)."""
    if freq not in (Frequency.MONTHLY, Frequency.YEARLY):
        raise RecurrenceError(
            "BYDAY=%(item)s: numbered weekdays only work with FREQ=MONTHLY or FREQ=YEARLY; "
            "with FREQ=%(freq)s use plain weekdays like %(plain)s",
            item=item,
            freq=str(freq),
            plain=item.lstrip("+-0123456789"),
        )
    in_month = freq is Frequency.MONTHLY or bool(by_month)
    most = 5 if in_month else 53
    if ordinal == 0 or abs(ordinal) > most:
        if in_month:
            raise RecurrenceError(
                "BYDAY=%(item)s is out of range; a month has at most %(most)s of each weekday, "
                "so use 1 to %(most)s or -1 to -%(most)s",
                item=item,
                most=most,
            )
        raise RecurrenceError(
            "BYDAY=%(item)s is out of range; a year has at most %(most)s of each weekday, "
            "so use 1 to %(most)s or -1 to -%(most)s",
            item=item,
            most=most,
        )


def _parse_wkst(value: str | None) -> int | None:
    """WKST: the weekday weeks start on."""
    if value is None:
        return None
    if value not in WEEKDAY_CODES:
        raise RecurrenceError(
            "WKST=%(value)s is not a weekday; use MO, TU, WE, TH, FR, SA or SU",
            value=_quote(value)[1:-1],
        )
    return WEEKDAY_CODES.index(value)


def _canonical_text(rule: RecurrenceRule) -> str:
    """The normalised RRULE value: fixed part order, defaults left out, UNTIL in UTC Z form."""
    parts = [f"FREQ={rule.freq}"]
    if rule.interval != 1:
        parts.append(f"INTERVAL={rule.interval}")
    if rule.by_month:
        parts.append("BYMONTH=" + ",".join(map(str, rule.by_month)))
    if rule.by_month_day:
        parts.append("BYMONTHDAY=" + ",".join(map(str, rule.by_month_day)))
    if rule.by_day:
        parts.append("BYDAY=" + ",".join(map(str, rule.by_day)))
    if rule.wkst is not None and rule.wkst != 0:
        parts.append(f"WKST={WEEKDAY_CODES[rule.wkst]}")
    if rule.count is not None:
        parts.append(f"COUNT={rule.count}")
    if isinstance(rule.until, datetime):
        parts.append(f"UNTIL={_format_utc(rule.until)}")
    elif rule.until is not None:
        parts.append(f"UNTIL={rule.until:%Y%m%d}")
    return ";".join(parts)


def _format_utc(value: datetime) -> str:
    """An aware datetime as an RFC 5545 UTC date-time."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _end_of_local_day(day: date, tz: tzinfo) -> datetime:
    """The last whole second of a local date, in UTC (how a date UNTIL reads in a zone)."""
    next_midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    return next_midnight.astimezone(UTC) - timedelta(seconds=1)


# --------------------------------------------------------------------------- day patterns


def _pattern_possible(
    months: Sequence[int] | None,
    by_month_day: Sequence[int],
    by_day: Sequence[ByDay],
    *,
    numbered_in_year: bool,
    weekdays: frozenset[int] | None = None,
) -> bool:
    """Whether any date at all satisfies BYMONTH, BYMONTHDAY and BYDAY together.

    dateutil searches up to the year 9999 before giving up on a rule that never matches
    (seconds of CPU), so such rules are caught here instead. ``months`` None means any
    month; ``numbered_in_year`` counts numbered weekdays within the year rather than the
    month; ``weekdays`` further restricts the weekday (an INTERVAL that always lands on one).
    """
    if months is not None and not months:
        return False
    if not by_month_day and weekdays is None:
        # Every month has each weekday, and numbered ones up to the 4th; a 5th (even in a
        # February) or a 53rd exists in some month or year of the cycle.
        return True
    days = set(by_month_day)
    plain = {d.weekday for d in by_day if d.ordinal is None}
    numbered = {(d.weekday, d.ordinal) for d in by_day if d.ordinal is not None}
    in_year = numbered_in_year
    for year in _PATTERN_YEARS:
        year_start = date(year, 1, 1)
        year_length = 366 if calendar.isleap(year) else 365
        for month in months or range(1, 13):
            first = date(year, month, 1)
            length = calendar.monthrange(year, month)[1]
            for day in range(1, length + 1):
                if days and day not in days and day - length - 1 not in days:
                    continue
                current = first.replace(day=day)
                weekday = current.weekday()
                if weekdays is not None and weekday not in weekdays:
                    continue
                if plain and weekday not in plain:
                    continue
                if numbered:
                    if in_year:
                        index, period = (current - year_start).days, year_length
                    else:
                        index, period = day - 1, length
                    forward, backward = index // 7 + 1, -((period - 1 - index) // 7 + 1)
                    if (weekday, forward) not in numbered and (weekday, backward) not in numbered:
                        continue
                return True
    return False


def _never_matches(
    by_month: Sequence[int], by_month_day: Sequence[int], by_day: Sequence[ByDay]
) -> RecurrenceError:
    """Why a day pattern matches no date, naming the parts involved."""
    named = []
    if by_month:
        named.append("BYMONTH=" + ",".join(map(str, by_month)))
    if by_month_day:
        named.append("BYMONTHDAY=" + ",".join(map(str, by_month_day)))
    if by_day:
        named.append("BYDAY=" + ",".join(map(str, by_day)))
    if len(named) == 3:
        return RecurrenceError(
            "%(first)s, %(second)s and %(third)s never match the same date, so the rule has no "
            "occurrences",
            first=named[0],
            second=named[1],
            third=named[2],
        )
    if len(named) == 2:
        return RecurrenceError(
            "%(first)s and %(second)s never match the same date, so the rule has no occurrences",
            first=named[0],
            second=named[1],
        )
    return RecurrenceError(
        "%(parts)s never match the same date, so the rule has no occurrences", parts="".join(named)
    )


def _occurs_at_all(rule: RecurrenceRule, start: datetime) -> bool:
    """Whether the rule, started at ``start``, can ever produce an occurrence.

    Applies dateutil's defaults (a rule without day parts repeats the start's day) and
    leaves out the months (MONTHLY) or weekdays (DAILY) an INTERVAL never reaches from the
    start; larger gaps of that kind cost dateutil little, as it then skips ahead in big steps.
    """
    months: set[int] | None = set(rule.by_month) or None
    by_month_day = rule.by_month_day
    weekdays: frozenset[int] | None = None
    if not rule.by_day and not rule.by_month_day:
        if rule.freq is Frequency.YEARLY:
            months = months or {start.month}
            by_month_day = (start.day,)
        elif rule.freq is Frequency.MONTHLY:
            by_month_day = (start.day,)
    if rule.freq is Frequency.MONTHLY:
        step = gcd(rule.interval, 12)
        reachable = {m for m in range(1, 13) if (m - start.month) % step == 0}
        months = reachable & months if months is not None else reachable
    if rule.freq is Frequency.DAILY and rule.interval % 7 == 0:
        weekdays = frozenset({start.weekday()})
    return _pattern_possible(
        None if months is None else sorted(months),
        by_month_day,
        rule.by_day,
        numbered_in_year=rule.freq is Frequency.YEARLY and not rule.by_month,
        weekdays=weekdays,
    )


# --------------------------------------------------------------------------- expansion


def expand(
    rule: RecurrenceRule,
    first_start_local: datetime,
    timezone: str,
    *,
    after: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_OCCURRENCES,
) -> list[datetime]:
    """Aware UTC start instants of the occurrences, keeping wall-clock time in ``timezone``.

    ``first_start_local`` is the series' first start: naive wall-clock time in ``timezone``,
    or aware (converted to that zone); fractions of a second are dropped. It is an
    occurrence only if it matches the rule (as in dateutil), so store a synchronised start.
    ``after`` keeps only instants strictly later (a rolling horizon); ``until`` is the
    inclusive horizon and may be left out only for a bounded rule. More than ``limit``
    occurrences in the window raises ``TooManyOccurrences``; a rule that can never occur
    from this start raises ``RecurrenceError``.
    """
    for name, value in (("after", after), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
    if until is None and not rule.is_bounded:
        raise ValueError("an unbounded rule needs an until horizon (e.g. now + HORIZON_DAYS)")
    horizon = until.astimezone(UTC) if until is not None else None
    floor = after.astimezone(UTC) if after is not None else None
    found: list[datetime] = []
    for _, instant in _occurrences(rule, first_start_local, zone(timezone)):
        if horizon is not None and instant > horizon:
            break
        if floor is not None and instant <= floor:
            continue
        if len(found) == limit:
            raise TooManyOccurrences(
                "the rule has more than %(limit)s occurrences in the requested period; "
                "use a smaller COUNT, an earlier UNTIL or a larger INTERVAL",
                limit=limit,
            )
        found.append(instant)
    return found


def split_rule(
    rule: RecurrenceRule,
    first_start_local: datetime,
    timezone: str,
    split_at_utc: datetime,
) -> RuleSplit:
    """Cut a series in two at one of its occurrences ("this and following").

    The original keeps every occurrence before ``split_at_utc``: its UNTIL becomes the last of
    them (in UTC), in place of any COUNT. The new rule, started at
    ``RuleSplit.after_first_start_local``, yields the split occurrence and the rest: the
    remaining COUNT, or the original UNTIL. Together they yield the same instants as before.
    ``before`` is None when the split is at the first occurrence. Raises ``RecurrenceError``
    if ``split_at_utc`` is not an occurrence.
    """
    if split_at_utc.tzinfo is None:
        raise ValueError("split_at_utc must be timezone-aware")
    target = split_at_utc.astimezone(UTC)
    tz = zone(timezone)
    previous: datetime | None = None
    seen = 0
    for local, instant in _occurrences(rule, first_start_local, tz):
        if instant > target:
            break
        if instant == target:
            # the original always ends with UNTIL: the same end in every reader's eyes,
            # whatever they make of COUNT with a changed first occurrence
            after = replace(rule, count=rule.count - seen) if rule.count is not None else rule
            before = replace(rule, count=None, until=previous) if previous is not None else None
            return RuleSplit(before, after, local)
        previous, seen = instant, seen + 1
    raise RecurrenceError(
        "%(start)s is not an occurrence of this series", start=_format_utc(target), field=None
    )


def _occurrences(
    rule: RecurrenceRule, first_start_local: datetime, tz: tzinfo
) -> Iterator[tuple[datetime, datetime]]:
    """(naive local, aware UTC) per occurrence, in order, honouring COUNT and UNTIL.

    Occurrences end at date_bounds.LATEST: an unbounded rule simply stops there, a bounded one
    that would go on past it raises ``RecurrenceError`` (its COUNT or UNTIL cannot be kept).
    """
    start = _wall_clock(first_start_local, tz)
    if not _occurs_at_all(rule, start):
        raise RecurrenceError(
            "the rule never occurs when the series starts on %(day)s (%(weekday)s); change the "
            "start or the rule",
            day=f"{start:%Y-%m-%d}",
            weekday=Term(_WEEKDAY_NAMES[start.weekday()]),
        )
    recurrence = du.rrule(
        _DU_FREQ[rule.freq],
        dtstart=start,
        interval=rule.interval,
        wkst=rule.wkst or 0,  # dateutil's own default follows calendar.firstweekday()
        count=rule.count,
        bymonth=rule.by_month or None,
        bymonthday=rule.by_month_day or None,
        byweekday=[du.weekday(d.weekday, d.ordinal) for d in rule.by_day] or None,
    )
    until_date = rule.until if not isinstance(rule.until, datetime) else None
    last: datetime | None = None
    for local in recurrence:
        if until_date is not None and local.date() > until_date:
            return
        try:
            instant = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
        except OverflowError:  # the year 9999 pushed past the calendar: far beyond LATEST
            instant = datetime.max.replace(tzinfo=UTC)
        if isinstance(rule.until, datetime) and instant > rule.until:
            return
        if instant > LATEST:
            if rule.is_bounded:
                raise RecurrenceError(
                    "the rule has occurrences after %(day)s, the last date Kindred "
                    "keeps; use a smaller COUNT or an earlier UNTIL",
                    day=f"{LATEST:%Y-%m-%d}",
                )
            return
        if last is not None and instant <= last:
            continue
        last = instant
        yield local, instant


def _wall_clock(value: datetime, tz: tzinfo) -> datetime:
    """Naive local wall-clock time in ``tz`` for a naive (already local) or aware datetime."""
    if value.tzinfo is not None:
        value = value.astimezone(tz).replace(tzinfo=None)
    return value.replace(microsecond=0, fold=0)


# --------------------------------------------------------------------------- describing


def describe(
    rule: RecurrenceRule, locale: str = DEFAULT_LOCALE, timezone: str | None = None
) -> str:
    """The rule in words in ``locale``: "every 2 weeks on Monday and Wednesday, 8 times",
    "alle 2 Wochen am Montag und Mittwoch, 8-mal". With ``timezone`` (the series' zone) an
    UNTIL instant is its date there ("until 31 December 2027"), with the time only when it
    is not the end of that day; without, it is written in UTC.

    One template per branch (with the interval as its plural count), so each language orders
    its words; weekday and month names and lists come from CLDR.
    """
    locale = normalise_locale(locale)
    interval = rule.interval
    months = _join([_month_name(m, locale) for m in rule.by_month], locale)
    plain = [_weekday_name(d.weekday, locale) for d in rule.by_day if d.ordinal is None]
    numbered = [d for d in rule.by_day if d.ordinal is not None]
    month_day_words = [_month_day_words(d, locale) for d in rule.by_month_day]
    month_days = _join(month_day_words, locale)
    # A yearly rule names its months inline ("of March every year"); others add them at the end.
    inline_months = rule.freq is Frequency.YEARLY and bool(rule.by_month)

    if numbered:
        days = _join([_ordinal_words(d, locale) for d in numbered], locale)
        if inline_months:
            text = translate_plural(
                locale,
                "on %(days)s of %(months)s every year",
                "on %(days)s of %(months)s every %(num)s years",
                interval,
                days=days,
                months=months,
            )
        elif rule.freq is Frequency.YEARLY:
            text = translate_plural(
                locale,
                "on %(days)s of every year",
                "on %(days)s of every %(num)s years",
                interval,
                days=days,
            )
        else:
            text = translate_plural(
                locale,
                "on %(days)s of every month",
                "on %(days)s of every %(num)s months",
                interval,
                days=days,
            )
        if month_days:
            text = translate(
                locale,
                "%(rule)s, when that is the %(days)s",
                rule=text,
                days=_join(month_day_words, locale, "or"),
            )
    elif month_days:
        if inline_months:
            text = translate_plural(
                locale,
                "on the %(days)s of %(months)s every year",
                "on the %(days)s of %(months)s every %(num)s years",
                interval,
                days=month_days,
                months=months,
            )
        elif rule.freq is Frequency.MONTHLY:
            text = translate_plural(
                locale,
                "on the %(days)s of every month",
                "on the %(days)s of every %(num)s months",
                interval,
                days=month_days,
            )
        elif rule.freq is Frequency.YEARLY:
            text = translate(
                locale,
                "on the %(days)s of every month, %(every)s",
                days=month_days,
                every=_every(rule, locale),
            )
        else:
            text = translate(
                locale,
                "%(every)s, only on the %(days)s of the month",
                every=_every(rule, locale),
                days=month_days,
            )
        if plain:
            text = translate(
                locale,
                "%(rule)s, when it is a %(weekdays)s",
                rule=text,
                weekdays=_join(plain, locale, "or"),
            )
    elif plain:
        every, weekdays = _every(rule, locale), _join(plain, locale)
        if rule.freq is Frequency.WEEKLY:
            text = translate(locale, "%(every)s on %(weekdays)s", every=every, weekdays=weekdays)
        elif rule.freq is Frequency.DAILY:
            text = translate(
                locale, "%(every)s, only on %(weekdays)s", every=every, weekdays=weekdays
            )
        else:
            text = translate(
                locale, "%(every)s, on every %(weekdays)s", every=every, weekdays=weekdays
            )
        if inline_months:
            text = translate(locale, "%(rule)s, in %(months)s", rule=text, months=months)
    elif inline_months:
        text = translate(
            locale, "%(every)s in %(months)s", every=_every(rule, locale), months=months
        )
    else:
        text = _every(rule, locale)
    if rule.by_month and not inline_months:
        text = translate(locale, "%(rule)s, in %(months)s", rule=text, months=months)

    if rule.count is not None:
        text = translate_plural(
            locale, "%(rule)s, once", "%(rule)s, %(num)s times", rule.count, rule=text
        )
    elif rule.until is not None:
        text = _with_until(text, rule.until, locale, timezone)
    return text


def _with_until(text: str, until: datetime | date, locale: str, timezone: str | None) -> str:
    """The rule's words and when it ends: a date; an instant as its date in ``timezone`` (with
    the time unless it ends that day), or in UTC when the zone is not known."""
    if not isinstance(until, datetime):
        return translate(
            locale, "%(rule)s, until %(date)s", rule=text, date=_date_words(until, locale)
        )
    if timezone is None:
        moment, words = until.astimezone(UTC), N_("%(rule)s, until %(date)s %(time)s UTC")
    else:
        moment = until.astimezone(zone(timezone))
        if _end_of_local_day(moment.date(), zone(timezone)) == until:
            return _with_until(text, moment.date(), locale, None)
        words = N_("%(rule)s, until %(date)s at %(time)s")
    return translate(
        locale, words, rule=text, date=_date_words(moment.date(), locale), time=f"{moment:%H:%M}"
    )


# "the first Monday" and so on: whole phrases, as the article and the ordinal's ending agree
# with the weekday (German "am ersten Montag", French "le premier lundi", Spanish "el primer
# lunes"); a language puts in them what its templates above leave out.
_NUMBERED_WEEKDAY = {
    1: N_("the first %(weekday)s"),
    2: N_("the second %(weekday)s"),
    3: N_("the third %(weekday)s"),
    4: N_("the fourth %(weekday)s"),
    5: N_("the fifth %(weekday)s"),
    -1: N_("the last %(weekday)s"),
    -2: N_("the second to last %(weekday)s"),
    -3: N_("the third to last %(weekday)s"),
    -4: N_("the fourth to last %(weekday)s"),
    -5: N_("the fifth to last %(weekday)s"),
}
_LAST_MONTH_DAY = {
    -1: N_("last day"),
    -2: N_("second to last day"),
    -3: N_("third to last day"),
    -4: N_("fourth to last day"),
    -5: N_("fifth to last day"),
}
# How each language writes a number as an ordinal ("20th", "20.", "20e", "20.º") and a day of
# the month as an item of a list of days ("15th", "15.", "le 15", "el día 15"); CLDR has
# neither.
_ORDINAL_NUMBER = {
    "de": lambda n: f"{n}.",
    "fr": lambda n: "1er" if n == 1 else f"{n}e",
    "es": lambda n: f"{n}.º",
}
_DAY_OF_MONTH = {
    "de": lambda n: f"{n}.",
    "fr": lambda n: "le 1er" if n == 1 else f"le {n}",
    "es": lambda n: f"el día {n}",
}
# Kindred's English writes dates and lists the British way ("31 December 2027", "a, b and c").
_CLDR_LOCALE = {"en": "en_GB"}


def _every(rule: RecurrenceRule, locale: str) -> str:
    """ "every week", "every 2 weeks", "alle 2 Wochen"."""
    n = rule.interval
    if rule.freq is Frequency.DAILY:
        return translate_plural(locale, "every day", "every %(num)s days", n)
    if rule.freq is Frequency.WEEKLY:
        return translate_plural(locale, "every week", "every %(num)s weeks", n)
    if rule.freq is Frequency.MONTHLY:
        return translate_plural(locale, "every month", "every %(num)s months", n)
    return translate_plural(locale, "every year", "every %(num)s years", n)


def _join(words: Sequence[str], locale: str, style: str = "standard") -> str:
    """ "a", "a and b", "a, b and c" as the language writes them ("or" with style="or")."""
    if not words:
        return ""
    return format_list(list(words), style=style, locale=_cldr(locale))


def _cldr(locale: str) -> str:
    return _CLDR_LOCALE.get(locale, locale)


def _weekday_name(weekday: int, locale: str) -> str:
    """Monday, Montag, lundi, lunes (0 = Monday), as written inside a sentence."""
    return get_day_names("wide", "format", _cldr(locale))[weekday]


def _month_name(month: int, locale: str) -> str:
    """March, März, mars, marzo (1 = January), as written inside a sentence."""
    return get_month_names("wide", "format", _cldr(locale))[month]


def _ordinal_words(day: ByDay, locale: str) -> str:
    """the first Monday, the last Friday, the second to last Monday, the 20th Monday."""
    number = day.ordinal or 1
    weekday = _weekday_name(day.weekday, locale)
    if number in _NUMBERED_WEEKDAY:
        return translate(locale, _NUMBERED_WEEKDAY[number], weekday=weekday)
    ordinal = _ordinal_number(abs(number), locale)
    if number > 0:
        return translate(locale, "the %(ordinal)s %(weekday)s", ordinal=ordinal, weekday=weekday)
    return translate(
        locale, "the %(ordinal)s to last %(weekday)s", ordinal=ordinal, weekday=weekday
    )


def _ordinal_number(number: int, locale: str) -> str:
    """20th, 20., 20e, 20.º."""
    written = _ORDINAL_NUMBER.get(locale)
    return written(number) if written else _suffixed(number)


def _suffixed(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st."""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _month_day_words(day: int, locale: str) -> str:
    """15 -> "15th" / "15." / "le 15" / "el día 15", -1 -> "last day", -2 -> "second to last
    day"."""
    if day > 0:
        written = _DAY_OF_MONTH.get(locale)
        return written(day) if written else _suffixed(day)
    if day in _LAST_MONTH_DAY:
        return translate(locale, _LAST_MONTH_DAY[day])
    return translate(locale, "%(ordinal)s to last day", ordinal=_ordinal_number(-day, locale))


def _date_words(value: date, locale: str) -> str:
    """31 December 2027, 31. Dezember 2027, 1er janvier 2028, 31 de diciembre de 2027."""
    if locale == "fr" and value.day == 1:
        return format_date(value, "d'er' MMMM y", locale="fr")
    return format_date(value, "long", locale=_cldr(locale))
