"""What calendar mail says (invite, update, promoted, cancel, poll_failed), and the helpers
every mail's renderer builds on (`compose`, `compose_shared`, times in people's zones).

Mail is rendered at send time (renderers.py picks the renderer of a row's kind), so it
always shows the gathering as it is now; a renderer returns None when the mail is no longer
owed (a newer update supersedes it, the person changed their answer back).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain import language
from scheduler.domain.ical import AttendeeSpec, EventSpec, build_invite
from scheduler.domain.language import N_
from scheduler.domain.messages import OutgoingMail, stable_message_id
from scheduler.domain.timezones import zone
from scheduler.models import (
    Gathering,
    GatheringStatus,
    Invitation,
    OutboxMessage,
    Rsvp,
    Series,
    User,
)
from scheduler.services.calendars import ical_events, reply_address
from scheduler.services.gatherings import access
from scheduler.services.gatherings.series import occurrences_of
from scheduler.services.groups.access import public_name

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates" / "mail"
# States whose holder keeps the gathering in their calendar.
ATTENDING_STATES = frozenset({"going", "waitlisted", "maybe"})


@lru_cache(maxsize=len(language.SUPPORTED_LOCALES))
def _environment(locale: str) -> Environment:
    """Jinja for mail in one language: HTML templates autoescaped, text templates verbatim;
    `_()` and `ngettext()` (newstyle: `_("Hello %(name)s", name=x)`) from its catalogue."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    catalogue = language.translations(locale)
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=catalogue.gettext,
        ngettext=lambda singular, plural, n: language.counted(
            catalogue, locale, singular, plural, n
        ),
        newstyle=True,
    )
    return environment


def render_template(name: str, *, locale: str = language.DEFAULT_LOCALE, **context: Any) -> str:
    """A mail template (mail/<name>) rendered with `context`, in `locale` (the recipient's
    language; the template sees it as `locale`, for `<html lang>`)."""
    locale = language.normalise_locale(locale)
    return _environment(locale).get_template(name).render(locale=locale, **context)


def locale_of(user: User | None) -> str:
    """The language a person reads their mail in (their account's; English without one)."""
    return language.normalise_locale(getattr(user, "locale", None))


def local_time(value: datetime, timezone: str, locale: str = language.DEFAULT_LOCALE) -> str:
    """A time as people read it in their zone: 'Tuesday, 1 December 2026, 18:00' /
    'Dienstag, 1. Dezember 2026, 18:00'."""
    return language.format_long_when(value, locale, zone(timezone))


def when_text(gathering: Gathering, timezone: str, locale: str = language.DEFAULT_LOCALE) -> str:
    """Start and end of the gathering in `timezone`, with the zone named."""
    assert gathering.starts_at is not None and gathering.ends_at is not None
    tz = zone(timezone)
    start = gathering.starts_at.astimezone(tz)
    end = gathering.ends_at.astimezone(tz)
    until = (
        language.format_clock(end, locale, tz)
        if end.date() == start.date()
        else local_time(end, timezone, locale)
    )
    return language.translate(
        locale,
        "%(start)s to %(end)s (%(zone)s)",
        start=local_time(start, timezone, locale),
        end=until,
        zone=timezone,
    )


def short_when(gathering: Gathering, timezone: str, locale: str = language.DEFAULT_LOCALE) -> str:
    """The start for a subject line: 'Sat, 5 Dec 2026, 17:00 CET'."""
    assert gathering.starts_at is not None
    return language.format_when(gathering.starts_at, locale, zone(timezone))


def compose(
    row: OutboxMessage,
    config: Config,
    now: datetime,
    *,
    recipient: User,
    subject: str,
    template: str,
    context: dict[str, Any],
    ics: bytes | None = None,
    ics_method: str | None = None,
    list_unsubscribe_url: str | None = None,
) -> OutgoingMail:
    """An OutgoingMail from mail/<template>.txt and .html, with the row's stable Message-ID."""
    values = {"recipient": recipient, "base_url": config.base_url, **context}
    return outgoing_mail(
        row,
        config,
        now,
        recipient=recipient,
        subject=subject,
        text=render_template(f"{template}.txt", locale=locale_of(recipient), **values),
        html=render_template(f"{template}.html", locale=locale_of(recipient), **values),
        ics=ics,
        ics_method=ics_method,
        list_unsubscribe_url=list_unsubscribe_url,
    )


def outgoing_mail(
    row: OutboxMessage,
    config: Config,
    now: datetime,
    *,
    recipient: User,
    subject: str,
    text: str,
    html: str,
    ics: bytes | None = None,
    ics_method: str | None = None,
    list_unsubscribe_url: str | None = None,
) -> OutgoingMail:
    """The mail for an outbox row: from MAIL_FROM, to its recipient, the row's Message-ID."""
    from_name, from_email = ical_events.sender_address(config)
    return OutgoingMail(
        kind=row.kind,
        to_email=row.recipient_email,
        to_name=recipient.name,
        from_email=from_email,
        from_name=from_name,
        subject=subject,
        text=text,
        html=html,
        message_id=stable_message_id(row.key, config.mail_domain),
        sent_at=now,
        ics=ics,
        ics_method=ics_method,
        list_unsubscribe_url=list_unsubscribe_url,
    )


# Stand-ins for per-recipient values while a body is rendered once for many recipients: ASCII
# controls that no template text, autoescaping or value of ours produces.
_SLOT = "\x1e{}\x1f"
_BODY_CACHE = "mail_body_cache"


def _slotted(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """`values` with every str (or str in a dict) swapped for a marker; and the markers."""
    slotted: dict[str, Any] = {}
    markers: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            slotted[name] = {}
            for key in value:
                markers[f"{name}.{key}"] = slotted[name][key] = _SLOT.format(len(markers))
        else:
            markers[name] = slotted[name] = _SLOT.format(len(markers))
    return slotted, markers


def _fill(body: str, markers: dict[str, str], values: dict[str, str], html: bool) -> str:
    for path, marker in markers.items():
        value = values[path]
        body = body.replace(marker, str(escape(value)) if html else value)
    return body


def _flat(values: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            for key, leaf in value.items():
                flat[f"{name}.{key}"] = leaf
        else:
            flat[name] = value
    return flat


def compose_shared(
    session: Session,
    row: OutboxMessage,
    config: Config,
    now: datetime,
    *,
    shared_key: tuple[Any, ...],
    recipient: User,
    subject: str,
    template: str,
    context: dict[str, Any],
    personal: dict[str, Any],
    ics: bytes | None = None,
    ics_method: str | None = None,
    list_unsubscribe_url: str | None = None,
) -> OutgoingMail:
    """`compose`, with the bodies rendered once per `shared_key` for a whole delivery batch.

    A fan-out sends the same text to many people; only their name and `personal` values (str,
    or a dict of str: signed links and the like) differ. `shared_key` must name everything
    else the templates read from `context` (the gathering, the recipient's zone, their
    answer...). The bodies are rendered with markers in those places and filled per person
    (HTML-escaped in the HTML part). The first person of each key is also composed the plain
    way and compared: a template that does more with a personal value than print it makes
    the key fall back to plain `compose` for everyone. Cached in the session: one batch.
    """
    cache: dict[tuple[Any, ...], tuple[str, str, dict[str, str]] | None] = session.info.setdefault(
        _BODY_CACHE, {}
    )
    locale = locale_of(recipient)
    key = (template, locale, *shared_key)
    values = {"recipient_name": recipient.name, **personal}

    def plain() -> OutgoingMail:
        return compose(
            row,
            config,
            now,
            recipient=recipient,
            subject=subject,
            template=template,
            context={**context, **personal},
            ics=ics,
            ics_method=ics_method,
            list_unsubscribe_url=list_unsubscribe_url,
        )

    flat = _flat(values)
    if (key in cache and cache[key] is None) or any("\x1e" in value for value in flat.values()):
        return plain()
    entry = cache.get(key)
    if entry is None:
        slotted, markers = _slotted(values)
        stand_in = SimpleNamespace(name=slotted["recipient_name"])
        shared = {"recipient": stand_in, "base_url": config.base_url, **context, **slotted}
        del shared["recipient_name"]
        try:
            text = render_template(f"{template}.txt", locale=locale, **shared)
            html = render_template(f"{template}.html", locale=locale, **shared)
        except Exception:  # the template wanted more of the recipient than their name
            cache[key] = None
            return plain()
        entry = (text, html, markers)
    text, html, markers = entry
    mail = outgoing_mail(
        row,
        config,
        now,
        recipient=recipient,
        subject=subject,
        text=_fill(text, markers, flat, html=False),
        html=_fill(html, markers, flat, html=True),
        ics=ics,
        ics_method=ics_method,
        list_unsubscribe_url=list_unsubscribe_url,
    )
    if key not in cache:
        expected = plain()
        cache[key] = entry if expected == mail else None
        return expected
    return mail


def _load(session: Session, row: OutboxMessage) -> tuple[Gathering, User] | None:
    """The row's gathering and recipient, or None if either is gone."""
    if row.gathering_id is None or row.recipient_id is None:
        return None
    gathering = session.get(Gathering, row.gathering_id)
    user = session.get(User, row.recipient_id)
    if gathering is None or user is None:
        return None
    return gathering, user


def rsvp_of(session: Session, gathering_id: int, user_id: int) -> Rsvp | None:
    """The user's answer for the gathering, if any."""
    return session.scalars(
        select(Rsvp).where(Rsvp.gathering_id == gathering_id, Rsvp.user_id == user_id)
    ).first()


def is_invited(session: Session, gathering_id: int, user_id: int) -> bool:
    """True when the user is an invitee (a poll participant) of the gathering."""
    found = session.scalars(
        select(Invitation.id).where(
            Invitation.gathering_id == gathering_id, Invitation.user_id == user_id
        )
    ).first()
    return found is not None


def _wants_calendar_entry(session: Session, gathering: Gathering, user: User) -> bool:
    """True when the user should have this gathering in their calendar."""
    rsvp = rsvp_of(session, gathering.id, user.id)
    if rsvp is not None:
        return rsvp.state in ATTENDING_STATES
    return is_invited(session, gathering.id, user.id)


def gathering_context(
    gathering: Gathering, user: User, config: Config, state: str | None, online_url: str = ""
) -> dict[str, Any]:
    """What every gathering mail template can show, in the recipient's time zone
    (`online_url`: the link, when the recipient may use it)."""
    scheduled = ical_events.is_calendar_event(gathering)
    locale = locale_of(user)
    return {
        "gathering": gathering,
        "online_url": online_url,
        "when": when_text(gathering, user.timezone, locale) if scheduled else None,
        "when_there": (
            when_text(gathering, gathering.timezone, locale)
            if scheduled and gathering.timezone != user.timezone
            else None
        ),
        "url": ical_events.gathering_url(config, gathering.id),
        "ics_url": f"{config.base_url}/gatherings/{gathering.id}.ics",
        # a hidden name stays hidden
        "organizer_name": public_name(gathering.organizer, locale),
        "state": state,
    }


def _gathering_context(
    session: Session, gathering: Gathering, user: User, config: Config
) -> dict[str, Any]:
    rsvp = rsvp_of(session, gathering.id, user.id)
    return gathering_context(
        gathering,
        user,
        config,
        rsvp.state if rsvp is not None else None,
        online_url=joinable_url(session, gathering, user),
    )


def joinable_url(session: Session, gathering: Gathering, user: User) -> str:
    """The gathering's online link if this recipient may use it (the access rule), else ""."""
    if not gathering.online_url:
        return ""
    return access.online_url_for(
        session, gathering, user, access.access_to(session, gathering, user)
    )


def _itip(
    session: Session,
    gathering: Gathering,
    user: User,
    config: Config,
    now: datetime,
    method: str,
) -> bytes:
    """The iTIP invite (REQUEST) or cancellation (CANCEL) of the gathering for one person."""
    rsvp = rsvp_of(session, gathering.id, user.id)
    personal = method == "CANCEL" and gathering.status != GatheringStatus.CANCELLED
    if personal:
        rsvp = None  # their calendar entry goes, whatever they answered
    spec = ical_events.event_spec(
        gathering,
        config,
        attendees=[(user, rsvp)],
        online_url="" if method == "CANCEL" else joinable_url(session, gathering, user),
        locale=locale_of(user),
    )
    spec = _replies_to(spec, reply_address.gathering_reply_address(config, gathering.id, user.id))
    if personal:
        # above the REQUEST that put it in their calendar, which had the gathering's SEQUENCE
        spec = replace(spec, sequence=spec.sequence + 1)
    return build_invite(method, [spec], now, removes_attendee=personal)


def _replies_to(spec: EventSpec, address: str) -> EventSpec:
    """The spec with ORGANIZER at this person's signed reply address (the organizer's name
    stays), so the Accept / Decline their calendar app sends comes back to Kindred."""
    if spec.organizer is None:
        return spec
    return replace(spec, organizer=replace(spec.organizer, email=address))


def series_itip(
    session: Session, series: Series, user: User, config: Config, now: datetime
) -> tuple[str, bytes]:
    """(METHOD, text) of what this person's calendar needs for the series: a REQUEST with
    their whole series, or, when they attend none of it, a CANCEL of the series for them
    (SEQUENCE above the last REQUEST's, no STATUS: RFC 5546 §3.2.5)."""
    occurrences = occurrences_of(session, series.id)
    states = dict(
        session.execute(
            select(Rsvp.gathering_id, Rsvp.state).where(
                Rsvp.user_id == user.id, Rsvp.gathering_id.in_([g.id for g in occurrences])
            )
        ).all()
    )
    links = access.online_urls_for_many(session, occurrences, user)
    specs = ical_events.personal_series_specs(
        series, occurrences, states, user, config, links=links, locale=locale_of(user)
    )
    address = reply_address.series_reply_address(config, series.id, user.id)
    specs = [_replies_to(spec, address) for spec in specs]
    if specs:
        return "REQUEST", build_invite("REQUEST", specs, now)
    (master,) = ical_events.series_event_specs(series, [], config)
    removed: EventSpec = replace(
        _replies_to(master, address),
        sequence=ical_events.series_sequence(series, occurrences) + 1,
        attendees=[AttendeeSpec(name=user.name, email=user.email, partstat="DECLINED")],
    )
    return "CANCEL", build_invite("CANCEL", [removed], now, removes_attendee=True)


def _invite_like(
    session: Session,
    row: OutboxMessage,
    config: Config,
    now: datetime,
    *,
    subject: str,
    template: str,
) -> OutgoingMail | None:
    """REQUEST mail (invite, update, promoted) if the recipient should still get it."""
    loaded = _load(session, row)
    if loaded is None:
        return None
    gathering, user = loaded
    if gathering.status != GatheringStatus.SCHEDULED or not ical_events.is_calendar_event(
        gathering
    ):
        return None
    owed_sequence = row.payload.get("sequence")
    if owed_sequence is not None and owed_sequence < gathering.sequence:
        return None  # a newer update (owed to the same people) supersedes this one
    if not _wants_calendar_entry(session, gathering, user):
        return None
    context = _gathering_context(session, gathering, user, config)
    series = session.get(Series, row.payload["series_id"]) if "series_id" in row.payload else None
    if series is not None:  # they hold the whole series: it comes whole
        _, ics = series_itip(session, series, user, config, now)
    else:
        ics = _itip(session, gathering, user, config, now, "REQUEST")
    return compose(
        row,
        config,
        now,
        recipient=user,
        subject=language.translate(
            locale_of(user),
            subject,
            title=gathering.title,
            when=short_when(gathering, user.timezone, locale_of(user)),
        ),
        template=template,
        context=context,
        ics=ics,
        ics_method="REQUEST",
    )


def render_invite(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """ "You're invited": METHOD:REQUEST with the current SEQUENCE."""
    return _invite_like(
        session,
        row,
        config,
        now,
        subject=N_("Invitation: %(title)s, %(when)s"),
        template="invite",
    )


def render_update(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The time or place changed: METHOD:REQUEST with the higher SEQUENCE."""
    return _invite_like(
        session, row, config, now, subject=N_("Updated: %(title)s, %(when)s"), template="update"
    )


def render_promoted(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """A seat opened: you're going (with the invite, now ACCEPTED)."""
    loaded = _load(session, row)
    if loaded is None:
        return None
    gathering, user = loaded
    rsvp = rsvp_of(session, gathering.id, user.id)
    if rsvp is None or rsvp.state != "going":
        return None
    return _invite_like(
        session,
        row,
        config,
        now,
        subject=N_("A seat opened for you: %(title)s, %(when)s"),
        template="promoted",
    )


def render_cancel(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """METHOD:CANCEL: the gathering was cancelled, or this person said no."""
    loaded = _load(session, row)
    if loaded is None:
        return None
    gathering, user = loaded
    if not ical_events.is_calendar_event(gathering):
        return None
    everyone = gathering.status == GatheringStatus.CANCELLED
    gives_way = row.payload.get("scope") == "single"  # to the whole series they now hold
    if not everyone and not gives_way and _wants_calendar_entry(session, gathering, user):
        return None  # they said yes again before this went out
    context = _gathering_context(session, gathering, user, config)
    context["everyone"] = everyone
    locale = locale_of(user)
    params = {"title": gathering.title, "when": short_when(gathering, user.timezone, locale)}
    subject = (
        language.translate(locale, "Cancelled: %(title)s, %(when)s", **params)
        if everyone
        else language.translate(locale, "Removed from your calendar: %(title)s, %(when)s", **params)
    )
    return compose(
        row,
        config,
        now,
        recipient=user,
        subject=subject,
        template="cancel",
        context=context,
        ics=_itip(session, gathering, user, config, now, "CANCEL"),
        ics_method="CANCEL",
    )


def render_poll_failed(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The poll's deadline passed and no time worked (no calendar part)."""
    loaded = _load(session, row)
    if loaded is None:
        return None
    gathering, user = loaded
    if gathering.status == GatheringStatus.SCHEDULED:
        return None  # someone picked a time after all
    context = _gathering_context(session, gathering, user, config)
    context["reason"] = str(row.payload.get("reason") or "")
    return compose(
        row,
        config,
        now,
        recipient=user,
        subject=language.translate(
            locale_of(user), "No time found: %(title)s", title=gathering.title
        ),
        template="poll_failed",
        context=context,
    )
