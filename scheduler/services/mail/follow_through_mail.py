"""What reminders and follow-ups say.

Both are re-checked at send time (`follow_through.still_owed`): a reminder for a start that has
moved, a cancelled gathering, a changed answer or an unsubscribe renders to None and the row
is withdrawn instead of sent.
"""

from __future__ import annotations

import hmac
import json
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from itsdangerous import TimestampSigner, want_bytes
from itsdangerous.encoding import base64_encode, int_to_bytes
from itsdangerous.signer import HMACAlgorithm
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain import language
from scheduler.domain.access import Relation
from scheduler.domain.ical import build_invite
from scheduler.domain.messages import OutgoingMail
from scheduler.models import Gathering, GatheringStatus, OutboxMessage, Rsvp, User
from scheduler.services.calendars import ical_events
from scheduler.services.gatherings import access, rsvp_links
from scheduler.services.groups.access import group_relation
from scheduler.services.mail import follow_through, unsubscribe
from scheduler.services.mail.content import (
    compose,
    compose_shared,
    gathering_context,
    joinable_url,
    locale_of,
    when_text,
)
from scheduler.services.mail.follow_through import still_owed


def lead_time(minutes: int, locale: str = language.DEFAULT_LOCALE) -> str:
    """'in 1 hour', 'in 2 days', 'in 90 minutes': how far ahead a reminder is."""
    if minutes % 1440 == 0:
        days = minutes // 1440
        if days == 1:
            return language.translate(locale, "tomorrow")
        return language.translate_plural(locale, "in %(num)s day", "in %(num)s days", days)
    if minutes % 60 == 0:
        return language.translate_plural(
            locale, "in %(num)s hour", "in %(num)s hours", minutes // 60
        )
    return language.translate_plural(locale, "in %(num)s minute", "in %(num)s minutes", minutes)


_ICS_CACHE: dict[tuple[Any, ...], bytes] = {}


def gathering_ics(gathering: Gathering, config: Config, now: datetime) -> bytes:
    """The gathering as a PUBLISH calendar object, built once per (UID, SEQUENCE, status)."""
    key = (
        gathering.uid,
        gathering.sequence,
        gathering.status,
        gathering.updated_at,
        config.base_url,
    )
    ics = _ICS_CACHE.get(key)
    if ics is None:
        if len(_ICS_CACHE) > 256:
            _ICS_CACHE.clear()
        ics = build_invite("PUBLISH", [ical_events.event_spec(gathering, config)], now)
        _ICS_CACHE[key] = ics
    return ics


_SIGNERS: dict[str, tuple[Callable[[Any], str], Callable[[Any], str]]] = {}


# itsdangerous' compact JSON (json.dumps with these separators), without a new encoder per call
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


# Below this, zlib cannot shorten our payloads ([id, id, "yes"]) but costs more than the rest
# of a token (it sets up a 256 KiB state per call); `loads` reads either form.
_WORTH_COMPRESSING = 64


def _token_maker(serializer: Any) -> Callable[[Any], str]:
    """`serializer.dumps` for a URL-safe serializer, minus what it redoes for every token: a
    new JSON encoder, signer, derived key and HMAC key schedule, and a zlib attempt on a
    payload too short to gain. Same steps otherwise (compact JSON, base64, timestamp, HMAC);
    tests check the tokens equal `dumps`' and verify with `loads`.
    """
    signer = serializer.make_signer(serializer.salt)
    if not isinstance(signer.algorithm, HMACAlgorithm) or serializer.serializer_kwargs:
        return lambda value: str(serializer.dumps(value))
    keyed = hmac.new(signer.derive_key(), digestmod=signer.algorithm.digest_method)
    sep = want_bytes(signer.sep)
    timed = isinstance(signer, TimestampSigner)

    def make(value: Any) -> str:
        payload = _COMPACT_JSON.encode(value).encode()
        compressed = zlib.compress(payload) if len(payload) >= _WORTH_COMPRESSING else payload
        if len(compressed) < len(payload) - 1:
            signed = b"." + base64_encode(compressed)
        else:
            signed = base64_encode(payload)
        if timed:
            signed += sep + base64_encode(int_to_bytes(signer.get_timestamp()))
        mac = keyed.copy()
        mac.update(signed)
        return (signed + sep + base64_encode(mac.digest())).decode()

    return make


def _signers(config: Config) -> tuple[Callable[[Any], str], Callable[[Any], str]]:
    """The one-click and unsubscribe token makers (the modules' own serializers), kept."""
    makers = _SIGNERS.get(config.secret_key)
    if makers is None:
        makers = _SIGNERS[config.secret_key] = (
            _token_maker(rsvp_links._serializer(config)),
            _token_maker(unsubscribe._serializer(config)),
        )
    return makers


def _rsvp_links(config: Config, gathering: Gathering, user: User) -> dict[str, str]:
    """The three one-click answers (as `rsvp_links.rsvp_link` makes them)."""
    sign = _signers(config)[0]
    base = f"{config.base_url}/r/"
    return {
        response: base + sign([gathering.id, user.id, response])
        for response in ("yes", "maybe", "no")
    }


def _unsubscribe_url(config: Config, user: User, gathering: Gathering) -> str:
    """This person's unsubscribe link for the gathering (as `unsubscribe.unsubscribe_url`)."""
    return f"{config.base_url}/unsubscribe/{_signers(config)[1]([user.id, gathering.id or 0])}"


def _loaded(session: Session, row: OutboxMessage, now: datetime) -> tuple[Gathering, User] | None:
    if not still_owed(session, row, now):
        return None
    gathering = session.get(Gathering, row.gathering_id)
    user = session.get(User, row.recipient_id)
    assert gathering is not None and user is not None
    return gathering, user


def render_reminder(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """'Coming up in 1 hour', in the recipient's time zone, with one-click answers and the .ics."""
    loaded = _loaded(session, row, now)
    if loaded is None:
        return None
    gathering, user = loaded
    state, _ = follow_through.state_and_mute(session, gathering.id, user.id)
    offset = int(row.payload.get("offset", 0))
    online_url = joinable_url(session, gathering, user)
    # all but the person's name and own links depends on these: built once per batch each
    locale = locale_of(user)
    shared_key = (gathering.id, user.timezone, state, offset, online_url, locale)
    shared = session.info.setdefault("reminder_contexts", {})
    if shared_key not in shared:
        context = gathering_context(gathering, user, config, state, online_url=online_url)
        context["lead_time"] = lead_time(offset, locale)
        subject = language.translate(
            locale,
            "Reminder: %(title)s %(lead_time)s (%(when)s)",
            title=gathering.title,
            lead_time=context["lead_time"],
            when=context["when"],
        )
        shared[shared_key] = (context, subject)
    context, subject = shared[shared_key]
    unsubscribe_link = _unsubscribe_url(config, user, gathering)
    return compose_shared(
        session,
        row,
        config,
        now,
        shared_key=shared_key,
        recipient=user,
        subject=subject,
        template="reminder",
        context=context,
        personal={
            "rsvp_links": _rsvp_links(config, gathering, user),
            "unsubscribe_url": unsubscribe_link,
        },
        ics=gathering_ics(gathering, config, now),
        ics_method="PUBLISH",
        list_unsubscribe_url=unsubscribe_link,
    )


def _who_came(session: Session, gathering: Gathering) -> tuple[list[str], int]:
    """Names of those going who share their name (sorted), and how many came in all."""
    cache = session.info.setdefault("followup_who_came", {})
    if gathering.id not in cache:
        rows = session.execute(
            select(User.name, User.share_name)
            .join(Rsvp, Rsvp.user_id == User.id)
            .where(Rsvp.gathering_id == gathering.id, Rsvp.state == "going")
        ).all()
        cache[gathering.id] = (sorted(name for name, share in rows if share), len(rows))
    return cache[gathering.id]


def _next_gathering(
    session: Session, gathering: Gathering, user: User, now: datetime
) -> Gathering | None:
    """The group's next gathering that `user` may see (domain/access.py)."""
    if gathering.group_id is None:
        return None
    return session.scalars(
        select(Gathering)
        .where(
            Gathering.group_id == gathering.group_id,
            Gathering.id != gathering.id,
            access.listed_for(user.id),
            Gathering.status.in_((GatheringStatus.SCHEDULED, GatheringStatus.POLLING)),
            (Gathering.starts_at.is_(None)) | (Gathering.starts_at > now),
        )
        .order_by(Gathering.starts_at.is_(None), Gathering.starts_at, Gathering.id)
        .limit(1)
    ).first()


def render_followup(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """Thanks, who came, the group's interests, and the next gathering (or propose one)."""
    loaded = _loaded(session, row, now)
    if loaded is None:
        return None
    gathering, user = loaded
    context = gathering_context(gathering, user, config, "going")
    names, came = _who_came(session, gathering)
    context["names"] = names
    context["others"] = max(0, came - len(names))
    group = gathering.group
    own = {interest.name for interest in user.interests}
    interests = [interest.name for interest in (group.interests if group else gathering.interests)]
    context["interests"] = interests
    context["shared_interests"] = [name for name in interests if name in own]
    context["group"] = group
    upcoming = _next_gathering(session, gathering, user, now)
    context["next_gathering"] = upcoming
    context["next_url"] = ical_events.gathering_url(config, upcoming.id) if upcoming else None
    locale = locale_of(user)
    context["next_when"] = (
        when_text(upcoming, user.timezone, locale) if upcoming and upcoming.starts_at else None
    )
    context["next_yes_url"] = (
        _rsvp_links(config, upcoming, user)["yes"]
        if upcoming is not None and upcoming.status == GatheringStatus.SCHEDULED
        else None
    )
    context["propose_url"] = (
        f"{config.base_url}/groups/{group.id}/propose"
        if group is not None and group_relation(session, group.id, user) == Relation.ORGANIZER
        else None
    )
    context["group_url"] = f"{config.base_url}/groups/{group.id}" if group else None
    unsubscribe_link = _unsubscribe_url(config, user, gathering)
    context["unsubscribe_url"] = unsubscribe_link
    return compose(
        row,
        config,
        now,
        recipient=user,
        subject=language.translate(locale, "Thanks for coming to %(title)s", title=gathering.title),
        template="followup",
        context=context,
        list_unsubscribe_url=unsubscribe_link,
    )
