"""Gatherings as iCalendar events: the one mapping from rows to `EventSpec`.

Privacy: the ORGANIZER address is Kindred's sender address (with the organizer's name), so
invites and public feeds never reveal anyone's email; an invite lists only its recipient as
ATTENDEE, and feeds list no attendees at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

from scheduler.config import Config
from scheduler.domain.ical import AttendeeSpec, EventSpec, OrganizerSpec, irregular_start
from scheduler.domain.timezones import is_host_zone_name
from scheduler.models import Gathering, GatheringStatus, Rsvp, Series, User
from scheduler.services.gatherings.attendance import CALENDAR_STATES
from scheduler.services.groups.access import public_name

log = logging.getLogger(__name__)

# What an RSVP state means for the attendee's calendar entry.
PARTSTAT_BY_STATE = {
    "going": "ACCEPTED",
    "maybe": "TENTATIVE",
    "waitlisted": "TENTATIVE",
    "not_going": "DECLINED",
}
_NO_LINKS: Mapping[int, str] = MappingProxyType({})
EVENT_STATUS = {
    GatheringStatus.SCHEDULED: "CONFIRMED",
    GatheringStatus.COMPLETED: "CONFIRMED",
    GatheringStatus.CANCELLED: "CANCELLED",
    GatheringStatus.POLLING: "TENTATIVE",
}


def sender_address(config: Config) -> tuple[str, str]:
    """(display name, email) of MAIL_FROM."""
    return _parsed_mail_from(config.mail_from)


@lru_cache(maxsize=8)
def _parsed_mail_from(mail_from: str) -> tuple[str, str]:
    # every mail of a fan-out asks: parse each MAIL_FROM once
    name, email = parseaddr(mail_from)
    return name or "Kindred", email or "kindred@localhost"


def gathering_url(config: Config, gathering_id: int) -> str:
    """The gathering's page."""
    return f"{config.base_url}/g/{gathering_id}"


def partstat(rsvp: Rsvp | None) -> str:
    """PARTSTAT for an RSVP (no answer yet: NEEDS-ACTION)."""
    if rsvp is None:
        return "NEEDS-ACTION"
    return PARTSTAT_BY_STATE.get(rsvp.state, "NEEDS-ACTION")


def is_calendar_event(gathering: Gathering) -> bool:
    """True when the gathering has a time, so it can be a VEVENT."""
    return gathering.starts_at is not None and gathering.ends_at is not None


def calendar_zone(gathering: Gathering) -> str:
    """The zone a gathering's times are written in: its own, or UTC for a name from before
    zones were checked against tzdata (`localtime`), whose instants are exact but whose wall
    clock is unknown; such a row is shown at the right time instead of left out."""
    if is_host_zone_name(gathering.timezone):
        log.warning("gathering %s has the zone %r; shown in UTC", gathering.id, gathering.timezone)
        return "UTC"
    return gathering.timezone


def event_spec(
    gathering: Gathering,
    config: Config,
    *,
    attendees: Sequence[tuple[User, Rsvp | None]] = (),
    status: str | None = None,
    online_url: str = "",
    locale: str = "en",
) -> EventSpec:
    """The VEVENT of a scheduled (or cancelled, or completed) gathering. `online_url`: its
    link, given only for readers who may use it (services/gatherings/access.online_url_for);
    `locale`: the language of the text Kindred adds around it (the reader's)."""
    if gathering.starts_at is None or gathering.ends_at is None:
        raise ValueError(f"gathering {gathering.id} has no time yet")
    _, sender_email = sender_address(config)
    # An occurrence on its own is a plain event with a UID of its own: a lone RECURRENCE-ID
    # VEVENT, without its master, is dropped by some readers (sabre) and, sent as an update,
    # replaces a whole series on CalDAV servers. series_event_specs puts occurrences back
    # into their series.
    return EventSpec(
        uid=lone_occurrence_uid(gathering, config) if is_occurrence(gathering) else gathering.uid,
        sequence=gathering.sequence,
        summary=gathering.title,
        starts_at=gathering.starts_at,
        ends_at=gathering.ends_at,
        timezone=calendar_zone(gathering),
        description=gathering.description or "",
        location=gathering.location or "",
        url=gathering_url(config, gathering.id),
        conference_url=online_url,
        status=status or EVENT_STATUS.get(gathering.status, "CONFIRMED"),
        organizer=OrganizerSpec(name=public_name(gathering.organizer, locale), email=sender_email),
        attendees=[
            AttendeeSpec(name=user.name, email=user.email, partstat=partstat(rsvp))
            for user, rsvp in attendees
        ],
        categories=[interest.name for interest in gathering.interests],
        last_modified=gathering.updated_at,
        locale=locale,
    )


def is_occurrence(gathering: Gathering) -> bool:
    """True for an occurrence of a series."""
    return gathering.series_id is not None and gathering.recurrence_id is not None


def lone_occurrence_uid(occurrence: Gathering, config: Config) -> str:
    """The UID of an occurrence shown on its own (in a feed of single events, its `.ics`, a
    per-occurrence invite): from its id, so it stays the same when a "this and following"
    edit moves the occurrence into a new series."""
    return f"occurrence-{occurrence.id}@{config.mail_domain}"


def series_sequence(series: Series, occurrences: Sequence[Gathering]) -> int:
    """The SEQUENCE of a series' whole text (master and overrides): it rises with every
    change to the series or to any of its occurrences (moved, edited, cancelled)."""
    return max([series.sequence, *(g.sequence for g in occurrences)])


def series_first_start(series: Series) -> datetime:
    """The UTC instant of the series' first occurrence (its DTSTART)."""
    local = datetime.fromisoformat(series.first_start_local)
    return local.replace(tzinfo=ZoneInfo(series.timezone)).astimezone(UTC)


def is_override(occurrence: Gathering, series: Series) -> bool:
    """True when an occurrence differs from what the series' rule and template say."""
    template = series.template
    return (
        occurrence.starts_at != occurrence.recurrence_id
        or occurrence.duration_minutes != template.get("duration_minutes")
        or occurrence.title != series.title
        or (occurrence.location or "") != (series.location or "")
        or (occurrence.description or "") != (series.description or "")
    )


def series_event_specs(
    series: Series,
    occurrences: Sequence[Gathering],
    config: Config,
    *,
    excluded: set[int] = frozenset(),  # type: ignore[assignment]
    links: Mapping[int, str] = _NO_LINKS,
    locale: str = "en",
) -> list[EventSpec]:
    """A series as iCalendar wants it: one master VEVENT with RRULE and EXDATE (cancelled
    occurrences, and `excluded` ones such as those the feed's owner declined), plus a
    RECURRENCE-ID override for each occurrence that was moved or edited. All share the
    series' UID.

    `links`: the online link per occurrence id that the reader may use
    (access.online_urls_for_many). The master carries a link only when every occurrence it
    stands for has that same one; an occurrence whose link differs from the master's
    (none, say, where the reader is only waitlisted) becomes an override of its own."""
    _, sender_email = sender_address(config)
    first = series_first_start(series)
    duration = timedelta(minutes=series.template.get("duration_minutes", 60))
    organizer_name = public_name(occurrences[0].organizer, locale) if occurrences else "Kindred"
    cancelled = [
        g.recurrence_id
        for g in occurrences
        if g.recurrence_id is not None
        and (g.status == GatheringStatus.CANCELLED or g.id in excluded)
    ]
    categories = list(series.template.get("interests", []))
    sequence = series_sequence(series, occurrences)
    shown = [
        g for g in occurrences if g.status != GatheringStatus.CANCELLED and g.id not in excluded
    ]
    shared_links = {links.get(g.id, "") for g in shown}
    master_link = shared_links.pop() if len(shared_links) == 1 else ""
    master = EventSpec(
        uid=series.uid,
        sequence=sequence,
        summary=series.title,
        starts_at=first,
        ends_at=first + duration,
        timezone=series.timezone,
        description=series.description or "",
        location=series.location or "",
        url=f"{config.base_url}/g/{occurrences[0].id}" if occurrences else None,
        organizer=OrganizerSpec(name=organizer_name, email=sender_email),
        conference_url=master_link,
        locale=locale,
        categories=categories,
        rrule=series.rule,
        exdates=cancelled,
    )
    specs = [master]
    for occurrence in occurrences:
        if occurrence.status == GatheringStatus.CANCELLED or occurrence.recurrence_id is None:
            continue
        if occurrence.id in excluded:
            continue
        nominal = irregular_start(
            occurrence.recurrence_id, first, first + duration, series.timezone
        )
        link = links.get(occurrence.id, "")
        if nominal is None and not is_override(occurrence, series) and link == master_link:
            continue
        base = event_spec(occurrence, config, online_url=link, locale=locale)
        specs.append(
            replace(
                base,
                uid=series.uid,
                sequence=sequence,
                recurrence_id=occurrence.recurrence_id,
                recurrence_id_wall=nominal,
            )
        )
    return specs


def personal_series_specs(
    series: Series,
    occurrences: Sequence[Gathering],
    states: dict[int, str],
    attendee: User,
    config: Config,
    *,
    links: Mapping[int, str] = _NO_LINKS,
    locale: str = "en",
) -> list[EventSpec]:
    """The whole series as one person's calendar should hold it: the master, every current
    override, and an EXDATE for each occurrence cancelled or not attended by them (`states`:
    their RSVP state per occurrence id). Empty when they attend none that is still on: the
    series then leaves their calendar. `links`: as for series_event_specs."""
    attending = {gid for gid, state in states.items() if state in CALENDAR_STATES}
    if not any(g.id in attending and g.status != GatheringStatus.CANCELLED for g in occurrences):
        return []
    excluded = {g.id for g in occurrences if g.id not in attending}
    specs = series_event_specs(
        series, occurrences, config, excluded=excluded, links=links, locale=locale
    )
    state_at = {g.recurrence_id: states.get(g.id) for g in occurrences}

    def answered(spec: EventSpec) -> list[AttendeeSpec]:
        state = state_at.get(spec.recurrence_id) if spec.recurrence_id else "going"
        partstat = PARTSTAT_BY_STATE.get(state or "going", "ACCEPTED")
        return [AttendeeSpec(name=attendee.name, email=attendee.email, partstat=partstat)]

    return [replace(spec, attendees=answered(spec)) for spec in specs]
