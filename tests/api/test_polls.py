"""Polls through the API: answering, the ranked slots, the heatmap, scheduling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from rq import Queue
from sqlalchemy import select

import workers.runtime
from scheduler.models import AvailabilityInterval, Invitation, Poll
from scheduler.queues import SLOTS
from workers.slots import recompute_slots

# A window that opens in two days, on the hour: candidates every 15 minutes for 3 days.
WINDOW_START = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
WINDOW_END = WINDOW_START + timedelta(days=3)


def at(hours: float) -> datetime:
    """A time `hours` after the window opens."""
    return WINDOW_START + timedelta(hours=hours)


def z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def in_process_worker(app, monkeypatch):
    """Let job functions run in this process on the test's backends (as a burst worker would)."""
    monkeypatch.setattr(workers.runtime, "_services", app.extensions["kindred"])
    monkeypatch.setattr(workers.runtime, "_pid", __import__("os").getpid())


def scalars(app, stmt):
    """Run a query in a short session of its own, outside any request."""
    with app.extensions["kindred"].db.session_factory() as db:
        return list(db.scalars(stmt))


def create_poll(api, organizer, **poll_extra):
    body = {
        "title": "Board games",
        "timezone": "Europe/Berlin",
        "duration_minutes": 60,
        "poll": {"window_start": z(WINDOW_START), "window_end": z(WINDOW_END), **poll_extra},
    }
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def answer(api, user, gid, *spans, expect=200):
    intervals = []
    for span in spans:
        start, end, *pref = span
        item = {"start": start.isoformat(), "end": end.isoformat()}
        if pref:
            item["preference"] = pref[0]
        intervals.append(item)
    response = api.call(
        "PUT", f"/api/v1/gatherings/{gid}/availability", user, json={"intervals": intervals}
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def slots(api, user, gid, query=""):
    response = api.call("GET", f"/api/v1/gatherings/{gid}/slots{query}", user)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_answers_are_pending_until_the_recompute_then_ranked(api, in_process_worker):
    org, ann, bob, cem = (api.signup(n) for n in ("Org", "Ann", "Bob", "Cem"))
    gid = create_poll(api, org)
    assert slots(api, org, gid) | {"computed_at": None} == {
        "status": "ready",
        "revision": 0,
        "computed_revision": 0,
        "computed_at": None,
        "participants": 0,
        "slots": [],
        "candidates": None,
    }
    # Ann: 10:00-13:00 yes. Bob: 11:00-12:00 ifneedbe. Cem: 11:00-14:00 yes (from Berlin).
    answer(api, ann, gid, (at(10), at(13)))
    answer(api, bob, gid, (at(11), at(12), "ifneedbe"))
    berlin = ZoneInfo("Europe/Berlin")
    answer(api, cem, gid, (at(11).astimezone(berlin), at(14).astimezone(berlin), "yes"))
    pending = slots(api, org, gid)
    assert pending["status"] == "pending"
    assert (pending["revision"], pending["computed_revision"]) == (3, 0)

    assert recompute_slots(gid) == 3
    ready = slots(api, org, gid, "?limit=3")
    assert ready["status"] == "ready"
    assert ready["computed_revision"] == 3
    assert ready["participants"] == 3
    best, second, third = ready["slots"]
    ids = sorted(u["id"] for u in (ann, bob, cem))
    assert best == {
        "start": z(at(11)),
        "end": z(at(12)),
        "available": ids,
        "preferred": sorted([ann["id"], cem["id"]]),
    }
    # then two people, both yes, earliest first
    assert (second["start"], second["available"]) == (
        z(at(11.25)),
        sorted([ann["id"], cem["id"]]),
    )
    assert third["start"] == z(at(11.5))
    # a second run at the same revision changes nothing and computes nothing
    assert recompute_slots(gid) is None


def test_a_new_answer_replaces_the_old_one(api, in_process_worker):
    org, ann = api.signup("Org"), api.signup("Ann")
    gid = create_poll(api, org)
    answer(api, ann, gid, (at(1), at(3)), (at(20), at(22)))
    body = answer(api, ann, gid, (at(5), at(7), "ifneedbe"))
    assert body["intervals"] == [{"start": z(at(5)), "end": z(at(7)), "preference": "ifneedbe"}]
    assert body["revision"] == 2
    mine = api.call("GET", f"/api/v1/gatherings/{gid}/availability", ann).get_json()
    assert mine["intervals"] == body["intervals"]
    recompute_slots(gid)
    top = slots(api, org, gid)["slots"][0]
    assert (top["start"], top["preferred"]) == (z(at(5)), [])


def test_intervals_are_clipped_to_the_window_and_may_overlap(api, in_process_worker):
    org, ann = api.signup("Org"), api.signup("Ann")
    gid = create_poll(api, org)
    body = answer(
        api,
        ann,
        gid,
        (at(-5), at(1)),  # starts before the window
        (at(0.5), at(2), "ifneedbe"),  # overlaps the first
        (at(80), at(90)),  # wholly after the window: dropped
        (at(71), at(75)),  # ends after the window
    )
    assert body["intervals"] == [
        {"start": z(at(0)), "end": z(at(1)), "preference": "yes"},
        {"start": z(at(0.5)), "end": z(at(2)), "preference": "ifneedbe"},
        {"start": z(at(71)), "end": z(at(72)), "preference": "yes"},
    ]
    recompute_slots(gid)
    starts = [s["start"] for s in slots(api, org, gid, "?limit=100")["slots"]]
    # 0:00-2:00 holds 5 one-hour candidates, only the first all "yes"; 71:00 is the last one
    assert starts == [z(at(h)) for h in (0, 71, 0.25, 0.5, 0.75, 1)]


def test_an_empty_answer_counts_as_answered(api, in_process_worker):
    org, ann, bob = api.signup("Org"), api.signup("Ann"), api.signup("Bob")
    gid = create_poll(api, org)
    answer(api, ann, gid)
    answer(api, bob, gid, (at(1), at(2)))
    people = api.call("GET", f"/api/v1/gatherings/{gid}/participants", org).get_json()
    assert people == {
        "answered": [{"id": ann["id"], "name": "Ann"}, {"id": bob["id"], "name": "Bob"}],
        "not_answered": [],
    }


def test_group_members_who_have_not_answered_are_listed(api, in_process_worker):
    org, ann, bob = api.signup("Org"), api.signup("Ann"), api.signup("Bob")
    group = api.call(
        "POST", "/api/v1/groups", org, json={"name": "Go club", "interests": ["go"]}
    ).get_json()
    for member in (ann, bob):
        api.call("POST", f"/api/v1/groups/{group['id']}/members", member)
    body = {
        "title": "Go",
        "timezone": "UTC",
        "duration_minutes": 60,
        "group_id": group["id"],
        "poll": {"window_start": z(WINDOW_START), "window_end": z(WINDOW_END)},
    }
    gid = api.call("POST", "/api/v1/gatherings", org, json=body).get_json()["id"]
    outsider = api.signup("Out")
    answer(api, ann, gid, (at(1), at(2)))
    answer(api, outsider, gid, (at(1), at(2)), expect=404)  # the poll is for members
    people = api.call("GET", f"/api/v1/gatherings/{gid}/participants", org).get_json()
    assert [p["name"] for p in people["answered"]] == ["Ann"]
    assert people["not_answered"] == [{"id": bob["id"], "name": "Bob"}]
    assert api.call("GET", f"/api/v1/gatherings/{gid}/participants", ann).status_code == 403


def test_heatmap_counts_every_candidate_for_the_organizer(api, in_process_worker):
    org, ann, bob = api.signup("Org"), api.signup("Ann"), api.signup("Bob")
    gid = create_poll(api, org)
    answer(api, ann, gid, (at(0), at(2)))
    answer(api, bob, gid, (at(1), at(3), "ifneedbe"))
    recompute_slots(gid)
    heat = slots(api, org, gid, "?view=heatmap")
    assert heat["status"] == "ready"
    cells = heat["candidates"]
    assert len(cells) == 3 * 24 * 4 - 3  # 15-minute steps, the last start 1 h before the end
    by_start = {c["start"]: (c["available_count"], c["preferred_count"]) for c in cells}
    assert by_start[z(at(0))] == (1, 1)
    assert by_start[z(at(1))] == (2, 1)
    assert by_start[z(at(1.25))] == (1, 0)
    assert by_start[z(at(2))] == (1, 0)
    assert by_start[z(at(3))] == (0, 0)
    forbidden = api.call("GET", f"/api/v1/gatherings/{gid}/slots?view=heatmap", ann)
    assert forbidden.status_code == 403
    # who can make one candidate, computed now (no recompute needed)
    answer(api, org, gid, (at(1), at(2), "ifneedbe"))
    one = slots(api, ann, gid, f"?start={z(at(1))}")
    assert one["slots"] == [
        {
            "start": z(at(1)),
            "end": z(at(2)),
            "available": sorted([org["id"], ann["id"], bob["id"]]),
            "preferred": [ann["id"]],
        }
    ]


def test_min_attendees_leaves_out_thin_slots(api, in_process_worker):
    org, ann, bob = api.signup("Org"), api.signup("Ann"), api.signup("Bob")
    gid = create_poll(api, org, min_attendees=2)
    answer(api, ann, gid, (at(0), at(5)))
    answer(api, bob, gid, (at(4), at(6)))
    recompute_slots(gid)
    assert [s["start"] for s in slots(api, org, gid)["slots"]] == [z(at(4))]


def test_a_burst_of_answers_queues_one_recompute(api, redis_client, in_process_worker):
    org = api.signup("Org")
    gid = create_poll(api, org)
    people = [api.signup() for _ in range(12)]
    for person in people:
        answer(api, person, gid, (at(1), at(3)))
    queue = Queue(SLOTS, connection=redis_client)
    assert queue.count == 1
    # the job clears the flag first, so the next answer queues the next job
    recompute_slots(gid)
    answer(api, people[0], gid, (at(2), at(3)))
    assert queue.count == 2
    assert slots(api, org, gid)["status"] == "pending"


def test_schedule_fixes_the_time_and_records_participants(api, app, in_process_worker):
    org, ann, bob = api.signup("Org"), api.signup("Ann"), api.signup("Bob")
    gid = create_poll(api, org)
    answer(api, ann, gid, (at(1), at(3)))
    answer(api, bob, gid, (at(2), at(3)))
    before = api.call("GET", f"/api/v1/gatherings/{gid}").get_json()
    start = at(2).astimezone(timezone(timedelta(hours=-5)))
    response = api.call(
        "POST", f"/api/v1/gatherings/{gid}/schedule", org, json={"start": start.isoformat()}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "scheduled"
    assert (body["starts_at"], body["ends_at"]) == (z(at(2)), z(at(3)))
    assert body["sequence"] == before["sequence"] + 1
    invited = scalars(app, select(Invitation.user_id).where(Invitation.gathering_id == gid))
    assert sorted(invited) == sorted([ann["id"], bob["id"]])
    # the poll is closed now
    late = answer(api, ann, gid, (at(1), at(2)), expect=409)
    assert late["code"] == 409
    again = api.call("POST", f"/api/v1/gatherings/{gid}/schedule", org, json={"start": z(at(1))})
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("start", "why"),
    [
        (at(1) + timedelta(minutes=7), "off the 15-minute grid"),
        (at(-1), "before the window"),
        (WINDOW_END - timedelta(minutes=45), "would end after the window"),
        (datetime(9999, 12, 31, 23, 45, tzinfo=UTC), "far beyond the window"),
    ],
)
def test_schedule_rejects_a_start_that_is_not_a_candidate(api, start, why):
    org = api.signup("Org")
    gid = create_poll(api, org)
    response = api.call("POST", f"/api/v1/gatherings/{gid}/schedule", org, json={"start": z(start)})
    assert response.status_code == 422, why
    assert list(response.get_json()["errors"]) == ["start"]


def test_only_the_organizer_schedules(api):
    org, ann = api.signup("Org"), api.signup("Ann")
    gid = create_poll(api, org)
    response = api.call("POST", f"/api/v1/gatherings/{gid}/schedule", ann, json={"start": z(at(1))})
    assert response.status_code == 403
    assert api.call("GET", f"/api/v1/gatherings/{gid}/slots").status_code == 401


def test_fixed_time_gatherings_have_no_poll(api):
    org = api.signup("Org")
    body = {
        "title": "Fixed",
        "timezone": "UTC",
        "duration_minutes": 60,
        "starts_at": z(at(1)),
    }
    gid = api.call("POST", "/api/v1/gatherings", org, json=body).get_json()["id"]
    assert answer(api, org, gid, (at(1), at(2)), expect=409)["code"] == 409
    assert api.call("GET", f"/api/v1/gatherings/{gid}/slots", org).status_code == 404
    assert api.call("GET", "/api/v1/gatherings/999999/slots", org).status_code == 404


def test_invalid_answers_name_the_field(api):
    org = api.signup("Org")
    gid = create_poll(api, org)
    path = f"/api/v1/gatherings/{gid}/availability"

    def errors(body):
        response = api.call("PUT", path, org, json=body)
        assert response.status_code == 422, response.get_json()
        return response.get_json()["errors"]

    good = {"start": z(at(1)), "end": z(at(2))}
    assert "intervals.1.end" in errors({"intervals": [good, {**good, "end": z(at(0.5))}]})
    assert "intervals.0.end" in errors({"intervals": [{**good, "end": good["start"]}]})
    assert "intervals" in errors({"intervals": [good] * 501})
    assert "intervals.0.start" in errors({"intervals": [{**good, "start": "2030-01-01T10:00"}]})
    assert "intervals.0.preference" in errors({"intervals": [{**good, "preference": "maybe"}]})
    assert "intervals" in errors({})
    assert answer(api, org, gid, *[(at(1), at(2))] * 500)["revision"] == 1


def test_answers_close_at_the_deadline(api, app, in_process_worker):
    org, ann = api.signup("Org"), api.signup("Ann")
    gid = create_poll(api, org, deadline=z(at(-1)))
    answer(api, ann, gid, (at(1), at(2)))
    with app.extensions["kindred"].db.session_factory() as db:
        # the deadline passes
        db.get(Poll, gid).deadline = datetime.now(UTC) - timedelta(seconds=1)
        db.commit()
    body = answer(api, ann, gid, (at(3), at(4)), expect=409)
    assert "deadline" in body["message"]
    stored = scalars(
        app, select(AvailabilityInterval.starts_at).where(AvailabilityInterval.gathering_id == gid)
    )
    assert stored == [at(1)]
