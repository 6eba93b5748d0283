"""Calendar replies: a calendar app's Accept / Maybe / Decline (iTIP METHOD:REPLY) as an RSVP.

One handler for both ways mail comes in (the `inbound` SMTP process and POST /inbound/mail).
The attendee and the gathering (or series) come from the signed reply address the mail was
sent to (reply_address.py), never from From; the REPLY's ATTENDEE must be that person's
confirmed address. The answer goes through the same entries a click does
(attendance.set_rsvp, series.answer_all_future), so seats, the waitlist and the mail that
follows are the same. Anything else is dropped with a log line and counted in
inbound_mail_counts by outcome; nothing here raises for bad mail.
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses

import icalendar
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain.errors import KindredError
from scheduler.domain.ical import irregular_start
from scheduler.models import Gathering, GatheringStatus, InboundMailCount, Series, User
from scheduler.services.calendars import ical_events
from scheduler.services.calendars.reply_address import ReplyTarget, read_reply_address
from scheduler.services.gatherings import access, attendance
from scheduler.services.gatherings import series as series_service

log = logging.getLogger(__name__)

RESPONSE_BY_PARTSTAT = {"ACCEPTED": "yes", "TENTATIVE": "maybe", "DECLINED": "no"}


class Outcome:
    """How an inbound mail ended (the rows of inbound_mail_counts)."""

    ANSWERED = "answered"
    UNCHANGED = "unchanged"  # a reply repeating the answer Kindred already has
    AUTO_REPLY = "auto_reply"
    UNREADABLE = "unreadable"
    NOT_ITIP = "not_itip"
    BAD_ADDRESS = "bad_address"
    UNKNOWN_TARGET = "unknown_target"
    WRONG_ATTENDEE = "wrong_attendee"
    UNCONFIRMED = "unconfirmed"
    WRONG_EVENT = "wrong_event"
    STALE_SEQUENCE = "stale_sequence"
    NO_ANSWER = "no_answer"  # PARTSTAT NEEDS-ACTION, DELEGATED, or none
    REFUSED = "refused"  # closed, cancelled, not a member: what a click would be told


class _Dropped(Exception):
    def __init__(self, outcome: str, why: str) -> None:
        super().__init__(why)
        self.outcome = outcome


def handle_mail(
    session: Session,
    config: Config,
    raw: bytes,
    *,
    recipients: Sequence[str] = (),
    now: datetime,
) -> str:
    """Read one inbound mail and answer for its attendee; commits; returns the outcome.

    `recipients`: the SMTP envelope's RCPT TO addresses when known; otherwise the mail's own
    Delivered-To, X-Original-To, To and Cc headers are where it was sent."""
    try:
        outcome = _answer(session, config, raw, recipients, now)
    except _Dropped as dropped:
        session.rollback()
        outcome = dropped.outcome
        log.info("inbound mail dropped (%s): %s", outcome, dropped)
    except Exception:  # never let one odd mail stop the inbound process
        session.rollback()
        outcome = Outcome.UNREADABLE
        log.exception("inbound mail dropped (%s)", outcome)
    else:
        log.info("inbound mail: %s", outcome)
    count(session, outcome, now)
    session.commit()
    return outcome


def count(session: Session, outcome: str, now: datetime) -> None:
    """One more mail that ended this way."""
    statement = insert(InboundMailCount).values(outcome=outcome, count=1, last_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[InboundMailCount.outcome],
            set_={"count": InboundMailCount.count + 1, "last_at": now},
        )
    )


def _answer(
    session: Session, config: Config, raw: bytes, recipients: Sequence[str], now: datetime
) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    if _is_auto_reply(message):
        raise _Dropped(Outcome.AUTO_REPLY, "an automatic reply")
    target = _target(config, message, recipients)
    calendar = _reply_calendar(message)
    user = session.get(User, target.user_id)
    if user is None:
        raise _Dropped(Outcome.UNKNOWN_TARGET, f"no user {target.user_id}")
    if user.email_verified_at is None:
        raise _Dropped(Outcome.UNCONFIRMED, f"user {user.id} has not confirmed their address")
    events = list(calendar.walk("VEVENT"))
    if not events:
        raise _Dropped(Outcome.NOT_ITIP, "a REPLY without a VEVENT")
    changed = False
    # the whole series first, then the occurrences the reply answers differently
    for event in sorted(events, key=lambda e: "RECURRENCE-ID" in e):
        response = _response_of(event, user)
        if target.kind == "s":
            changed |= _answer_series(session, config, target, event, user, response, now)
        else:
            changed |= _answer_gathering(session, config, target, event, user, response, now)
    session.commit()
    return Outcome.ANSWERED if changed else Outcome.UNCHANGED


def _is_auto_reply(message: EmailMessage) -> bool:
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    precedence = str(message.get("Precedence", "")).strip().lower()
    return precedence in ("auto_reply", "bulk", "junk", "list")


def _addresses(message: EmailMessage, recipients: Iterable[str]) -> list[str]:
    given = [r for r in recipients if r]
    if given:
        return given
    headers = [
        str(value)
        for name in ("Delivered-To", "X-Original-To", "To", "Cc")
        for value in message.get_all(name, [])
    ]
    return [address for _, address in getaddresses(headers) if address]


def _target(config: Config, message: EmailMessage, recipients: Sequence[str]) -> ReplyTarget:
    for address in _addresses(message, recipients):
        target = read_reply_address(config, address)
        if target is not None:
            return target
    raise _Dropped(Outcome.BAD_ADDRESS, "sent to no reply address of ours (or one altered)")


def _reply_calendar(message: EmailMessage) -> icalendar.Calendar:
    for part in message.walk():
        if part.get_content_type() not in ("text/calendar", "application/ics"):
            continue
        payload = part.get_payload(decode=True)
        if not payload:
            continue
        try:
            calendar = icalendar.Calendar.from_ical(payload)
        except ValueError:
            continue
        if str(calendar.get("METHOD", "")).upper() == "REPLY":
            return calendar
    raise _Dropped(Outcome.NOT_ITIP, "no text/calendar part with METHOD:REPLY")


def _mailto(value: object) -> str:
    text = str(value)
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return text.strip().lower()


def _response_of(event: icalendar.Event, user: User) -> str:
    attendees = event.get("ATTENDEE")
    if attendees is None:
        raise _Dropped(Outcome.WRONG_ATTENDEE, "a REPLY without an ATTENDEE")
    if not isinstance(attendees, list):
        attendees = [attendees]
    mine = [a for a in attendees if _mailto(a) == user.email.lower()]
    if not mine:
        raise _Dropped(
            Outcome.WRONG_ATTENDEE, f"the ATTENDEE is not the invited person (user {user.id})"
        )
    partstat = str(mine[0].params.get("PARTSTAT", "")).upper()
    response = RESPONSE_BY_PARTSTAT.get(partstat)
    if response is None:
        raise _Dropped(Outcome.NO_ANSWER, f"PARTSTAT {partstat or 'missing'} is no answer")
    return response


def _sequence(event: icalendar.Event) -> int:
    try:
        return int(event.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        return 0


def _answer_gathering(
    session: Session,
    config: Config,
    target: ReplyTarget,
    event: icalendar.Event,
    user: User,
    response: str,
    now: datetime,
) -> bool:
    gathering = session.get(Gathering, target.target_id)
    if gathering is None:
        raise _Dropped(Outcome.UNKNOWN_TARGET, f"no gathering {target.target_id}")
    uid = str(event.get("UID", ""))
    if uid not in (gathering.uid, ical_events.lone_occurrence_uid(gathering, config)):
        raise _Dropped(Outcome.WRONG_EVENT, f"UID {uid!r} is not gathering {gathering.id}")
    if _sequence(event) < gathering.sequence:
        raise _Dropped(
            Outcome.STALE_SEQUENCE,
            f"gathering {gathering.id}: SEQUENCE {_sequence(event)} < {gathering.sequence}",
        )
    return _set(session, gathering, user, response, now)


def _set(session: Session, gathering: Gathering, user: User, response: str, now: datetime) -> bool:
    try:
        access.require_visible(session, gathering, user)
        outcome = attendance.set_rsvp(session, gathering.id, user.id, response, now=now)
    except KindredError as refused:
        raise _Dropped(Outcome.REFUSED, f"gathering {gathering.id}: {refused}") from refused
    return outcome.changed


def _answer_series(
    session: Session,
    config: Config,
    target: ReplyTarget,
    event: icalendar.Event,
    user: User,
    response: str,
    now: datetime,
) -> bool:
    series = session.get(Series, target.target_id)
    if series is None:
        raise _Dropped(Outcome.UNKNOWN_TARGET, f"no series {target.target_id}")
    uid = str(event.get("UID", ""))
    if uid != series.uid:
        raise _Dropped(Outcome.WRONG_EVENT, f"UID {uid!r} is not series {series.id}")
    occurrences = series_service.occurrences_of(session, series.id)
    current = ical_events.series_sequence(series, occurrences)
    if _sequence(event) < current:
        raise _Dropped(
            Outcome.STALE_SEQUENCE, f"series {series.id}: SEQUENCE {_sequence(event)} < {current}"
        )
    if "RECURRENCE-ID" in event:
        occurrence = _occurrence_at(series, occurrences, event["RECURRENCE-ID"].dt)
        if occurrence is None:
            raise _Dropped(Outcome.WRONG_EVENT, f"series {series.id}: no such occurrence")
        return _set(session, occurrence, user, response, now)
    upcoming = [
        g
        for g in occurrences
        if g.status == GatheringStatus.SCHEDULED and g.starts_at is not None and g.starts_at > now
    ]
    if not upcoming:
        raise _Dropped(Outcome.REFUSED, f"series {series.id}: nothing ahead to answer")
    first = min(upcoming, key=lambda g: g.starts_at or now)
    try:
        access.require_visible(session, first, user)
        outcomes = series_service.answer_all_future(session, first, user, response, now=now)
    except KindredError as refused:
        raise _Dropped(Outcome.REFUSED, f"series {series.id}: {refused}") from refused
    return any(o.changed for o in outcomes)


def _occurrence_at(
    series: Series, occurrences: Sequence[Gathering], instant: object
) -> Gathering | None:
    if not isinstance(instant, datetime):
        return None
    if instant.tzinfo is not None and instant.utcoffset() is not None:
        for occurrence in occurrences:
            if occurrence.recurrence_id == instant:
                return occurrence
    # an occurrence readers disagree on is keyed by its nominal wall time (domain/ical.py)
    wall = instant.replace(tzinfo=None)
    first = ical_events.series_first_start(series)
    duration = timedelta(minutes=series.template.get("duration_minutes", 60))
    for occurrence in occurrences:
        if occurrence.recurrence_id is None:
            continue
        nominal = irregular_start(
            occurrence.recurrence_id, first, first + duration, series.timezone
        )
        if nominal is not None and nominal.replace(tzinfo=None) == wall:
            return occurrence
    return None


def counts(session: Session) -> dict[str, int]:
    """Every outcome so far with its count."""
    rows = session.query(InboundMailCount.outcome, func.sum(InboundMailCount.count)).group_by(
        InboundMailCount.outcome
    )
    return {outcome: int(total) for outcome, total in rows}
