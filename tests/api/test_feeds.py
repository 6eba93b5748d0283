"""ICS feeds over HTTP: contents, ETag/304, caching, token rotation, group and single files."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import icalendar
import vobject
from sqlalchemy import text

from scheduler.services.calendars import feeds


def future(days: int = 10) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def create(api, organizer, **extra):
    if extra.get("group_id") is not None:
        # these tests read a group's public feed (members-only ones: tests/test_group_access.py)
        extra.setdefault("visibility", "public")
    body = {
        "title": "Soldering evening",
        "timezone": "Europe/Berlin",
        "duration_minutes": 90,
        "starts_at": future().isoformat(),
        **extra,
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def answer(api, user, gathering_id, value):
    response = api.call(
        "PUT", f"/api/v1/gatherings/{gathering_id}/rsvp", user, json={"response": value}
    )
    assert response.status_code == 200, response.get_json()


def feed_path(api, user) -> str:
    url = api.call("GET", "/api/v1/me", user).get_json()["feed_url"]
    return url.removeprefix("http://kindred.test")


def events(body: bytes) -> dict[str, icalendar.Event]:
    """VEVENTs by SUMMARY, after checking that vobject reads the same feed."""
    cal = icalendar.Calendar.from_ical(body)
    parsed = vobject.readOne(body.decode("utf-8"))
    found = {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}
    assert sorted(v.summary.value for v in parsed.contents.get("vevent", [])) == sorted(found)
    return found


def test_personal_feed_holds_what_i_organize_and_answered_yes_or_maybe_to(api):
    me, other = api.signup("Me"), api.signup("Other")
    create(api, me, title="Mine")
    yes = create(api, other, title="Said yes")
    maybe = create(api, other, title="Said maybe")
    no = create(api, other, title="Said no")
    create(api, other, title="Never answered")
    answer(api, me, yes["id"], "yes")
    answer(api, me, maybe["id"], "maybe")
    answer(api, me, no["id"], "no")

    response = api.client.get(feed_path(api, me))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=300"
    assert response.headers["ETag"]
    body = response.data
    assert sorted(events(body)) == ["Mine", "Said maybe", "Said yes"]
    cal = icalendar.Calendar.from_ical(body)
    assert "METHOD" not in cal
    assert str(cal["X-WR-CALNAME"]) == "Kindred: Me"
    assert str(cal["NAME"]) == "Kindred: Me"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in body
    assert b"X-PUBLISHED-TTL:PT1H" in body
    assert b"ATTENDEE" not in body  # feeds list nobody's address


def test_unchanged_feed_answers_304_and_any_change_a_new_etag(api):
    me = api.signup("Me")
    g = create(api, me, title="Mine")
    path = feed_path(api, me)
    first = api.client.get(path)
    etag = first.headers["ETag"]
    again = api.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag

    api.call("PATCH", f"/api/v1/gatherings/{g['id']}", me, json={"title": "Renamed"})
    changed = api.client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert list(events(changed.data)) == ["Renamed"]


def test_reschedule_and_cancel_keep_the_uid_raise_the_sequence_and_stay_in_the_feed(api):
    me = api.signup("Me")
    g = create(api, me, title="Mine")
    path = feed_path(api, me)
    created = events(api.client.get(path).data)["Mine"]
    moved_to = future(20)
    api.call("PATCH", f"/api/v1/gatherings/{g['id']}", me, json={"starts_at": moved_to.isoformat()})
    moved = events(api.client.get(path).data)["Mine"]
    api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel", me)
    cancelled = events(api.client.get(path).data)["Mine"]

    assert str(created["UID"]) == str(moved["UID"]) == str(cancelled["UID"])
    assert created["SEQUENCE"] < moved["SEQUENCE"] < cancelled["SEQUENCE"]
    assert moved.decoded("DTSTART") == moved_to
    assert moved["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert cancelled["STATUS"] == "CANCELLED"


def test_saying_no_takes_a_gathering_out_of_my_feed(api):
    me, other = api.signup("Me"), api.signup("Other")
    g = create(api, other, title="Theirs")
    answer(api, me, g["id"], "yes")
    path = feed_path(api, me)
    etag = api.client.get(path).headers["ETag"]
    answer(api, me, g["id"], "no")
    response = api.client.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert events(response.data) == {}


def test_an_unchanged_feed_is_served_from_the_cache_without_rendering(api, monkeypatch):
    me = api.signup("Me")
    create(api, me, title="Mine")
    path = feed_path(api, me)
    first = api.client.get(path)

    def no_rendering(*_args, **_kwargs):
        raise AssertionError("an unchanged feed was rendered again")

    monkeypatch.setattr(feeds, "render_fragment", no_rendering)
    monkeypatch.setattr(feeds, "assemble_feed", no_rendering)
    second = api.client.get(path)
    assert second.status_code == 200
    assert second.data == first.data


def test_a_changed_feed_renders_only_the_changed_gathering(api, monkeypatch):
    me = api.signup("Me")
    create(api, me, title="One")
    two = create(api, me, title="Two")
    path = feed_path(api, me)
    api.client.get(path)
    api.call("PATCH", f"/api/v1/gatherings/{two['id']}", me, json={"location": "Elsewhere"})
    rendered = []
    original = feeds.render_fragment

    def counting(gathering, config, **kwargs):
        rendered.append(gathering.title)
        return original(gathering, config, **kwargs)

    monkeypatch.setattr(feeds, "render_fragment", counting)
    assert api.client.get(path).status_code == 200
    assert rendered == ["Two"]


def test_rotated_and_unknown_tokens_are_404(api):
    me = api.signup("Me")
    old = feed_path(api, me)
    assert api.client.get(old).status_code == 200
    response = api.call("POST", "/api/v1/me/feed-token", me)
    assert response.status_code == 200
    new = response.get_json()["feed_url"].removeprefix("http://kindred.test")
    assert api.client.get(old).status_code == 404
    assert api.client.get(new).status_code == 200
    for bogus in ("0" * 64, "nothex", "a" * 500, "%00", "..%2f..%2fetc"):
        assert api.client.get(f"/feeds/{bogus}.ics").status_code == 404


def test_group_feed_shows_the_groups_gatherings_publicly(api):
    org = api.signup("Olga")
    group = api.call(
        "POST", "/api/v1/groups", org, json={"name": "Makers", "interests": ["electronics"]}
    ).get_json()
    create(api, org, title="In the group", group_id=group["id"])
    create(api, org, title="Elsewhere")
    cancelled = create(api, org, title="Called off", group_id=group["id"])
    api.call("POST", f"/api/v1/gatherings/{cancelled['id']}/cancel", org)
    response = api.client.get(f"/groups/{group['id']}.ics")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    found = events(response.data)
    assert sorted(found) == ["Called off", "In the group"]
    assert found["Called off"]["STATUS"] == "CANCELLED"
    assert str(icalendar.Calendar.from_ical(response.data)["X-WR-CALNAME"]) == "Kindred: Makers"
    etag = response.headers["ETag"]
    assert (
        api.client.get(f"/groups/{group['id']}.ics", headers={"If-None-Match": etag}).status_code
        == 304
    )
    assert api.client.get("/groups/999999.ics").status_code == 404


def test_single_gathering_file(api):
    org = api.signup("Olga")
    g = create(api, org, title="Solo", interests=["electronics", "soldering"])
    response = api.client.get(f"/gatherings/{g['id']}.ics")
    assert response.status_code == 200
    (event,) = events(response.data).values()
    assert str(event["URL"]) == f"http://kindred.test/g/{g['id']}"
    assert sorted(str(c) for c in event["CATEGORIES"].cats) == ["electronics", "soldering"]
    assert event["ORGANIZER"].params["CN"] == "Olga"
    assert api.client.get("/gatherings/999999.ics").status_code == 404


def test_a_poll_without_a_time_has_no_calendar_file(api):
    org = api.signup("Olga")
    start = future(5)
    g = create(
        api,
        org,
        starts_at=None,
        poll={
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(days=2)).isoformat(),
        },
    )
    assert api.client.get(f"/gatherings/{g['id']}.ics").status_code == 404
    assert events(api.client.get(feed_path(api, org)).data) == {}


def test_feeds_work_without_redis(api, app, monkeypatch):
    import redis as redis_lib
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    me = api.signup("Me")
    create(api, me, title="Mine")
    path = feed_path(api, me)
    etag = api.client.get(path).headers["ETag"]  # remembered in Redis, as the fast path likes
    services = app.extensions["kindred"]
    # nothing listens there; no retries, which would only make the test slow
    down = redis_lib.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(services, "_redis", down)
    response = api.client.get(path)
    assert response.status_code == 200
    assert list(events(response.data)) == ["Mine"]
    zipped = api.client.get(path, headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(zipped.data) == response.data
    assert api.client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert api.client.get("/feeds/" + "0" * 64 + ".ics").status_code == 404


def test_polling_an_unchanged_feed_needs_no_database_query(api, app):
    from sqlalchemy import event

    me = api.signup("Me")
    create(api, me, title="Mine")
    path = feed_path(api, me)
    etag = api.client.get(path).headers["ETag"]
    queries = []
    engine = app.extensions["kindred"].db.engine

    def count(*_args):
        queries.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert api.client.get(path, headers={"If-None-Match": etag}).status_code == 304
        assert api.client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert queries == []
    # and a change anywhere makes the next poll look again
    other = api.signup("Other")
    create(api, other, title="Theirs")
    assert api.client.get(path, headers={"If-None-Match": etag}).status_code == 304
    g = create(api, me, title="Second")
    response = api.client.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert sorted(events(response.data)) == ["Mine", "Second"]
    assert g["id"]


# --- what calendar apps send: gzip, weak and multiple ETags, HEAD; the Redis fast path ---

CALENDAR_APP = {"Accept-Encoding": "gzip, deflate, br", "Accept": "*/*"}


def flask_view_must_not_run(app, monkeypatch):
    """Make the personal feed's Flask view fail: what still answers came from the fast path."""

    def fail(**_kwargs):
        raise AssertionError("the Flask view answered a poll the fast path should have")

    monkeypatch.setitem(app.view_functions, "feeds.personal_feed", fail)


def test_gzip_variant_is_exactly_the_plain_text_and_both_parse(api):
    me = api.signup("Me")
    create(api, me, title="Mine", description="Tea; coffee, and \\ backslashes ☕")
    create(api, me, title="Second", starts_at=future(12).isoformat())
    path = feed_path(api, me)
    for _ in range(2):  # first rendered by Flask, then from the caches
        plain = api.client.get(path)
        zipped = api.client.get(path, headers=CALENDAR_APP)
        assert plain.status_code == zipped.status_code == 200
        assert "Content-Encoding" not in plain.headers
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert zipped.headers["Content-Type"] == "text/calendar; charset=utf-8"
        assert plain.headers["Vary"] == zipped.headers["Vary"] == "Accept-Encoding"
        assert int(zipped.headers["Content-Length"]) == len(zipped.data) < len(plain.data)
        assert gzip.decompress(zipped.data) == plain.data
        assert sorted(events(plain.data)) == sorted(events(gzip.decompress(zipped.data)))
        assert sorted(events(plain.data)) == ["Mine", "Second"]
        # the same revision: strong ETag for the plain text, the same tag weak for gzip
        assert zipped.headers["ETag"] == "W/" + plain.headers["ETag"]


def test_gzip_only_when_the_client_accepts_it(api):
    me = api.signup("Me")
    create(api, me, title="Mine")
    path = feed_path(api, me)
    api.client.get(path)
    cases = {
        "gzip": True,
        "GZip;q=0.5": True,
        "x-gzip": True,
        "br, *;q=0.1": True,
        "gzip;q=0": False,
        "br, deflate": False,
        "*;q=0": False,
        "gzip;q=nonsense": False,
        "identity": False,
    }
    for accept, compressed in cases.items():
        response = api.client.get(path, headers={"Accept-Encoding": accept})
        assert response.status_code == 200
        assert (response.headers.get("Content-Encoding") == "gzip") is compressed, accept
        assert response.headers["Vary"] == "Accept-Encoding"


def test_if_none_match_with_weak_and_several_tags(api):
    me = api.signup("Me")
    create(api, me, title="Mine")
    path = feed_path(api, me)
    strong = api.client.get(path).headers["ETag"]
    weak = api.client.get(path, headers=CALENDAR_APP).headers["ETag"]
    assert weak == f"W/{strong}"
    for if_none_match in (strong, weak, f'"older", {weak}', f'W/"x", {strong}, "y"', "*"):
        for headers in ({}, CALENDAR_APP):
            response = api.client.get(path, headers={**headers, "If-None-Match": if_none_match})
            assert response.status_code == 304, (if_none_match, headers)
            assert response.data == b""
            assert response.headers["Vary"] == "Accept-Encoding"
            assert response.headers["Cache-Control"] == "private, max-age=300"
            assert response.headers["ETag"] == (weak if headers else strong)
    for other in ('"older"', 'W/"older", "newer"', strong[:-2] + '"'):
        response = api.client.get(path, headers={"If-None-Match": other})
        assert response.status_code == 200
        assert list(events(response.data)) == ["Mine"]


def test_polls_are_answered_by_the_fast_path_without_flask(api, app, monkeypatch):
    me = api.signup("Me")
    create(api, me, title="Mine")
    path = feed_path(api, me)
    plain = api.client.get(path)
    zipped = api.client.get(path, headers=CALENDAR_APP)
    flask_view_must_not_run(app, monkeypatch)

    again = api.client.get(path, headers={**CALENDAR_APP, "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["ETag"] == zipped.headers["ETag"]
    assert again.headers["Vary"] == "Accept-Encoding"
    cached = api.client.get(path, headers=CALENDAR_APP)
    assert cached.status_code == 200
    assert gzip.decompress(cached.data) == plain.data
    assert cached.headers["Content-Disposition"] == 'inline; filename="kindred.ics"'
    assert api.client.get(path).data == plain.data
    # HEAD: the same headers, no body
    head = api.client.head(path, headers=CALENDAR_APP)
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == cached.headers["Content-Length"]
    assert head.headers["ETag"] == cached.headers["ETag"]


def test_head_through_flask_matches_get(api):
    me = api.signup("Me")
    create(api, me, title="Mine")
    path = feed_path(api, me)
    head = api.client.head(path, headers=CALENDAR_APP)  # nothing remembered yet: Flask answers
    get = api.client.get(path, headers=CALENDAR_APP)
    assert head.status_code == get.status_code == 200
    assert head.data == b""
    for name in ("Content-Length", "ETag", "Content-Encoding", "Vary", "Cache-Control"):
        assert head.headers[name] == get.headers[name], name


def test_a_rotated_token_is_404_at_once_even_when_the_fast_path_knew_it(api, app):
    me = api.signup("Me")
    create(api, me, title="Mine")
    old = feed_path(api, me)
    etag = api.client.get(old, headers=CALENDAR_APP).headers["ETag"]
    assert api.client.get(old, headers={**CALENDAR_APP, "If-None-Match": etag}).status_code == 304

    new = api.call("POST", "/api/v1/me/feed-token", me).get_json()["feed_url"]
    new = new.removeprefix("http://kindred.test")
    assert api.client.get(old, headers=CALENDAR_APP).status_code == 404
    assert api.client.get(old, headers={**CALENDAR_APP, "If-None-Match": etag}).status_code == 404
    assert api.client.head(old).status_code == 404
    response = api.client.get(new, headers=CALENDAR_APP)
    assert response.status_code == 200
    assert response.headers["ETag"] != etag  # a new URL never shares the old one's entries
    # and the old one stays dead after the new one is remembered and polled
    assert api.client.get(new, headers=CALENDAR_APP).status_code == 200
    assert api.client.get(old, headers=CALENDAR_APP).status_code == 404


def test_a_flushed_redis_changes_nothing_a_client_sees(api, app, redis_client, monkeypatch):
    me = api.signup("Me")
    create(api, me, title="Mine")
    path = feed_path(api, me)
    plain = api.client.get(path)
    zipped = api.client.get(path, headers=CALENDAR_APP)
    etag = zipped.headers["ETag"]
    # caches, remembered states and the generation; and the Lua script, as a restart would
    redis_client.flushdb()
    redis_client.script_flush()

    assert api.client.get(path, headers={**CALENDAR_APP, "If-None-Match": etag}).status_code == 304
    again = api.client.get(path, headers=CALENDAR_APP)
    assert again.status_code == 200
    assert again.headers["ETag"] == etag
    assert gzip.decompress(again.data) == plain.data
    assert api.client.get(path).data == plain.data
    # the caches were refilled: the fast path answers again
    flask_view_must_not_run(app, monkeypatch)
    assert api.client.get(path, headers={**CALENDAR_APP, "If-None-Match": etag}).status_code == 304
    assert gzip.decompress(api.client.get(path, headers=CALENDAR_APP).data) == plain.data


def test_a_change_after_a_flush_is_not_hidden_by_an_old_state(api, redis_client):
    me = api.signup("Me")
    g = create(api, me, title="Mine")
    path = feed_path(api, me)
    etag = api.client.get(path).headers["ETag"]
    redis_client.flushdb()
    api.client.get(path)  # remembered again, under a fresh generation
    api.call("PATCH", f"/api/v1/gatherings/{g['id']}", me, json={"title": "Renamed"})
    response = api.client.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert list(events(response.data)) == ["Renamed"]


def test_group_feed_and_single_file_are_gzipped_too(api):
    org = api.signup("Olga")
    group = api.call(
        "POST", "/api/v1/groups", org, json={"name": "Makers", "interests": ["electronics"]}
    ).get_json()
    g = create(api, org, title="In the group", group_id=group["id"])
    for path in (f"/groups/{group['id']}.ics", f"/gatherings/{g['id']}.ics"):
        plain = api.client.get(path)
        zipped = api.client.get(path, headers=CALENDAR_APP)
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert zipped.headers["Vary"] == plain.headers["Vary"] == "Accept-Encoding"
        assert gzip.decompress(zipped.data) == plain.data
        assert list(events(plain.data)) == ["In the group"]
        not_modified = api.client.get(
            path, headers={**CALENDAR_APP, "If-None-Match": zipped.headers["ETag"]}
        )
        assert not_modified.status_code == 304


def corrupt(session, table: str, row_id: int, **values: str) -> None:
    """Write a row past every check, as a bug, a migration or a hand in psql could."""
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    session.execute(
        text(f"UPDATE {table} SET {assignments} WHERE id = :id"), {**values, "id": row_id}
    )
    session.commit()


def left_out(caplog) -> str:
    return " ".join(r.getMessage() for r in caplog.records if "left out of feeds" in r.getMessage())


def test_feeds_leave_out_a_corrupt_row_and_answer_with_the_rest(api, session, caplog):
    org, ann = api.signup("Olga"), api.signup("Ann")
    group = api.call(
        "POST", "/api/v1/groups", org, json={"name": "Makers", "interests": ["electronics"]}
    ).get_json()
    made = {
        title: create(api, org, title=title, group_id=group["id"])["id"]
        for title in ("Fine", "Year 9999", "Year 20000", "On Mars")
    }
    api.call("POST", f"/api/v1/groups/{group['id']}/members", ann)
    for gid in made.values():
        answer(api, ann, gid, "yes")
    corrupt(
        session,
        "gatherings",
        made["Year 9999"],
        starts_at="9999-12-31 18:00+00",
        ends_at="9999-12-31 19:30+00",
    )
    # past the year 9999 not even psycopg can load the row
    corrupt(
        session,
        "gatherings",
        made["Year 20000"],
        starts_at="20000-01-01 18:00+00",
        ends_at="20000-01-01 19:30+00",
    )
    corrupt(session, "gatherings", made["On Mars"], timezone="Mars/Olympus")

    for path in (f"/groups/{group['id']}.ics", feed_path(api, org), feed_path(api, ann)):
        caplog.clear()
        response = api.client.get(path)
        assert response.status_code == 200, path
        assert list(events(response.data)) == ["Fine"]
        logged = left_out(caplog)
        assert all(f"gathering {gid} " in logged for gid in made.values() if gid != made["Fine"])
    single = api.client.get(f"/gatherings/{made['On Mars']}.ics")
    assert single.status_code == 200
    assert events(single.data) == {}


def test_a_series_with_a_broken_rule_is_left_out_of_the_feed(api, session, caplog):
    me = api.signup("Me")
    series = create(api, me, title="Weekly", recurrence="FREQ=WEEKLY;COUNT=3")
    create(api, me, title="One-off", starts_at=future(days=12).isoformat())
    corrupt(session, "series", series["series_id"], rule="FREQ=FORTNIGHTLY;COUNT=3")

    response = api.client.get(feed_path(api, me))
    assert response.status_code == 200
    assert list(events(response.data)) == ["One-off"]
    assert f"series {series['series_id']} cannot be rendered" in left_out(caplog)


def test_a_row_broken_after_its_neighbours_were_cached_is_left_out(api, session, caplog):
    org = api.signup("Olga")
    group = api.call(
        "POST", "/api/v1/groups", org, json={"name": "Makers", "interests": ["electronics"]}
    ).get_json()
    create(api, org, title="Fine", group_id=group["id"])
    broken = create(api, org, title="Soon broken", group_id=group["id"])
    path = f"/groups/{group['id']}.ics"
    assert sorted(events(api.client.get(path).data)) == ["Fine", "Soon broken"]

    # a new revision: the feed is rendered again, from the cached fragment of "Fine"
    session.execute(
        text(
            "UPDATE gatherings SET timezone = 'Mars/Olympus', revision = revision + 1 WHERE id = :id"
        ),
        {"id": broken["id"]},
    )
    session.commit()
    response = api.client.get(path)
    assert response.status_code == 200
    assert list(events(response.data)) == ["Fine"]
    assert f"gathering {broken['id']} cannot be rendered" in left_out(caplog)
