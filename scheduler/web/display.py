"""How pages show times, counts and links: Jinja filters and small view helpers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask

from scheduler.domain.timezones import zone


def tz_or_utc(name: str | None) -> ZoneInfo:
    """The zone of that name, or UTC for an unknown or missing one."""
    try:
        return zone(name or "UTC")
    except Exception:
        return ZoneInfo("UTC")


def when(value: datetime | None, tz_name: str | None, *, with_zone: bool = True) -> str:
    """ "Thu 4 Jun 2026, 18:00 CEST" in the given zone."""
    if value is None:
        return "not fixed yet"
    local = value.astimezone(tz_or_utc(tz_name))
    text = f"{local:%a} {local.day} {local:%b %Y, %H:%M}"
    return f"{text} {local.tzname()}" if with_zone else text


def time_range(start: datetime | None, end: datetime | None, tz_name: str | None) -> str:
    """ "Thu 4 Jun 2026, 18:00-20:00 CEST", or across days in full."""
    if start is None:
        return "not fixed yet"
    if end is None:
        return when(start, tz_name)
    tz = tz_or_utc(tz_name)
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.date() == b.date():
        return f"{when(start, tz_name, with_zone=False)}\u2013{b:%H:%M} {b.tzname()}"
    return f"{when(start, tz_name)} \u2013 {when(end, tz_name)}"


def iso_utc(value: datetime) -> str:
    """UTC ISO text with Z, for data attributes and <time datetime>."""
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 person", "3 people"."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


def register_filters(app: Flask) -> None:
    """Make the helpers available in every template."""
    app.jinja_env.filters.update(when=when, iso_utc=iso_utc, fromiso=datetime.fromisoformat)
    app.jinja_env.globals.update(time_range=time_range, plural=plural)
