"""A lean WSGI fast path for API RSVPs on PostgreSQL, in front of the Flask app.

`PUT /api/v1/gatherings/<id>/rsvp` is the busiest write we have: when a popular gathering
is announced, everyone answers at once. Through Flask and the ORM an answer costs about ten
statements and 18 ms of CPU; here it is one call of the database function
`kindred_set_rsvp` (scheduler/models/rsvp_function.py), which takes the seat, owes the mail
and returns the outcome in a single round trip and transaction. Then, as the Flask path
does after its commit, the feed generation is bumped and delivery kicked.

Only the plain, well-formed request is answered here: a JSON body of exactly
`{"response": "yes" | "no" | "maybe"}` (an `all_future` of false may come along) with a
bearer token. Everything else goes on to Flask unchanged, with its body: another route, a
malformed or unusual body (Flask explains what is wrong), `all_future: true` (series), and
whatever the function declines (unknown token or gathering, RSVPs closed), which the view
then answers with its usual error. Database trouble also passes the request on, after a
warning; the statement either committed as a whole or not at all, so the view sees a
consistent state (answering again the same way is a no-op).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import psycopg
import redis
from sqlalchemy.engine import make_url

from scheduler.models import utcnow
from scheduler.services.accounts.identity import sha256_hex
from scheduler.services.calendars import feeds
from scheduler.services.gatherings import attendance
from scheduler.services.mail import delivery
from scheduler.web.bare_redis import BareRedisConnections
from workers.queues import MAIL

if TYPE_CHECKING:
    from scheduler.extensions import Services

log = logging.getLogger(__name__)

RSVP_PATH = re.compile(r"/api/v1/gatherings/([1-9][0-9]{0,8})/rsvp")
MAX_BODY = 256
POOL_SIZE = 8
POOL_WAIT_SECONDS = 5.0
# The function is missing (migrations not run yet) or the database is unreachable: stand
# aside this long before trying again, so the Flask path is not slowed by retries.
PAUSE_AFTER_ERROR_SECONDS = 5.0
CALL = "SELECT kindred_set_rsvp(%s, %s, %s, %s, %s)"
JSON_HEADERS = [("Content-Type", "application/json")]


def parse_answer(environ: dict[str, Any], body: bytes) -> tuple[str, str] | None:
    """(response, token) of a plain RSVP request, or None when Flask should look at it."""
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.partition(";")[0].strip().lower() != "application/json":
        return None
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        args = json.loads(body)
    except ValueError:
        return None
    if not isinstance(args, dict) or args.keys() - {"response", "all_future"}:
        return None
    if args.get("all_future", False) is not False:
        return None
    response = args.get("response")
    if response not in attendance.RESPONSES:
        return None
    return response, token


def rsvp_body(outcome: dict[str, Any]) -> bytes:
    """The JSON the Flask view sends (RsvpSchema: no waitlist_position unless waitlisted)."""
    shown: dict[str, Any] = {"response": outcome["response"], "state": outcome["state"]}
    if outcome["waitlist_position"] is not None:
        shown["waitlist_position"] = outcome["waitlist_position"]
    shown["gathering_id"] = outcome["gathering_id"]
    shown["going_count"] = outcome["going_count"]
    shown["seats_left"] = outcome["seats_left"]
    return json.dumps(shown, separators=(",", ":")).encode() + b"\n"


class ConnectionPool:
    """A few autocommit psycopg connections of this process's own, most recently used first,
    each handed out as its one cursor (made once: a cursor per call costs a third as much
    again as the call).

    Connections are opened lazily, so a forked worker never uses its parent's; after a fork
    the inherited ones are forgotten, not closed (closing would end the parent's session).
    """

    def __init__(self, conninfo: str, size: int = POOL_SIZE) -> None:
        self.conninfo = conninfo
        self.size = size
        self._ready = threading.Condition()
        self._reset()

    def _reset(self) -> None:
        self._idle: list[psycopg.Cursor[Any]] = []
        self._open = 0
        self._pid = os.getpid()

    def acquire(self, timeout: float = POOL_WAIT_SECONDS) -> psycopg.Cursor[Any] | None:
        """An idle or new connection's cursor; None if all are busy for `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._ready:
            if self._pid != os.getpid():
                self._reset()
            while not self._idle and self._open >= self.size:
                left = deadline - time.monotonic()
                if left <= 0 or not self._ready.wait(left):
                    return None
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return psycopg.connect(self.conninfo, autocommit=True).cursor()
        except BaseException:
            self._forget()
            raise

    def release(self, cursor: psycopg.Cursor[Any]) -> None:
        """Give a cursor back (a broken connection is closed and forgotten)."""
        if cursor.connection.closed or cursor.connection.broken:
            cursor.connection.close()
            self._forget()
            return
        with self._ready:
            if self._pid == os.getpid():
                self._idle.append(cursor)
                self._ready.notify()

    def close(self) -> None:
        """Close the idle connections (those of this process)."""
        with self._ready:
            idle = self._idle if self._pid == os.getpid() else []
            self._open -= len(idle)
            self._idle = []
        for cursor in idle:
            cursor.connection.close()

    def _forget(self) -> None:
        with self._ready:
            self._open -= 1
            self._ready.notify()


class RsvpFastPath:
    """WSGI middleware: answers plain API RSVPs with one database call, passes the rest on."""

    def __init__(self, app: Any, services: Services) -> None:
        self.app = app
        self.services = services
        url = make_url(services.config.database_url).set(drivername="postgresql")
        self.pool = ConnectionPool(url.render_as_string(hide_password=False))
        services.on_close(self.pool.close)
        self.redis = BareRedisConnections(services)
        self._paused_until = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "PUT" and time.monotonic() >= self._paused_until:
            match = RSVP_PATH.fullmatch(environ.get("PATH_INFO", ""))
            if match is not None:
                answered = self._answer(environ, int(match.group(1)))
                if answered is not None:
                    length = ("Content-Length", str(len(answered)))
                    start_response("200 OK", [*JSON_HEADERS, length])
                    return [answered]
        return self.app(environ, start_response)  # type: ignore[no-any-return]

    def _answer(self, environ: dict[str, Any], gathering_id: int) -> bytes | None:
        """The response body, or None to let Flask answer (the body is put back for it)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if not 0 < length <= MAX_BODY:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        parsed = parse_answer(environ, body)
        if parsed is None:
            return None
        response, token = parsed
        outcome = self._call(sha256_hex(token), gathering_id, response)
        if outcome is None:
            return None
        if outcome["changed"]:
            self._after_commit(deliver=outcome["deliver"])
        return rsvp_body(outcome)

    def _call(self, token_hash: str, gathering_id: int, response: str) -> dict[str, Any] | None:
        """kindred_set_rsvp's outcome, or None (declined, or trouble: Flask will answer)."""
        try:
            cursor = self.pool.acquire()
        except psycopg.Error:
            log.warning("RSVP fast path: cannot connect, passing to Flask", exc_info=True)
            self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR_SECONDS
            return None
        if cursor is None:  # every connection busy for seconds: Flask has its own pool
            return None
        try:
            cursor.execute(
                CALL, (token_hash, gathering_id, response, utcnow(), attendance.LOCKING), prepare=True
            )
            row = cursor.fetchone()
        except psycopg.errors.UndefinedFunction:
            log.warning("RSVP fast path: kindred_set_rsvp is missing (run the migrations)")
            self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR_SECONDS
            return None
        except psycopg.Error:
            log.warning("RSVP fast path: database error, passing to Flask", exc_info=True)
            return None
        finally:
            self.pool.release(cursor)
        return row[0] if row else None

    def _after_commit(self, *, deliver: bool) -> None:
        """What the Flask path's after-commit hooks do for an RSVP, in one Redis round trip:
        bump the feed generation (feeds.bump_generation) and, when mail is due now, set the
        delivery kick flag and queue a delivery job if it was not set (delivery.kick_delivery).
        """
        commands: list[tuple[Any, ...]] = [("INCR", feeds.GENERATION_KEY)]
        if deliver:
            kick = ("SET", delivery.DELIVERY_KICK_KEY, 1, "NX", "EX", delivery.DELIVERY_KICK_TTL)
            commands.append(kick)
        try:
            with self.redis.connection() as connection:
                connection.send_packed_command(connection.pack_commands(commands))
                replies = [connection.read_response() for _ in commands]
        except (redis.RedisError, OSError):
            log.warning("RSVP fast path: Redis error after the commit", exc_info=True)
            replies = [None, True]  # enqueue anyway, as kick_delivery does
        if deliver and replies[1]:
            self.services.enqueue(delivery.DELIVER_DUE_JOB, queue=MAIL)
