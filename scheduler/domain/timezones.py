"""IANA time zone names, validated against the shipped tz database."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from scheduler.domain.errors import InvalidInput


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    """Every IANA zone name that both the tzdata package lists and this machine can load.

    available_timezones() alone also lists whatever files the host's zoneinfo folder holds,
    such as `localtime` (this machine's own zone, a different one on every host).
    """
    iana = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return (frozenset(iana) & available_timezones()) | {"UTC"}


def is_host_zone_name(name: str) -> bool:
    """True for a name an earlier check let through from the host's zoneinfo folder
    (`localtime`): rows still carrying one have exact instants, but no known wall-clock zone."""
    return name not in known_timezones() and (name == "localtime" or name in available_timezones())


def zone(name: str, *, field: str = "timezone") -> ZoneInfo:
    """The ZoneInfo for an IANA name, or InvalidInput naming the field."""
    if name not in known_timezones():
        raise InvalidInput(
            "Unknown time zone %(name)r; use an IANA name such as Europe/Berlin.",
            name=name,
            field=field,
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - listed but unloadable
        raise InvalidInput("Unknown time zone %(name)r.", name=name, field=field) from exc
