"""The span of time Kindred accepts: every time given to it lies within 1970-2200 (UTC).

Inside this span every time derived from an input fits everywhere with room to spare: an end
a week after the start, reminders up to 60 days before, a follow-up 30 days after, a 90-day
poll window, a series' occurrences, the years a VTIMEZONE covers. Outside it they do not: a
gathering at 9999-12-31 ends in the year 10000, which Python's datetime, psycopg and the
VTIMEZONE builder cannot represent, and every feed holding it then failed.

Pure: no Flask, SQLAlchemy or Redis.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler.domain.language import N_

__all__ = [
    "DERIVED_MARGIN",
    "EARLIEST",
    "FIRST_YEAR",
    "LAST_YEAR",
    "LATEST",
    "OUT_OF_RANGE",
    "REPRESENTABLE_EARLIEST",
    "REPRESENTABLE_LATEST",
    "is_representable",
    "is_within_bounds",
]

FIRST_YEAR = 1970
LAST_YEAR = 2200
EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
"""The earliest time accepted as input."""
LATEST = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC) - timedelta(seconds=1)
"""The latest time accepted as input (2200-12-31T23:59:59Z)."""
DERIVED_MARGIN = timedelta(days=120)
"""How far a time derived from an input may lie outside the input span: durations (7 days),
reminders (60 days before), follow-ups (30 days after the end), poll windows (90 days)."""
REPRESENTABLE_EARLIEST = EARLIEST - DERIVED_MARGIN
REPRESENTABLE_LATEST = LATEST + DERIVED_MARGIN
# the first and last day of the span, written out (tests/domain/test_date_bounds.py checks)
OUT_OF_RANGE = N_(
    "Give a time from 1970-01-01 to 2200-12-31 (UTC); Kindred keeps no dates outside these years."
)


def is_within_bounds(value: datetime) -> bool:
    """Whether an aware time may be given as input."""
    return EARLIEST <= value <= LATEST


def is_representable(value: datetime) -> bool:
    """Whether an aware time is an input or a time derived from one (an end, a reminder).

    Anything further out can only come from a row written past the input checks.
    """
    return REPRESENTABLE_EARLIEST <= value <= REPRESENTABLE_LATEST
