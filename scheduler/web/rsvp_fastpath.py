"""The API's RSVP answered before Flask, through the same attendance function as every caller.

`PUT /api/v1/gatherings/<id>/rsvp` is the busiest write we have: when a popular gathering
is announced, everyone answers at once. Flask's request machinery, the ORM session and its
commit cost several times what the answer itself does, so this small WSGI layer runs the
one statement `attendance.set_rsvp` runs (services/gatherings/attendance.py:
`answer_statement`), with the bearer token's owner (accounts: `api_token_owner`) as a
subquery in place of the user id: one round trip, one transaction. Afterwards, as after any
commit that recorded events, the event listeners are told (the mail planner is woken, cached
feeds are forgotten).

Only the plain, well-formed request is answered here: a small JSON body that the one RSVP
schema accepts (`{"response": "yes" | "no" | "maybe"}`, with `guests` and `answers` if
given, an `all_future` of false) with a bearer token. Everything else goes on to Flask unchanged, with its body: another route, a
malformed or unusual body (Flask explains what is wrong), `all_future: true` (series), and
whatever the function refuses (unknown token or gathering, RSVPs closed, too many guests, a
required question unanswered: it changed nothing,
and the view, running the same function, answers with the usual error). Database trouble
also passes the request on, after a warning.

With rate limits on (web/rate_limits.py), an answer first spends from its account's write
budget, the one Flask spends for every other write, on the same storage: the token's owner is
looked up once per token and process, then each answer costs one Redis call. An exhausted
budget is answered here with 429, as Flask would answer it; storage trouble passes the request
on to Flask, which limits it (without counting it twice).
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
from typing import Any

import psycopg
from marshmallow import ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from scheduler.api.auth import bearer_token
from scheduler.domain.language import negotiate_locale, normalise_locale
from scheduler.extensions import Services, connection_options
from scheduler.models import User, utcnow
from scheduler.schemas.rsvps import RsvpArgsSchema, RsvpSchema
from scheduler.services import events
from scheduler.services.accounts.identity import api_token_owner, sha256_hex
from scheduler.services.gatherings import attendance
from scheduler.web.rate_limits import (
    STORAGE_ERRORS,
    WRITE_SPENT,
    WRITES_PER_ACCOUNT,
    RateLimits,
    account_key,
    refusal_json,
)

log = logging.getLogger(__name__)

RSVP_PATH = re.compile(r"/api/v1/gatherings/([1-9][0-9]{0,8})/rsvp")
MAX_BODY = 256
POOL_SIZE = 8
POOL_WAIT_SECONDS = 5.0
# The database is unreachable (or the function missing: migrations not run): stand aside
# this long before trying again, so the Flask path is not slowed by retries.
PAUSE_AFTER_ERROR_SECONDS = 5.0
JSON_HEADERS = [("Content-Type", "application/json")]


def _compiled_answer() -> str:
    """attendance's statement for the token's owner, as psycopg's SQL text (%(name)s)."""
    owner = api_token_owner(bindparam("token_hash")).scalar_subquery()
    compiled = attendance.answer_statement(owner).compile(dialect=postgresql.psycopg.dialect())
    return str(compiled)


ANSWER_SQL = _compiled_answer()
# whose write budget an answer spends: the token's owner, by the one rule for tokens
OWNER_SQL = str(
    api_token_owner(bindparam("token_hash")).compile(dialect=postgresql.psycopg.dialect())
)
# the language a refusal is written in: the owner's (looked up only for a refusal)
LOCALE_SQL = str(
    select(User.locale)
    .where(User.id == bindparam("user_id"))
    .compile(dialect=postgresql.psycopg.dialect())
)
OWNERS_REMEMBERED = 10_000  # token → owner pairs a process keeps (a token never changes hands)


_ARGS = RsvpArgsSchema()
_DUMP = RsvpSchema()


def parse_answer(environ: dict[str, Any], body: bytes) -> tuple[dict[str, Any], str] | None:
    """(the RSVP schema's arguments, token) of a plain RSVP request, or None when Flask
    should look at it."""
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.partition(";")[0].strip().lower() != "application/json":
        return None
    token = bearer_token(environ.get("HTTP_AUTHORIZATION", ""))
    if token is None or not (token.isascii() and token.isprintable()):
        return None  # not one of our tokens: the view answers 401
    try:
        args = _ARGS.load(json.loads(body))
    except (ValueError, RecursionError, ValidationError):  # Flask explains what is wrong
        return None
    if args["all_future"]:
        return None
    return args, token


def rsvp_body(answer: dict[str, Any]) -> bytes:
    """The JSON the Flask view sends for the function's answer."""
    shown = _DUMP.dump(attendance.outcome_from(answer))
    return json.dumps(shown, separators=(",", ":")).encode() + b"\n"


class ConnectionPool:
    """A few autocommit psycopg connections of this process's own, most recently used first,
    each handed out as its one cursor (made once: a cursor per call costs a third as much
    again as the call).

    Connections are opened lazily, so a forked worker never uses its parent's; after a fork
    the inherited ones are forgotten, not closed (closing would end the parent's session).
    """

    def __init__(self, conninfo: str, options: str, size: int = POOL_SIZE) -> None:
        self.conninfo = conninfo
        self.options = options
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
            return psycopg.connect(self.conninfo, autocommit=True, options=self.options).cursor()
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

    def __init__(self, app: Any, services: Services, rate_limits: RateLimits) -> None:
        self.app = app
        self.services = services
        self.rate_limits = rate_limits
        self._owners: dict[str, int] = {}
        database_url = services.config.database_url
        url = make_url(database_url).set(drivername="postgresql")
        self.pool = ConnectionPool(
            url.render_as_string(hide_password=False), connection_options(database_url)
        )
        services.on_close(self.pool.close)
        self._paused_until = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "PUT" and time.monotonic() >= self._paused_until:
            match = RSVP_PATH.fullmatch(environ.get("PATH_INFO", ""))
            if match is not None:
                answered = self._answer(environ, int(match.group(1)))
                if answered is not None:
                    status, headers, body = answered
                    start_response(status, [*headers, ("Content-Length", str(len(body)))])
                    return [body]
        return self.app(environ, start_response)  # type: ignore[no-any-return]

    def _answer(
        self, environ: dict[str, Any], gathering_id: int
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """Status, headers and body, or None to let Flask answer (the body is put back for it)."""
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
        args, token = parsed
        token_hash = sha256_hex(token)
        if self.rate_limits.enabled:
            owner = self._owner(token_hash)
            if owner is None:  # an unknown token (Flask answers 401), or database trouble
                return None
            try:
                wait = self.rate_limits.spend(WRITES_PER_ACCOUNT, account_key(owner))
            except STORAGE_ERRORS:
                log.warning("RSVP fast path: rate-limit storage error, passing to Flask")
                self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR_SECONDS
                return None
            if wait is not None:
                refusal = refusal_json(WRITES_PER_ACCOUNT, wait, self._locale(owner, environ))
                return "429 Too Many Requests", [*JSON_HEADERS, ("Retry-After", str(wait))], refusal
            environ[WRITE_SPENT] = True
        answer = self._call(token_hash, gathering_id, args)
        if answer is None or "error" in answer:
            return None
        if answer["changed"]:
            events.announce(self.services)
        return "200 OK", JSON_HEADERS, rsvp_body(answer)

    def _locale(self, owner: int, environ: dict[str, Any]) -> str:
        """The language Flask would answer the owner in: theirs, else the browser's (also on
        database trouble)."""
        browser = negotiate_locale(environ.get("HTTP_ACCEPT_LANGUAGE"))
        try:
            cursor = self.pool.acquire()
        except psycopg.Error:
            return browser
        if cursor is None:
            return browser
        try:
            cursor.execute(LOCALE_SQL, {"user_id": owner})
            row = cursor.fetchone()
        except psycopg.Error:
            return browser
        finally:
            self.pool.release(cursor)
        return normalise_locale(row[0]) if row and row[0] else browser

    def _owner(self, token_hash: str) -> int | None:
        """The id of the token's owner (remembered), or None if unknown or on trouble."""
        owner = self._owners.get(token_hash)
        if owner is not None:
            return owner
        try:
            cursor = self.pool.acquire()
        except psycopg.Error:
            return None
        if cursor is None:
            return None
        try:
            cursor.execute(OWNER_SQL, {"token_hash": token_hash}, prepare=True)
            row = cursor.fetchone()
        except psycopg.Error:
            log.warning("RSVP fast path: database error, passing to Flask", exc_info=True)
            return None
        finally:
            self.pool.release(cursor)
        if row is None:
            return None
        if len(self._owners) >= OWNERS_REMEMBERED:
            self._owners.clear()
        self._owners[token_hash] = row[0]
        return int(row[0])

    def _call(
        self, token_hash: str, gathering_id: int, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The function's answer, or None on trouble (Flask will answer)."""
        try:
            cursor = self.pool.acquire()
        except psycopg.Error:
            log.warning("RSVP fast path: cannot connect, passing to Flask", exc_info=True)
            self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR_SECONDS
            return None
        if cursor is None:  # every connection busy for seconds: Flask has its own pool
            return None
        params = {
            "gathering_id": gathering_id,
            "token_hash": token_hash,
            "response": args["response"],
            "now": utcnow(),
            "origin": attendance.AnswerOrigin.SINGLE,
            "take_lock": attendance.LOCKING,
            "guests": args["guests"],
            "answers": attendance.answers_param(args["answers"]),
        }
        try:
            cursor.execute(ANSWER_SQL, params, prepare=True)
            row = cursor.fetchone()
        except psycopg.errors.UndefinedFunction:
            log.warning("RSVP fast path: kindred_answer is missing (run the migrations)")
            self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR_SECONDS
            return None
        except psycopg.Error:
            log.warning("RSVP fast path: database error, passing to Flask", exc_info=True)
            return None
        finally:
            self.pool.release(cursor)
        return row[0] if row else None
