"""ICS feeds for calendar apps: the secret personal feed, group feeds, one-gathering files.

Polls of a personal feed whose state Redis remembers are answered before Flask by
scheduler/web/feed_fastpath.py; these views answer everything else (and refill its caches),
with the same headers.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, request

from scheduler.domain.errors import NotFound
from scheduler.extensions import current_services, db_session
from scheduler.models import Group
from scheduler.services.accounts.identity import sha256_hex, user_for_feed_token
from scheduler.services.calendars import feeds
from scheduler.services.gatherings.access import require_visible
from scheduler.services.gatherings.lifecycle import get_gathering
from scheduler.web.auth import page_user
from scheduler.web.feed_fastpath import (
    PERSONAL_FILENAME,
    accepts_gzip,
    body_headers,
    etag_matches,
    not_modified_headers,
)

bp = Blueprint("feeds", __name__)

# Feed tokens are 64 hex digits; anything else cannot be one (and costs no query).
_TOKEN = re.compile(r"[0-9a-f]{64}")


def _answer(feed: feeds.Feed, filename: str) -> Response:
    """304 when the client has this ETag, else the (cached) feed text, gzipped if accepted."""
    services = current_services()
    compressed = accepts_gzip(request.headers.get("Accept-Encoding"))
    headers = not_modified_headers(feed.etag, feed.cache_control, compressed)
    if etag_matches(request.headers.get("If-None-Match"), feed.etag):
        return Response(status=304, headers=headers)
    body = feeds.feed_body(
        db_session(), feed, services.config, services.redis, compressed=compressed
    )
    return Response(body, headers=headers + body_headers(filename, compressed))


@bp.get("/feeds/<token>.ics")
def personal_feed(token: str) -> Response:
    """The personal feed behind a secret URL; unknown or rotated tokens are 404."""
    if not _TOKEN.fullmatch(token):
        raise NotFound("No such feed.")
    services = current_services()
    # Tokens are looked up by their SHA-256 (in Redis and the database alike): the time taken
    # says nothing about how close a guess was, and a rotated token matches nothing.
    token_hash = sha256_hex(token)
    state, generation = feeds.remembered_personal_feed(services.redis, token_hash)
    if state is not None:
        return _answer(feeds.personal_feed_from_state(state), PERSONAL_FILENAME)
    user = user_for_feed_token(db_session(), token)
    if user is None:
        raise NotFound("No such feed.")
    feed = feeds.personal_feed(db_session(), user, services.config)
    feeds.remember_personal_feed(services.redis, token_hash, feed, user.id, generation)
    return _answer(feed, PERSONAL_FILENAME)


@bp.get("/groups/<int:group_id>.ics")
def group_feed(group_id: int) -> Response:
    """A group's public feed."""
    group = db_session().get(Group, group_id)
    if group is None:
        raise NotFound("No group with id %(id)s.", id=group_id)
    feed = feeds.group_feed(db_session(), group, current_services().config)
    return _answer(feed, f"group-{group_id}.ics")


@bp.get("/gatherings/<int:gathering_id>.ics")
def gathering_file(gathering_id: int) -> Response:
    """One gathering as a calendar file; 404 until it has a time, and to anyone outside its
    group when it is for members (the signed-in page session counts); its place only for
    those who may see it."""
    gathering = get_gathering(db_session(), gathering_id)
    # calendar apps send no cookie: their requests leave the session (and Vary: Cookie) alone
    signed_in = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
    rights = require_visible(db_session(), gathering, page_user() if signed_in else None)
    if gathering.starts_at is None:
        raise NotFound("This gathering has no time yet.")
    feed = feeds.gathering_feed(
        db_session(), gathering, current_services().config, hide_location=not rights.see_location
    )
    return _answer(feed, f"gathering-{gathering_id}.ics")
