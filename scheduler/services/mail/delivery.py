"""Delivering the outbox: claim due rows, render them, send them over one connection, mark them.

The at-least-once boundary: a row is marked sent in its own small transaction right after the
SMTP server accepted it. A crash between the server's "250 OK" and that commit leaves the row
claimed; once the claim expires it is sent again, with the same Message-ID (derived from the
row key), which receivers treat as the same message. Everywhere else the row state is
decided before any I/O, so nothing is lost and nothing else is sent twice. No database
transaction is held open across SMTP I/O.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain.messages import RenderedMail, render_message
from scheduler.extensions import Services, after_commit
from scheduler.models import Gathering, OutboxMessage, OutboxStatus, User, utcnow
from scheduler.queues import MAIL
from scheduler.services.accounts.links import ACCOUNT_MAIL_KINDS
from scheduler.services.calendars import ical_events
from scheduler.services.mail.follow_through import prefetch_follow_through
from scheduler.services.mail.renderers import render_outbox_message
from scheduler.services.mail.transport import Transport, open_transport

log = logging.getLogger("kindred.delivery")

DELIVER_DUE_JOB = "workers.mail.deliver_due"
DEFAULT_BATCH_SIZE = 100
# A job keeps claiming batches for this long (well inside RQ's 180 s default job timeout),
# then leaves the rest to the next job.
JOB_BUDGET_SECONDS = 100.0
# At most this many delivery jobs are queued at once by a sweep (one per worker is plenty).
MAX_PARALLEL_JOBS = 4
# Mail for an address its owner has not proved yet waits (pending, due again after HOLD_FOR)
# until they follow the link, then goes at once (release_held); after HOLD_AT_MOST it is
# withdrawn. Only the account links that prove an address (ACCOUNT_MAIL_KINDS) go before.
HELD_UNVERIFIED = "held: the address is not verified yet"
HOLD_FOR = timedelta(days=1)
HOLD_AT_MOST = timedelta(days=30)


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    withdrawn: int = 0
    released: int = 0
    held: int = 0  # over the per-recipient cap: pending again, due when a slot frees
    unverified: int = 0  # for an address not proved yet: pending until it is (HOLD_FOR)
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        """Fold another report into this one."""
        for name in (
            "claimed",
            "sent",
            "retried",
            "failed",
            "withdrawn",
            "released",
            "held",
            "unverified",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


def retry_delay(config: Config, attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failed try, capped."""
    seconds = config.outbox_retry_base_seconds * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, config.outbox_retry_max_seconds))


def _due_condition(now: datetime) -> Any:
    return or_(
        and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= now),
        # a claim that outlived its worker (SIGKILL, lost machine): the row is owed again
        and_(OutboxMessage.status == OutboxStatus.CLAIMED, OutboxMessage.claimed_until < now),
    )


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int,
    claim_seconds: int,
    gathering_id: int | None = None,
) -> tuple[list[int], datetime]:
    """Claim up to `limit` due rows (SKIP LOCKED: concurrent workers claim different rows).

    Returns the claimed ids and the claim token (`claimed_until`), which later updates must
    match: a worker whose claim expired and was taken over cannot overwrite the new owner.
    """
    token = now + timedelta(seconds=claim_seconds)
    candidates = (
        select(OutboxMessage.id)
        .where(_due_condition(now))
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if gathering_id is not None:
        candidates = candidates.where(OutboxMessage.gathering_id == gathering_id)
    claimed = session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates.scalar_subquery()))
        .values(
            status=OutboxStatus.CLAIMED,
            claimed_until=token,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(claimed), token


@dataclass
class _Ready:
    row_id: int
    attempts: int
    message: RenderedMail
    recipient: str
    recipient_id: int | None = None


def _held_back(
    session: Session, ready: list[_Ready], *, now: datetime, per_hour: int
) -> tuple[list[_Ready], dict[datetime, list[int]]]:
    """(what may go now, what waits: row ids by when a slot frees) under the per-recipient
    cap on mails an hour, counting what went in the last hour and what this batch sends."""
    recipients = {item.recipient_id for item in ready if item.recipient_id is not None}
    if not recipients:
        return ready, {}
    hour_ago = now - timedelta(hours=1)
    sent: dict[int, list[datetime]] = {}
    for recipient_id, sent_at in session.execute(
        select(OutboxMessage.recipient_id, OutboxMessage.sent_at)
        .where(
            OutboxMessage.recipient_id.in_(recipients),
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.sent_at > hour_ago,
        )
        .order_by(OutboxMessage.sent_at)
    ):
        sent.setdefault(recipient_id, []).append(sent_at)
    allowed: list[_Ready] = []
    held: dict[datetime, list[int]] = {}
    for item in ready:
        times = sent.setdefault(item.recipient_id, []) if item.recipient_id else []
        if item.recipient_id is None or len(times) < per_hour:
            allowed.append(item)
            times.append(now)
            continue
        # the earliest of the last hour's mails leaves the window then: a slot frees
        held.setdefault(times[-per_hour] + timedelta(hours=1), []).append(item.row_id)
    return allowed, held


def _unverified_recipients(
    session: Session, rows: list[OutboxMessage], *, now: datetime, gone: list[int]
) -> tuple[list[OutboxMessage], list[int]]:
    """(rows that may go, ids held for an address not proved yet); rows for an erased
    account, or held too long, join `gone`."""
    recipients = {row.recipient_id for row in rows if row.recipient_id is not None}
    if not recipients:
        return rows, []
    states = {
        user_id: (verified_at, deleted_at)
        for user_id, verified_at, deleted_at in session.execute(
            select(User.id, User.email_verified_at, User.deleted_at).where(User.id.in_(recipients))
        )
    }
    allowed: list[OutboxMessage] = []
    held: list[int] = []
    for row in rows:
        if row.recipient_id is None:
            allowed.append(row)
            continue
        verified_at, deleted_at = states.get(row.recipient_id, (None, utcnow()))
        if deleted_at is not None:
            gone.append(row.id)
        elif verified_at is not None or row.kind in ACCOUNT_MAIL_KINDS:
            allowed.append(row)
        elif row.created_at < now - HOLD_AT_MOST:
            gone.append(row.id)
        else:
            held.append(row.id)
    return allowed, held


def release_held(session: Session, recipient_id: int, *, now: datetime) -> int:
    """The recipient proved their address: the mail held for it is due now."""
    count = (
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.recipient_id == recipient_id,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.last_error == HELD_UNVERIFIED,
            )
            .values(due_at=now, last_error=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )
    if count:
        deliver_soon_after_commit(session)
    return count


def _render_batch(
    services: Services, ids: Sequence[int], token: datetime, now: datetime
) -> tuple[list[_Ready], list[int], list[tuple[int, str]], dict[datetime, list[int]], list[int]]:
    """Render claimed rows in one short transaction: (ready, withdrawn ids, poison rows,
    rows held back by the per-recipient cap by when they may go, rows held for an address
    not proved yet)."""
    ready: list[_Ready] = []
    gone: list[int] = []
    poison: list[tuple[int, str]] = []
    session = services.db.session_factory()
    try:
        rows = list(
            session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.status == OutboxStatus.CLAIMED,
                    OutboxMessage.claimed_until == token,
                )
                .order_by(OutboxMessage.id)
            )
        )
        rows, unverified = _unverified_recipients(session, rows, now=now, gone=gone)
        prefetch_follow_through(session, rows)
        for row in rows:
            try:
                mail = render_outbox_message(session, row, services.config, now)
                if mail is None:
                    gone.append(row.id)
                    continue
                ready.append(
                    _Ready(
                        row.id,
                        row.attempts,
                        render_message(mail),
                        row.recipient_email,
                        row.recipient_id,
                    )
                )
            except Exception as exc:
                # a row that cannot be rendered is a bug: record it, don't block the others
                log.exception("outbox row %s (%s) could not be rendered", row.id, row.key)
                poison.append((row.id, f"render: {exc!r}"[:1000]))
        ready, held = _held_back(
            session, ready, now=now, per_hour=services.config.mail_per_recipient_per_hour
        )
        session.commit()
    finally:
        session.close()
    return ready, gone, poison, held, unverified


def _mark(
    connection: Connection, ids: Sequence[int], token: datetime, values: dict[str, Any]
) -> int:
    """One UPDATE, committed on its own, of rows we still hold the claim on.

    `connection` is in autocommit mode (see `_marks_connection`): one round trip per mark.
    """
    if not ids:
        return 0
    stmt = (
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(list(ids)),
            OutboxMessage.status == OutboxStatus.CLAIMED,
            OutboxMessage.claimed_until == token,
        )
        .values(**values)
    )
    return connection.execute(stmt).rowcount or 0


_MARK_SENT_SQL = (
    "UPDATE outbox_messages SET status = 'sent', sent_at = %s, claimed_until = NULL"
    " WHERE id = %s AND status = 'claimed' AND claimed_until = %s"
)


def _sent_marker(connection: Connection, token: datetime) -> Callable[[int, datetime], int]:
    """Mark one row sent, the cheapest way there is: returns 1, or 0 if not ours.

    One prepared UPDATE on the batch's autocommit connection, straight through the driver
    (psycopg prepares it after a few runs): a few microseconds of Python instead of building
    and compiling the statement for every mail.
    """
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    assert OutboxMessage.__tablename__ == "outbox_messages"

    def mark(row_id: int, at: datetime) -> int:
        cursor.execute(_MARK_SENT_SQL, (at, row_id, token))
        return cursor.rowcount

    return mark


@contextmanager
def _marks_connection(services: Services) -> Iterator[Connection]:
    """One autocommit connection for a batch's marks (no checkout, BEGIN or COMMIT per mail).

    Marking a row sent need not wait for the WAL flush: if PostgreSQL itself crashes in that
    instant the row is merely sent again with the same Message-ID (the documented boundary).
    """
    with services.db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("SET synchronous_commit TO OFF")
        try:
            yield connection
        finally:
            connection.exec_driver_sql("RESET synchronous_commit")


def _hand_back(
    connection: Connection, row_ids: Sequence[int], token: datetime, due_at: datetime | None = None
) -> int:
    """Hand unsent rows back as pending, as if never claimed (the claim counted an attempt),
    due again at `due_at` if given."""
    values: dict[str, Any] = {
        "status": OutboxStatus.PENDING,
        "attempts": OutboxMessage.attempts - 1,
        "claimed_until": None,
    }
    if due_at is not None:
        values["due_at"] = due_at
    return _mark(connection, row_ids, token, values)


def deliver_batch(
    services: Services,
    transport: Transport,
    *,
    now_fn: Callable[[], datetime] = utcnow,
    batch_size: int = DEFAULT_BATCH_SIZE,
    gathering_id: int | None = None,
) -> DeliveryReport:
    """Claim one batch of due rows and deliver it over `transport`."""
    config = services.config
    report = DeliveryReport()
    session = services.db.session_factory()
    try:
        ids, token = claim_due(
            session,
            now=now_fn(),
            limit=batch_size,
            claim_seconds=config.outbox_claim_seconds,
            gathering_id=gathering_id,
        )
        session.commit()
    finally:
        session.close()
    report.claimed = len(ids)
    if not ids:
        return report
    # a batch must end well inside its claim, or another worker could claim the rest again
    hand_back_after = time.monotonic() + config.outbox_claim_seconds / 2
    ready, gone, poison, held, unverified = _render_batch(services, ids, token, now_fn())
    with _marks_connection(services) as connection:
        report.withdrawn += _mark(
            connection, gone, token, {"status": OutboxStatus.WITHDRAWN, "claimed_until": None}
        )
        report.unverified += _mark(
            connection,
            unverified,
            token,
            {
                "status": OutboxStatus.PENDING,
                "attempts": OutboxMessage.attempts - 1,
                "claimed_until": None,
                "due_at": now_fn() + HOLD_FOR,
                "last_error": HELD_UNVERIFIED,
            },
        )
        for free_at, row_ids in held.items():
            report.held += _hand_back(connection, row_ids, token, due_at=free_at)
        for row_id, error in poison:
            report.failed += _mark(
                connection,
                [row_id],
                token,
                {"status": OutboxStatus.FAILED, "last_error": error, "claimed_until": None},
            )
        _, sender = ical_events.sender_address(config)
        mark_sent = _sent_marker(connection, token)
        results = transport.send_many((item.message, sender, item.recipient) for item in ready)
        try:
            for index, (item, result) in enumerate(zip(ready, results, strict=False)):
                if result.ok:
                    # right after the server's 250, before the next message's content goes out
                    report.sent += mark_sent(item.row_id, now_fn())
                    if time.monotonic() > hand_back_after:
                        # a slow server: give the rest back for the next run, claim untouched
                        report.released += _hand_back(
                            connection, [item.row_id for item in ready[index + 1 :]], token
                        )
                        break
                    continue
                report.errors.append(result.error or "")
                if result.permanent or item.attempts >= config.outbox_max_attempts:
                    log.warning("outbox row %s failed for good: %s", item.row_id, result.error)
                    report.failed += _mark(
                        connection,
                        [item.row_id],
                        token,
                        {
                            "status": OutboxStatus.FAILED,
                            "last_error": result.error,
                            "claimed_until": None,
                        },
                    )
                    continue
                report.retried += _mark(
                    connection,
                    [item.row_id],
                    token,
                    {
                        "status": OutboxStatus.PENDING,
                        "due_at": now_fn() + retry_delay(config, item.attempts),
                        "last_error": result.error,
                        "claimed_until": None,
                    },
                )
                if (result.error or "").startswith("connection:"):
                    # the server is unreachable: hand the rest back untouched for the next run
                    report.released += _hand_back(
                        connection, [item.row_id for item in ready[index + 1 :]], token
                    )
                    break
        finally:
            results.close()
    return report


def deliver_due(
    services: Services,
    *,
    now_fn: Callable[[], datetime] = utcnow,
    batch_size: int | None = None,
    gathering_id: int | None = None,
    budget_seconds: float = JOB_BUDGET_SECONDS,
) -> DeliveryReport:
    """Deliver batch after batch over one connection until nothing is due (or time is up)."""
    report = DeliveryReport()
    batch_size = batch_size or services.config.outbox_batch_size
    started = time.monotonic()
    with open_transport(services.config) as transport:
        while time.monotonic() - started < budget_seconds:
            batch = deliver_batch(
                services,
                transport,
                now_fn=now_fn,
                batch_size=batch_size,
                gathering_id=gathering_id,
            )
            report.add(batch)
            if batch.claimed < batch_size or batch.released:
                break
    if report.claimed:
        log.info(
            "delivered: %d sent, %d retried, %d failed, %d withdrawn",
            report.sent,
            report.retried,
            report.failed,
            report.withdrawn,
        )
    return report


@dataclass(frozen=True)
class OutboxBacklog:
    """What the sweep found: rows owed now, and the next due time in the near future."""

    due_now: int
    next_due_at: datetime | None


def backlog(session: Session, *, now: datetime, horizon: timedelta) -> OutboxBacklog:
    """Count rows due now (including expired claims) and find the next one due soon."""
    due_now = session.scalar(select(func.count()).where(_due_condition(now))) or 0
    next_due = session.scalar(
        select(func.min(OutboxMessage.due_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.due_at > now,
            OutboxMessage.due_at <= now + horizon,
        )
    )
    return OutboxBacklog(due_now=int(due_now), next_due_at=next_due)


def jobs_needed(due_now: int, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """How many delivery jobs to run in parallel for a backlog."""
    return min(MAX_PARALLEL_JOBS, math.ceil(due_now / batch_size)) if due_now else 0


DELIVERY_KICK_KEY = "kindred:outbox:kick"


def clear_delivery_kick(services: Services) -> None:
    """Called as a delivery job starts: the next owed mail may queue a new job."""
    services.clear_flag(DELIVERY_KICK_KEY)


def kick_delivery(services: Services) -> None:
    """Mail due now was committed: queue a delivery job, unless one is queued already.

    One queued kick at a time across all requests: a burst of RSVPs would otherwise queue
    one delivery job each. deliver_due clears the flag before it claims, so mail committed
    after that queues a new kick; the sweep covers a lost flag or job.
    """
    services.enqueue_once(DELIVER_DUE_JOB, queue=MAIL, flag=DELIVERY_KICK_KEY)


def schedule_delivery(services: Services, at: datetime) -> None:
    """A delivery job at `at` for rows due then (one job id per second: whoever finds the same
    due time schedules it once). Needs the worker's scheduler."""
    services.enqueue(
        DELIVER_DUE_JOB,
        queue=MAIL,
        job_id=f"outbox-due-{at:%Y%m%dT%H%M%S}",
        at=at + timedelta(milliseconds=200),
    )


def deliver_soon_after_commit(session: Session) -> None:
    """Mail owed in this transaction is due now: start delivery once it commits (once)."""
    services: Services | None = session.info.get("services")
    if services is not None:
        after_commit(session, lambda: kick_delivery(services), once_as="kick_delivery")


# --- what organizers and operators see -------------------------------------------------------


def mail_status(session: Session, gathering: Gathering) -> dict[str, Any]:
    """Counts per kind and status for a gathering, and the mail that failed for good."""
    counts: dict[str, dict[str, int]] = {}
    for kind, status, count in session.execute(
        select(OutboxMessage.kind, OutboxMessage.status, func.count())
        .where(OutboxMessage.gathering_id == gathering.id)
        .group_by(OutboxMessage.kind, OutboxMessage.status)
    ):
        counts.setdefault(kind, {})[status] = int(count)
    failed = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.gathering_id == gathering.id,
            OutboxMessage.status == OutboxStatus.FAILED,
        )
        .order_by(OutboxMessage.id)
        .limit(200)
    ).all()
    return {
        "gathering_id": gathering.id,
        "counts": counts,
        "failed": [
            {
                "kind": row.kind,
                "recipient_email": row.recipient_email,
                "attempts": row.attempts,
                "error": row.last_error or "",
                "due_at": row.due_at,
            }
            for row in failed
        ],
    }


def outbox_counts(session: Session, *, now: datetime) -> dict[str, int]:
    """Operator view: due now, scheduled later, claimed, sent, failed, withdrawn."""
    totals = dict(
        session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    due = session.scalar(select(func.count()).where(_due_condition(now))) or 0
    scheduled = session.scalar(
        select(func.count()).where(
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at > now
        )
    )
    return {
        "due": int(due),
        "scheduled": int(scheduled or 0),
        "claimed": int(totals.get(OutboxStatus.CLAIMED, 0)),
        "sent": int(totals.get(OutboxStatus.SENT, 0)),
        "failed": int(totals.get(OutboxStatus.FAILED, 0)),
        "withdrawn": int(totals.get(OutboxStatus.WITHDRAWN, 0)),
    }


def retry_failed(session: Session, *, now: datetime, row_ids: Sequence[int] | None = None) -> int:
    """Put failed rows back in line, due now with a fresh attempt count."""
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.FAILED)
        .values(status=OutboxStatus.PENDING, due_at=now, attempts=0, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    if row_ids:
        stmt = stmt.where(OutboxMessage.id.in_(list(row_ids)))
    count = session.execute(stmt).rowcount or 0
    if count:
        deliver_soon_after_commit(session)
    return count
