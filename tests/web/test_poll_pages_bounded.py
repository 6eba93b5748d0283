"""A big poll's pages stay bounded: a week of the grid a page, names capped, links between
weeks, painting one week keeps the others, a bad `start` is a 4xx naming it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler.services.polls import slots
from tests.support.accounts import page_session

CSRF = "test-csrf"
CELLS_PER_DAY = 96  # 15-minute cells


def sign_in(client: Any, user: dict[str, Any]) -> None:
    """Give the page client a session for `user` (the API helper's dict)."""
    signed_in = page_session(client.application, user["id"])
    with client.session_transaction() as session:
        session.update(signed_in)
        session["csrf"] = CSRF


def cells_on(html: str) -> list[int]:
    """The indices of the paintable cells a page shows, ascending."""
    return sorted(int(i) for i in re.findall(r'<select name="c(\d+)"', html))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def window_start() -> datetime:
    """Midnight UTC the day after tomorrow: whole days, in the future."""
    return (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


def make_poll(api: Any, organizer: dict[str, Any], start: datetime, days: int) -> int:
    made = api.call(
        "POST",
        "/api/v1/gatherings",
        organizer,
        json={
            "title": "Long poll",
            "timezone": "UTC",
            "duration_minutes": 60,
            "poll": {
                "window_start": iso(start),
                "window_end": iso(start + timedelta(days=days)),
                "step_minutes": 15,
            },
        },
    )
    assert made.status_code == 201, made.get_json()
    return int(made.get_json()["id"])


def answer(api: Any, user: dict[str, Any], poll: int, *spans: tuple[datetime, datetime]) -> None:
    intervals = [{"start": iso(a), "end": iso(b)} for a, b in spans]
    done = api.call(
        "PUT", f"/api/v1/gatherings/{poll}/availability", user, json={"intervals": intervals}
    )
    assert done.status_code == 200, done.get_json()


def test_a_90_day_poll_shows_a_week_at_a_time_with_links_between_weeks(api, client, window_start):
    olga = api.signup("Olga")
    poll = make_poll(api, olga, window_start, days=90)
    sign_in(client, olga)

    first = client.get(f"/g/{poll}")

    assert first.status_code == 200
    assert cells_on(first.text) == list(range(7 * CELLS_PER_DAY))
    assert first.text.count("data-heat=") == 7 * CELLS_PER_DAY
    assert 'rel="prev"' not in first.text
    week2 = (window_start + timedelta(days=7)).date().isoformat()
    assert f'href="/g/{poll}/poll?start={week2}" rel="next"' in first.text
    assert 'name="first_cell" value="0"' in first.text
    assert f'name="end_cell" value="{7 * CELLS_PER_DAY}"' in first.text

    second = client.get(f"/g/{poll}/poll?start={week2}")
    assert second.status_code == 200
    assert cells_on(second.text) == list(range(7 * CELLS_PER_DAY, 14 * CELLS_PER_DAY))
    first_day = window_start.date().isoformat()
    assert f'href="/g/{poll}/poll?start={first_day}" rel="prev"' in second.text

    last_day = (window_start + timedelta(days=89)).date().isoformat()
    last = client.get(f"/g/{poll}/poll?start={last_day}")
    assert last.status_code == 200
    assert cells_on(last.text) == list(range(89 * CELLS_PER_DAY, 90 * CELLS_PER_DAY))
    assert 'rel="next"' not in last.text
    assert 'rel="prev"' in last.text


def test_any_day_of_the_window_can_start_a_page(api, client, window_start):
    olga = api.signup("Olga")
    poll = make_poll(api, olga, window_start, days=10)
    sign_in(client, olga)

    page = client.get(f"/g/{poll}/poll?start={(window_start + timedelta(days=5)).date()}")

    assert cells_on(page.text) == list(range(5 * CELLS_PER_DAY, 10 * CELLS_PER_DAY))
    earlier = f'href="/g/{poll}/poll?start={window_start.date()}" rel="prev"'
    assert earlier in page.text  # a week back, but not before the window
    assert 'rel="next"' not in page.text


def test_a_short_poll_has_one_page_and_no_week_links(api, client, window_start):
    olga = api.signup("Olga")
    poll = make_poll(api, olga, window_start + timedelta(hours=18), days=1)
    sign_in(client, olga)

    page = client.get(f"/g/{poll}")

    assert len(cells_on(page.text)) == CELLS_PER_DAY
    assert "data-week-nav" not in page.text


def test_while_the_window_runs_the_page_starts_today(api, client):
    olga = api.signup("Olga")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    poll = make_poll(api, olga, today - timedelta(days=3), days=20)
    sign_in(client, olga)

    page = client.get(f"/g/{poll}")

    assert cells_on(page.text)[0] == 3 * CELLS_PER_DAY
    assert 'rel="prev"' in page.text


@pytest.mark.parametrize(
    ("start", "why"),
    [("1999-01-01", "runs from"), ("2999-01-01", "runs from"), ("next week", "YYYY-MM-DD"),
     ("2026-02-30", "YYYY-MM-DD"), ("20260101", "YYYY-MM-DD")],
)  # fmt: skip
def test_a_start_outside_the_window_is_a_4xx_naming_it(api, client, window_start, start, why):
    olga = api.signup("Olga")
    poll = make_poll(api, olga, window_start, days=30)
    sign_in(client, olga)

    page = client.get(f"/g/{poll}/poll", query_string={"start": start})
    data = client.get(
        f"/g/{poll}/slots.json",
        query_string={"start": start},
        headers={"Accept": "application/json"},
    )

    assert page.status_code == 422
    assert "start" in page.text and why in page.text
    assert data.status_code == 422
    assert why in data.get_json()["errors"]["start"][0]
    after_the_window = (window_start + timedelta(days=30)).date().isoformat()
    assert client.get(f"/g/{poll}", query_string={"start": after_the_window}).status_code == 422


def test_painting_one_week_keeps_what_i_painted_in_the_others(api, client, window_start):
    olga = api.signup("Olga")
    poll = make_poll(api, olga, window_start, days=21)
    evening = window_start + timedelta(hours=18)
    answer(
        api,
        olga,
        poll,
        (evening, evening + timedelta(hours=2)),  # week 1
        (evening + timedelta(days=8), evening + timedelta(days=8, hours=1)),  # week 2
        (evening + timedelta(days=6, hours=5), evening + timedelta(days=7, hours=1)),  # both
    )
    sign_in(client, olga)
    week2 = (window_start + timedelta(days=7)).date().isoformat()
    page = client.get(f"/g/{poll}/poll?start={week2}")
    assert re.search(rf'data-cell="{8 * CELLS_PER_DAY + 72}"[^>]*class="yes"', page.text)
    first, end = 7 * CELLS_PER_DAY, 14 * CELLS_PER_DAY
    repaint_from = 9 * CELLS_PER_DAY + 40  # 10:00 on day 9, 30 minutes "if need be"

    saved = client.post(
        f"/g/{poll}/availability?start={week2}",
        data={
            "csrf_token": CSRF,
            "first_cell": str(first),
            "end_cell": str(end),
            f"c{repaint_from}": "ifneedbe",
            f"c{repaint_from + 1}": "ifneedbe",
            "c5": "yes",  # outside the page: ignored
        },
    )

    assert saved.status_code == 302
    assert saved.headers["Location"].startswith(f"/g/{poll}?start={week2}")
    mine = api.call("GET", f"/api/v1/gatherings/{poll}/availability", olga).get_json()
    spans = [(s["start"], s["end"], s["preference"]) for s in mine["intervals"]]
    assert spans == [
        (iso(evening), iso(evening + timedelta(hours=2)), "yes"),
        # the part of the spanning interval before the page stays; the page's part is gone
        (iso(evening + timedelta(days=6, hours=5)), iso(window_start + timedelta(days=7)), "yes"),
        (
            iso(window_start + timedelta(days=9, hours=10)),
            iso(window_start + timedelta(days=9, hours=10, minutes=30)),
            "ifneedbe",
        ),
    ]


def test_a_posted_cell_range_that_is_not_the_grids_is_a_4xx_naming_it(api, client, window_start):
    olga = api.signup("Olga")
    poll = make_poll(api, olga, window_start, days=3)
    sign_in(client, olga)

    for fields, named in (
        ({"first_cell": "-1"}, "first_cell"),
        ({"end_cell": "1e3"}, "end_cell"),
        ({"first_cell": "10", "end_cell": "5"}, "end_cell"),
        ({"end_cell": str(3 * CELLS_PER_DAY + 1)}, "end_cell"),
    ):
        saved = client.post(
            f"/g/{poll}/availability",
            data={"csrf_token": CSRF, **fields},
            headers={"Accept": "application/json"},
        )
        assert saved.status_code == 422, fields
        assert named in saved.get_json()["errors"], fields


def test_slots_json_holds_only_the_pages_cells(api, client, window_start):
    olga = api.signup("Olga")
    poll = make_poll(api, olga, window_start, days=30)
    evening = window_start + timedelta(days=8, hours=18)
    answer(api, olga, poll, (evening, evening + timedelta(hours=1)))
    sign_in(client, olga)
    week2 = (window_start + timedelta(days=7)).date().isoformat()

    data = client.get(f"/g/{poll}/slots.json?start={week2}").get_json()

    indices = [cell["i"] for cell in data["cells"]]
    assert indices == list(range(7 * CELLS_PER_DAY, 14 * CELLS_PER_DAY))
    assert data["start"] == week2
    counted = {cell["i"]: cell for cell in data["cells"] if cell["count"]}
    assert sorted(counted) == list(range(8 * CELLS_PER_DAY + 72, 8 * CELLS_PER_DAY + 76))
    assert counted[8 * CELLS_PER_DAY + 72] == {
        "i": 8 * CELLS_PER_DAY + 72,
        "count": 1,
        "level": 5,
        "names": "Olga",
    }
    page = client.get(f"/g/{poll}/poll?start={week2}").text
    assert f'data-slots-url="/g/{poll}/slots.json?start={week2}"' in page
    assert len(client.get(f"/g/{poll}/slots.json").get_json()["cells"]) == 7 * CELLS_PER_DAY


def rank_now(session: Any, poll: int) -> None:
    """What the worker's recompute job does: rank the answers and store the result."""
    snapshot = slots.take_snapshot(session, poll)
    assert snapshot is not None
    result = slots.rank_snapshot(snapshot)
    slots.store_result(session, poll, snapshot.revision, result, now=datetime.now(UTC))
    session.commit()


def test_a_crowded_cell_names_ten_people_and_counts_the_rest(api, client, session, window_start):
    olga = api.signup("Olga")
    poll = make_poll(api, olga, window_start, days=2)
    evening = window_start + timedelta(hours=18)
    crowd = [api.signup(f"Person {n:02d}") for n in range(12)]
    for person in crowd:
        answer(api, person, poll, (evening, evening + timedelta(hours=1)))
    rank_now(session, poll)
    sign_in(client, olga)

    page = client.get(f"/g/{poll}").text
    data = client.get(f"/g/{poll}/slots.json").get_json()

    ten = ", ".join(f"Person {n:02d}" for n in range(10))
    assert f'data-names="{ten} and 2 more"' in page
    cell = next(c for c in data["cells"] if c["i"] == 72)
    assert cell["count"] == 12 and cell["names"] == f"{ten} and 2 more"
    assert data["status"] == "ready"
    assert data["slots"][0]["summary"].startswith("12 can come")
    assert data["slots"][0]["names"] == f"{ten} and 2 more"
    assert f"{ten} and 2 more</span>" in page  # the best times, as the page shows them


def test_the_heatmap_follows_every_new_answer(api, client, window_start, redis_client):
    olga, bob = api.signup("Olga"), api.signup("Bob")
    poll = make_poll(api, olga, window_start, days=2)
    evening = window_start + timedelta(hours=18)
    answer(api, olga, poll, (evening, evening + timedelta(hours=1)))
    sign_in(client, olga)
    before = client.get(f"/g/{poll}/slots.json").get_json()
    assert next(c for c in before["cells"] if c["i"] == 72)["count"] == 1
    kept = redis_client.keys(f"kindred:pollgrid:{poll}:*")
    assert len(kept) == 1  # this page at this revision, shared by every viewer
    assert client.get(f"/g/{poll}/slots.json").get_json() == before

    answer(api, bob, poll, (evening, evening + timedelta(minutes=30)))

    after = client.get(f"/g/{poll}/slots.json").get_json()
    assert next(c for c in after["cells"] if c["i"] == 72)["names"] == "Bob, Olga"
    assert after["participants"] == 2
    page = client.get(f"/g/{poll}").text
    assert 'data-names="Bob, Olga"' in page


def test_the_page_works_when_redis_is_down(api, client, window_start, monkeypatch):
    import redis as redis_module

    olga = api.signup("Olga")
    poll = make_poll(api, olga, window_start, days=2)
    evening = window_start + timedelta(hours=18)
    answer(api, olga, poll, (evening, evening + timedelta(hours=1)))
    sign_in(client, olga)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise redis_module.ConnectionError("down")

    monkeypatch.setattr(redis_module.Redis, "get", refuse)
    monkeypatch.setattr(redis_module.Redis, "set", refuse)

    data = client.get(f"/g/{poll}/slots.json")

    assert data.status_code == 200
    assert next(c for c in data.get_json()["cells"] if c["i"] == 72)["names"] == "Olga"
