"""Subscribable ICS feeds: which gatherings each feed holds, its ETag, and cached rendering.

ETag: a hash of a cheap aggregate over the feed's gatherings (count, sum of ids, sum of
revisions and sequences, latest updated_at) plus what else the text shows (feed name, the
format version and the config that goes into URLs). Any change a feed shows bumps a
gathering's revision (and touches updated_at), a gathering joining or leaving the feed
changes the count and id sum, so an unchanged feed keeps its ETag and a changed one gets a
new one, without rendering anything. For a personal feed the owner's feed-token nonce is
part of it, so a rotated URL never shares cache entries with the old one.

Rendering: each VEVENT's text is cached in Redis by (UID, SEQUENCE, revision, updated_at)
and the whole feed by its ETag, plain and gzip-compressed side by side (calendar apps send
`Accept-Encoding: gzip`), so polling an unchanged feed costs one aggregate query and one
Redis GET (or nothing but the query, with If-None-Match). A personal feed's ETag is also
remembered per token (see PersonalFeedState), which lets scheduler/web/feed_fastpath.py answer
polls from Redis alone. Redis holds only caches here: when it is down or wiped, feeds are
rendered from the database (and the caches refilled).

One event that cannot be rendered (a row written past the input checks: a time outside
domain/date_bounds.py, a broken RRULE, an unknown zone) is logged and left out; the feed
still answers with the rest.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import redis
from sqlalchemy import Select, and_, event, func, not_, select, union
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from scheduler.config import Config
from scheduler.domain import language
from scheduler.domain.access import Relation, Visibility, gathering_access
from scheduler.domain.date_bounds import REPRESENTABLE_EARLIEST, REPRESENTABLE_LATEST
from scheduler.domain.ical import EventSpec, assemble_feed, build_event_fragment
from scheduler.extensions import Services, after_commit
from scheduler.models import Gathering, GatheringStatus, Group, Rsvp, User
from scheduler.models.series import Series, SeriesAnswer
from scheduler.services.calendars import ical_events
from scheduler.services.gatherings import access
from scheduler.services.gatherings.series import occurrences_of
from scheduler.services.groups.access import anonymous_name

log = logging.getLogger(__name__)

# Bump when the text of fragments or feeds changes shape: every cached entry is then unused.
FEED_FORMAT = "kindred-feed-4"
FRAGMENT_TTL_SECONDS = 7 * 86400
FEED_TTL_SECONDS = 86400
# A gathering with a time is in feeds; a cancelled one stays, as STATUS:CANCELLED.
FEED_STATUSES = (GatheringStatus.SCHEDULED, GatheringStatus.CANCELLED, GatheringStatus.COMPLETED)
ATTENDING_STATES = ("going", "waitlisted", "maybe")
PERSONAL_CACHE_CONTROL = "private, max-age=300"
PUBLIC_CACHE_CONTROL = "public, max-age=300"
# A personal feed's ETag is remembered per token for this long, and only while no gathering,
# RSVP, user or group has changed since (the generation counter below): a poll of an unchanged
# feed then needs no database query at all. The TTL bounds staleness should a change ever
# bypass the ORM (bulk UPDATEs): it is below the max-age clients already accept.
STATE_TTL_SECONDS = 60
GENERATION_KEY = "kindred:feeds:generation"
_FEED_MODELS = (Gathering, Rsvp, User, Group, Series)
_DIRTY = "kindred_feeds_dirty"


@dataclass(frozen=True)
class Feed:
    """A feed's identity: its name, its ETag and (built only when rendering) its query.

    `series_masters` selects the series shown as one VEVENT with RRULE (plus overrides and
    EXDATEs); occurrences of other series appear as single events.
    """

    name: str
    etag: str
    gatherings: Callable[[], Select[tuple[Gathering]]]
    cache_control: str
    series_masters: Callable[[], Select[tuple[int]]] | None = None
    # its readers may not see places (a group's feed, anyone's; a file for an outsider)
    hide_location: bool = False
    # a personal feed's owner: online links they may use are in it (CONFERENCE)
    owner_id: int | None = None
    # the language of the text Kindred adds (a personal feed: its owner's, read again when
    # rendering; a group's: its organizer's)
    locale: str = language.DEFAULT_LOCALE


def personal_series(user_id: int) -> Select[tuple[int]]:
    """Series the user follows as a whole: organizes, or answered "all future" yes/maybe."""
    return union(
        select(Series.id).where(Series.organizer_id == user_id),
        select(SeriesAnswer.series_id).where(
            SeriesAnswer.user_id == user_id, SeriesAnswer.response.in_(("yes", "maybe"))
        ),
    )  # type: ignore[return-value]


def group_series(group_id: int) -> Select[tuple[int]]:
    """Series of a group: its feed shows each one whole."""
    return select(Series.id).where(Series.group_id == group_id)


def _in_feeds(stmt: Select[tuple[Gathering]]) -> Select[tuple[Gathering]]:
    return stmt.where(Gathering.starts_at.is_not(None), Gathering.status.in_(FEED_STATUSES))


# Rows outside these times cannot be rendered, and past the year 9999 not even loaded.
_REPRESENTABLE = and_(
    Gathering.starts_at.between(REPRESENTABLE_EARLIEST, REPRESENTABLE_LATEST),
    Gathering.ends_at.between(REPRESENTABLE_EARLIEST, REPRESENTABLE_LATEST),
)


def personal_gathering_ids(user_id: int) -> Select[tuple[int]]:
    """Ids of the gatherings the user organizes or answered yes/maybe to (going, waitlisted,
    maybe)."""
    return union(
        select(Gathering.id).where(Gathering.organizer_id == user_id),
        select(Rsvp.gathering_id).where(Rsvp.user_id == user_id, Rsvp.state.in_(ATTENDING_STATES)),
    )  # type: ignore[return-value]


def personal_gatherings(user_id: int) -> Select[tuple[Gathering]]:
    """The personal feed's gatherings, by start."""
    return _in_feeds(
        select(Gathering)
        .where(Gathering.id.in_(personal_gathering_ids(user_id)))
        .order_by(Gathering.starts_at, Gathering.id)
    )


def group_gatherings(group_id: int) -> Select[tuple[Gathering]]:
    """A group's feed (anyone may read it): its public scheduled, completed and cancelled
    gatherings, by start; members-only and unlisted ones are not listed for outsiders."""
    return _in_feeds(
        select(Gathering)
        .where(Gathering.group_id == group_id, Gathering.visibility == Visibility.PUBLIC.value)
        .order_by(Gathering.starts_at, Gathering.id)
    )


# what a reader without an account may see of a group's public gathering (domain/access.py)
_GROUP_FEED_ACCESS = gathering_access(Relation.SIGNED_OUT, Visibility.PUBLIC, in_group=True)


def _config_marker(config: Config) -> str:
    """What of the config shows in feed text (links, the ORGANIZER address)."""
    return f"{FEED_FORMAT}|{config.base_url}|{config.mail_from}"


def _etag(session: Session, stmt: Select[tuple[Gathering]], *parts: object) -> str:
    """The ETag of the gatherings `stmt` selects, plus `parts` (see the module docstring)."""
    feed = stmt.order_by(None).subquery()
    row = session.execute(
        select(
            func.count(feed.c.id),
            func.coalesce(func.sum(feed.c.id), 0),
            func.coalesce(func.sum(feed.c.revision), 0),
            func.coalesce(func.sum(feed.c.sequence), 0),
            func.max(feed.c.updated_at),
        )
    ).one()
    material = "|".join(str(p) for p in (*parts, *row))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def personal_feed(session: Session, user: User, config: Config) -> Feed:
    """The user's personal feed (their ETag includes the feed-token nonce)."""
    stmt = personal_gatherings(user.id)
    locale = language.normalise_locale(user.locale)
    name = language.translate(locale, "Kindred: %(name)s", name=user.name)
    etag = _etag(
        session,
        stmt,
        _config_marker(config),
        "user",
        user.id,
        user.feed_token_nonce,
        name,
        locale,
    )
    return Feed(
        name=name,
        etag=etag,
        gatherings=lambda: stmt,
        cache_control=PERSONAL_CACHE_CONTROL,
        series_masters=lambda: personal_series(user.id),
        owner_id=user.id,
        locale=locale,
    )


def group_feed(session: Session, group: Group, config: Config) -> Feed:
    """A group's public feed, in its organizer's language (it has no reader of its own)."""
    stmt = group_gatherings(group.id)
    locale = language.normalise_locale(group.organizer.locale if group.organizer else None)
    name = language.translate(locale, "Kindred: %(name)s", name=group.name)
    hide = not _GROUP_FEED_ACCESS.see_location
    etag = _etag(session, stmt, _config_marker(config), "group", group.id, name, hide, locale)
    return Feed(
        name=name,
        etag=etag,
        gatherings=lambda: stmt,
        cache_control=PUBLIC_CACHE_CONTROL,
        series_masters=lambda: group_series(group.id),
        hide_location=hide,
        locale=locale,
    )


def gathering_feed(
    session: Session, gathering: Gathering, config: Config, *, hide_location: bool = False
) -> Feed:
    """One gathering as a calendar file (for the download link); without its place for a
    reader who may not see it. A file with a group's place in it is not for shared caches."""
    stmt = _in_feeds(select(Gathering).where(Gathering.id == gathering.id))
    name = gathering.title
    etag = _etag(
        session, stmt, _config_marker(config), "gathering", gathering.id, name, hide_location
    )
    private = gathering.group_id is not None and not hide_location
    return Feed(
        name=name,
        etag=etag,
        gatherings=lambda: stmt,
        cache_control=PERSONAL_CACHE_CONTROL if private else PUBLIC_CACHE_CONTROL,
        hide_location=hide_location,
    )


def fragment_key(
    gathering: Gathering,
    config: Config,
    *,
    hide_location: bool = False,
    with_link: bool = False,
    locale: str = language.DEFAULT_LOCALE,
) -> str:
    """The Redis key of a gathering's VEVENT text: (UID, SEQUENCE, revision, updated_at),
    and whether its place, its organizer's name and its online link are shown. Only a text
    with a link or a hidden organizer name has words of Kindred's own ("Join online", "A
    Kindred member"): its key names their language."""
    marker = hashlib.sha256(_config_marker(config).encode()).hexdigest()[:12]
    stamp = gathering.updated_at.timestamp() if gathering.updated_at else 0
    shown = f"{int(hide_location)}{int(gathering.organizer.share_name)}{int(with_link)}"
    if with_link or not gathering.organizer.share_name:
        shown += f":{language.normalise_locale(locale)}"
    return (
        f"kindred:ics:frag:{marker}:{gathering.uid}:{gathering.sequence}:"
        f"{gathering.revision}:{stamp}:{shown}"
    )


def _private_parts_hidden(
    spec: EventSpec, *, hide_location: bool, organizer_shares_name: bool
) -> EventSpec:
    """The spec without its place (for readers who may not see it) and with a hidden
    organizer name kept hidden."""
    if hide_location:
        spec = replace(spec, location="")
    if spec.organizer is not None and not organizer_shares_name:
        spec = replace(spec, organizer=replace(spec.organizer, name=anonymous_name(spec.locale)))
    return spec


def body_key_parts(compressed: bool = False) -> tuple[str, str]:
    """(prefix, suffix) around the ETag in the Redis key of a feed's text."""
    return ("kindred:ics:feed:", ":gzip" if compressed else "")


def body_key(etag: str, compressed: bool = False) -> str:
    """The Redis key of a feed's text for this ETag, plain or gzip-compressed."""
    prefix, suffix = body_key_parts(compressed)
    return f"{prefix}{etag}{suffix}"


def feed_key(feed: Feed) -> str:
    """The Redis key of a rendered feed (the plain text)."""
    return body_key(feed.etag)


def compress(body: bytes) -> bytes:
    """The gzip variant of a feed: deterministic (no timestamp), so equal text, equal bytes.

    Level 9: compressed once per revision (5 ms for 235 kB), sent on every poll (7% smaller
    than level 6)."""
    return gzip.compress(body, compresslevel=9, mtime=0)


def render_fragment(
    gathering: Gathering,
    config: Config,
    *,
    hide_location: bool = False,
    online_url: str = "",
    locale: str = language.DEFAULT_LOCALE,
) -> str:
    """A gathering's VEVENT for feeds: no attendees; DTSTAMP is its last change (RFC 5545
    §3.8.7.2 for calendars without METHOD), which keeps the text deterministic. `online_url`
    only in the personal feed of someone who may use it."""
    spec = _private_parts_hidden(
        ical_events.event_spec(gathering, config, online_url=online_url, locale=locale),
        hide_location=hide_location and gathering.group_id is not None,
        organizer_shares_name=gathering.organizer.share_name,
    )
    return build_event_fragment(spec, gathering.updated_at or gathering.created_at)


def fragments(
    gatherings: Sequence[Gathering],
    config: Config,
    cache: redis.Redis | None,
    *,
    hide_location: bool = False,
    links: dict[int, str] | None = None,
    locale: str = language.DEFAULT_LOCALE,
) -> list[str]:
    """VEVENT texts for the gatherings: from the cache, rendering (and storing) the missing.
    `links`: the online links the feed's reader may use, by gathering id; `locale`: the
    language of the words around them."""
    links = links or {}
    keys = [
        fragment_key(g, config, hide_location=hide_location, with_link=g.id in links, locale=locale)
        for g in gatherings
    ]
    cached: list[bytes | None] = [None] * len(keys)
    if cache is not None and keys:
        try:
            cached = cache.mget(keys)
        except redis.RedisError:
            log.warning("feed fragment cache unavailable", exc_info=True)
            cache = None
    texts: list[str] = []
    missing: dict[str, str] = {}
    for gathering, key, hit in zip(gatherings, keys, cached, strict=True):
        if hit is not None:
            texts.append(hit.decode("utf-8"))
            continue
        try:
            text = render_fragment(
                gathering,
                config,
                hide_location=hide_location,
                online_url=links.get(gathering.id, ""),
                locale=locale,
            )
        except SQLAlchemyError:
            raise
        except Exception:
            log.exception("gathering %s cannot be rendered; left out of feeds", gathering.id)
            continue
        missing[key] = text
        texts.append(text)
    if cache is not None and missing:
        try:
            pipe = cache.pipeline(transaction=False)
            for key, text in missing.items():
                pipe.set(key, text.encode("utf-8"), ex=FRAGMENT_TTL_SECONDS)
            pipe.execute()
        except redis.RedisError:
            log.warning("could not store feed fragments", exc_info=True)
    return texts


def series_fragments(
    session: Session,
    in_feed: Sequence[Gathering],
    masters: set[int],
    config: Config,
    *,
    hide_location: bool = False,
    owner: User | None = None,
    locale: str = language.DEFAULT_LOCALE,
) -> list[str]:
    """VEVENT texts of whole series: master with RRULE/EXDATE plus overrides, one UID each.

    Materialised occurrences not in this feed (e.g. declined by the feed's owner) become
    EXDATEs; the owner's online links go where they may use them. Rendered per request of
    an uncached feed; the feed text itself is cached.
    """
    feed_ids = {g.id for g in in_feed}
    texts: list[str] = []
    for series_id in sorted({g.series_id for g in in_feed if g.series_id in masters}):
        series = session.get(Series, series_id)
        if series is None:
            continue
        occurrences = occurrences_of(session, series_id)
        excluded = {g.id for g in occurrences if g.id not in feed_ids}
        stamp = max((g.updated_at for g in occurrences), default=series.created_at)
        try:
            links = access.online_urls_for_many(session, occurrences, owner) if owner else {}
            specs = ical_events.series_event_specs(
                series, occurrences, config, excluded=excluded, links=links, locale=locale
            )
            organizer = session.get(User, series.organizer_id)
            shares_name = organizer is None or organizer.share_name
            hide = hide_location and series.group_id is not None
            texts.extend(
                [
                    build_event_fragment(
                        _private_parts_hidden(
                            spec,
                            hide_location=hide,
                            organizer_shares_name=shares_name,
                        ),
                        stamp,
                    )
                    for spec in specs
                ]
            )
        except SQLAlchemyError:
            raise
        except Exception:
            log.exception("series %s cannot be rendered; left out of feeds", series_id)
    return texts


def _cached(cache: redis.Redis | None, key: str) -> tuple[bytes | None, redis.Redis | None]:
    """(the cached value or None, the cache, or None once it failed)."""
    if cache is None:
        return None, None
    try:
        value = cache.get(key)
    except redis.RedisError:
        log.warning("feed cache unavailable", exc_info=True)
        return None, None
    return (bytes(value) if value is not None else None), cache


def _store(cache: redis.Redis | None, entries: dict[str, bytes]) -> None:
    if cache is None:
        return
    try:
        pipe = cache.pipeline(transaction=False)
        for key, value in entries.items():
            pipe.set(key, value, ex=FEED_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not store a rendered feed", exc_info=True)


def render_feed(session: Session, feed: Feed, config: Config, cache: redis.Redis | None) -> bytes:
    """The feed's text: the cached copy for its ETag, or assembled from fragments (and cached,
    with its gzip variant beside it)."""
    body, cache = _cached(cache, feed_key(feed))
    if body is not None:
        return body
    stmt = feed.gatherings()
    for gathering_id in session.scalars(
        stmt.with_only_columns(Gathering.id).where(not_(_REPRESENTABLE))
    ):
        log.error(
            "gathering %s is outside the years Kindred keeps; left out of feeds", gathering_id
        )
    gatherings = list(
        session.scalars(
            stmt.where(_REPRESENTABLE).options(selectinload(Gathering.interests))
        ).unique()
    )
    masters = set(session.scalars(feed.series_masters())) if feed.series_masters else set()
    single = [g for g in gatherings if g.series_id not in masters]
    owner = session.get(User, feed.owner_id) if feed.owner_id is not None else None
    links = access.online_urls_for_many(session, single, owner) if owner is not None else {}
    locale = language.normalise_locale(owner.locale) if owner is not None else feed.locale
    texts = fragments(
        single, config, cache, hide_location=feed.hide_location, links=links, locale=locale
    )
    texts.extend(
        series_fragments(
            session,
            gatherings,
            masters,
            config,
            hide_location=feed.hide_location,
            owner=owner,
            locale=locale,
        )
    )
    body = assemble_feed(feed.name, texts)  # zones come from the texts that rendered
    _store(cache, {feed_key(feed): body, body_key(feed.etag, True): compress(body)})
    return body


def feed_body(
    session: Session,
    feed: Feed,
    config: Config,
    cache: redis.Redis | None,
    *,
    compressed: bool = False,
) -> bytes:
    """The feed's text as sent: plain, or its gzip variant (each cached under the ETag)."""
    if not compressed:
        return render_feed(session, feed, config, cache)
    body, cache = _cached(cache, body_key(feed.etag, True))
    if body is not None:
        return body
    body = compress(render_feed(session, feed, config, cache))
    _store(cache, {body_key(feed.etag, True): body})
    return body


@dataclass(frozen=True)
class PersonalFeedState:
    """A personal feed's identity as remembered in Redis for one token."""

    user_id: int
    name: str
    etag: str


def state_key(token_hash: str) -> str:
    """The Redis key remembering the personal feed behind a token (by the token's SHA-256)."""
    return f"kindred:feeds:state:{token_hash}"


def parse_state(state: bytes | None, generation: bytes | None) -> PersonalFeedState | None:
    """The remembered state if it was stored under the current generation, else None."""
    if state is None or generation is None:
        return None
    remembered_generation, etag, user_id, name = state.decode("utf-8").split("|", 3)
    if remembered_generation.encode() != generation:
        return None
    return PersonalFeedState(user_id=int(user_id), name=name, etag=etag)


def remembered_personal_feed(
    cache: redis.Redis, token_hash: str
) -> tuple[PersonalFeedState | None, bytes | None]:
    """(the remembered state if still valid, the generation to remember a new one under)."""
    try:
        state, generation = cache.mget([state_key(token_hash), GENERATION_KEY])
    except redis.RedisError:
        log.warning("feed state cache unavailable", exc_info=True)
        return None, None
    if generation is None:
        # Never bumped, or evicted or wiped: start the counter afresh at a random value, so
        # that no state remembered under an earlier generation can ever match it again.
        start = str(secrets.randbelow(2**62)).encode()
        try:
            created = cache.set(GENERATION_KEY, start, nx=True)
        except redis.RedisError:
            return None, None
        # if another process started it meanwhile, remember nothing this time
        return None, (start if created else None)
    return parse_state(state, generation), generation


def remember_personal_feed(
    cache: redis.Redis, token_hash: str, feed: Feed, user_id: int, generation: bytes | None
) -> None:
    """Remember the feed's ETag under the generation read before the database was queried."""
    if generation is None:
        return
    value = f"{generation.decode()}|{feed.etag}|{user_id}|{feed.name}"
    try:
        cache.set(state_key(token_hash), value.encode("utf-8"), ex=STATE_TTL_SECONDS)
    except redis.RedisError:
        log.warning("could not remember a feed state", exc_info=True)


def personal_feed_from_state(state: PersonalFeedState) -> Feed:
    """The Feed of a remembered state (its query runs only if the body is not cached)."""
    return Feed(
        name=state.name,
        etag=state.etag,
        gatherings=lambda: personal_gatherings(state.user_id),
        cache_control=PERSONAL_CACHE_CONTROL,
        series_masters=lambda: personal_series(state.user_id),
        owner_id=state.user_id,
    )


def forget_remembered_feeds(_services: Services) -> list[tuple[str, str]]:
    """Feed data changed (domain events were recorded): no remembered feed state holds. An
    event listener: the Redis command that says so."""
    return [("INCR", GENERATION_KEY)]


def bump_generation(cache: redis.Redis) -> None:
    """Forget every remembered feed state (called after a commit that changed feed data)."""
    try:
        cache.incr(GENERATION_KEY)
    except redis.RedisError:
        log.warning("could not bump the feed generation", exc_info=True)


@event.listens_for(Session, "after_flush")
def _note_feed_changes(session: Session, _context: object) -> None:
    """After a flush that touched feed data, bump the generation once the commit lands."""
    if session.info.get(_DIRTY) or "services" not in session.info:
        return
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, _FEED_MODELS) for obj in touched):
        session.info[_DIRTY] = True
        services = session.info["services"]

        def bump() -> None:
            session.info.pop(_DIRTY, None)
            bump_generation(services.redis)

        after_commit(session, bump)


@event.listens_for(Session, "after_soft_rollback")
def _forget_feed_changes(session: Session, _previous: object) -> None:
    if not session.in_transaction():
        session.info.pop(_DIRTY, None)
