"""A lean WSGI fast path for polls of personal feeds, in front of the Flask app.

Calendar apps poll every feed URL over and over, and almost every poll finds the feed
unchanged. Flask's request cycle (context, session, URL routing, response object) costs
more than the answer itself, so `FeedFastPath` answers `GET`/`HEAD /feeds/<token>.ics` from
Redis alone when it can: the token's remembered state (scheduler/services/calendars/feeds.py,
`PersonalFeedState`, valid only under the current generation) gives the ETag, so a matching
`If-None-Match` is a 304, and otherwise the rendered text cached under that ETag is sent,
gzip-compressed when the client accepts it. All of that is one small Lua script, so a poll
costs one round trip to Redis, 304 or 200 alike, and a 304 moves no body.

Everything else goes on to Flask unchanged: another URL or method, a token with no valid
remembered state (unknown, rotated, not polled lately, or anything changed since), a body
not in the cache, or any Redis trouble. The Flask view (scheduler/web/feeds.py) asks the
database, which stays the source of truth, answers 404 for unknown tokens and refills the
caches. Revocation is immediate: rotating a token changes the user row, which bumps the
generation when the commit lands, so no state remembered before it is valid afterwards.
The token is only ever looked up by its SHA-256, here as in the database, so the time taken
says nothing about how close a guess was.

The header helpers below are shared with the Flask view, so both paths answer alike.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import redis
from redis.exceptions import NoScriptError
from werkzeug.http import parse_etags

from scheduler.services.accounts.identity import sha256_hex
from scheduler.services.calendars import feeds

if TYPE_CHECKING:
    from scheduler.extensions import Services

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/calendar; charset=utf-8"
PERSONAL_FILENAME = "kindred.ics"
FEED_PATH = re.compile(r"/feeds/([0-9a-f]{64})\.ics")
# After a Redis error the fast path stands aside this long, so a sick Redis is not waited
# on twice per request (here and again in the Flask view).
PAUSE_AFTER_ERROR_SECONDS = 5.0

Headers = list[tuple[str, str]]

# KEYS: the token's remembered state, the generation. ARGV: the body key's prefix and suffix
# (plain or gzip), then the entity tags the client already has (If-None-Match).
# Returns 0 (let Flask answer), {etag} (not modified) or {etag, body}. The state is
# "generation|etag|user_id|name", as feeds.remember_personal_feed writes it and
# feeds.parse_state reads it; it counts only under the current generation. The body's key
# is built inside the script from the ETag, which needs a standalone Redis (not a cluster),
# as RQ does anyway.
POLL_SCRIPT = b"""
local state = redis.call('GET', KEYS[1])
if not state then return 0 end
local generation = redis.call('GET', KEYS[2])
if not generation then return 0 end
local bar = string.find(state, '|', 1, true)
if not bar or string.sub(state, 1, bar - 1) ~= generation then return 0 end
local next_bar = string.find(state, '|', bar + 1, true)
if not next_bar then return 0 end
local etag = string.sub(state, bar + 1, next_bar - 1)
for i = 3, #ARGV do
  if ARGV[i] == etag or ARGV[i] == '*' then return {etag} end
end
local body = redis.call('GET', ARGV[1] .. etag .. ARGV[2])
if not body then return 0 end
return {etag, body}
"""
POLL_SCRIPT_SHA = hashlib.sha1(POLL_SCRIPT).hexdigest()


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when the Accept-Encoding header allows gzip (`gzip`, `x-gzip` or `*`, q > 0)."""
    if not accept_encoding:
        return False
    wildcard = 0.0
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            return _quality(params) > 0
        if coding == "*":
            wildcard = _quality(params)
    return wildcard > 0


def _quality(params: str) -> float:
    """The q parameter of one Accept-Encoding item (1 when absent, 0 when malformed)."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0 <= quality <= 1 else 0.0
    return 1.0


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 §13.1.2): any listed tag, W/ or not, or `*`."""
    if not if_none_match:
        return False
    return parse_etags(if_none_match).contains_weak(etag)


def _client_tags(if_none_match: str) -> tuple[str, ...]:
    """The entity tags in If-None-Match, weak or strong alike (`*` stays `*`)."""
    tags = parse_etags(if_none_match)
    return ("*",) if tags.star_tag else tuple(tags.as_set(include_weak=True))


def etag_header(etag: str, compressed: bool) -> str:
    """The ETag of the plain text is strong; the gzip variant's is the same tag, weak (as
    nginx does), since the two are the same content in different bytes."""
    return f'W/"{etag}"' if compressed else f'"{etag}"'


def not_modified_headers(etag: str, cache_control: str, compressed: bool) -> Headers:
    """Headers of a 304: what a 200 would say about caching."""
    return [
        ("ETag", etag_header(etag, compressed)),
        ("Cache-Control", cache_control),
        ("Vary", "Accept-Encoding"),
    ]


def body_headers(filename: str, compressed: bool) -> Headers:
    """Headers of a 200 besides the caching ones and Content-Length."""
    headers = [
        ("Content-Type", CONTENT_TYPE),
        ("Content-Disposition", f'inline; filename="{filename}"'),
    ]
    if compressed:
        headers.append(("Content-Encoding", "gzip"))
    return headers


class FeedFastPath:
    """WSGI middleware: answers polls of personal feeds from Redis, passes the rest on."""

    def __init__(self, app: Any, services: Services) -> None:
        self.app = app
        self.services = services
        self.redis = services.bare_redis
        self._paused_until = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if path.startswith("/feeds/") and (method == "GET" or method == "HEAD"):
            match = FEED_PATH.fullmatch(path)
            if match is not None and time.monotonic() >= self._paused_until:
                answer = self._answer(environ, match.group(1))
                if answer is not None:
                    status, headers, body = answer
                    start_response(status, headers)
                    return [] if method == "HEAD" else [body]
        return self.app(environ, start_response)  # type: ignore[no-any-return]

    def _answer(self, environ: dict[str, Any], token: str) -> tuple[str, Headers, bytes] | None:
        """(status, headers, body) from Redis, or None to let Flask answer."""
        compressed = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        known = _client_tags(if_none_match) if if_none_match else ()
        prefix, suffix = feeds.body_key_parts(compressed)
        keys = (feeds.state_key(sha256_hex(token)), feeds.GENERATION_KEY)
        try:
            with self.redis.connection() as connection:
                reply = self._poll(connection, keys, (prefix, suffix, *known))
        except (redis.RedisError, OSError, ValueError):
            log.warning("feed fast path: Redis error, passing to Flask", exc_info=True)
            self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR_SECONDS
            return None
        if not reply:  # no valid state, or the text is not cached: Flask looks and refills
            return None
        etag = reply[0].decode("ascii")
        headers = not_modified_headers(etag, feeds.PERSONAL_CACHE_CONTROL, compressed)
        if len(reply) == 1:
            return "304 Not Modified", headers, b""
        body = bytes(reply[1])
        headers += body_headers(PERSONAL_FILENAME, compressed)
        headers.append(("Content-Length", str(len(body))))
        return "200 OK", headers, body

    @staticmethod
    def _poll(connection: Any, keys: tuple[str, str], args: tuple[str, ...]) -> Any:
        """POLL_SCRIPT's reply (loading the script first if this Redis does not have it)."""
        try:
            connection.send_command("EVALSHA", POLL_SCRIPT_SHA, len(keys), *keys, *args)
            return connection.read_response()
        except NoScriptError:  # a restarted or new Redis
            pass
        connection.send_command("SCRIPT", "LOAD", POLL_SCRIPT)
        connection.read_response()
        connection.send_command("EVALSHA", POLL_SCRIPT_SHA, len(keys), *keys, *args)
        return connection.read_response()
