"""How pages show times, counts and links: Jinja filters and small view helpers, in the
request's language (scheduler/web/language.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import gettext

from scheduler.domain import language
from scheduler.domain.timezones import zone
from scheduler.web.language import current_locale


def tz_or_utc(name: str | None) -> ZoneInfo:
    """The zone of that name, or UTC for an unknown or missing one."""
    try:
        return zone(name or "UTC")
    except Exception:
        return ZoneInfo("UTC")


def when(value: datetime | None, tz_name: str | None, *, with_zone: bool = True) -> str:
    """'Thu, 4 Jun 2026, 18:00 CEST' in the given zone and the request's language."""
    if value is None:
        return gettext("not fixed yet")
    return language.format_when(value, current_locale(), tz_or_utc(tz_name), with_zone=with_zone)


def time_range(start: datetime | None, end: datetime | None, tz_name: str | None) -> str:
    """'Thu, 4 Jun 2026, 18:00-20:00 CEST' (an en dash), or across days in full."""
    if start is None:
        return gettext("not fixed yet")
    return language.format_time_range(start, end, current_locale(), tz_or_utc(tz_name))


def day_heading(value: datetime, tz_name: str | None) -> str:
    """'Thursday 4 June' / 'Donnerstag, 4. Juni' in the given zone."""
    return language.format_day(value, current_locale(), zone=tz_or_utc(tz_name))


def clock(value: datetime, tz_name: str | None) -> str:
    """'18:00' in the given zone."""
    return language.format_clock(value, current_locale(), tz_or_utc(tz_name))


def number(value: float) -> str:
    """A number as the request's language writes it."""
    return language.format_number(value, current_locale())


def iso_utc(value: datetime) -> str:
    """UTC ISO text with Z, for data attributes and <time datetime>."""
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def register_filters(app: Flask) -> None:
    """Make the helpers available in every template (`_`, `ngettext` come with Flask-Babel)."""
    app.jinja_env.filters.update(
        when=when, iso_utc=iso_utc, fromiso=datetime.fromisoformat, number=number
    )
    app.jinja_env.globals.update(time_range=time_range, day_heading=day_heading, clock=clock)
