"""Rows written past every check (old data, a hand in psql): never a 500, always logged."""

from __future__ import annotations

import logging

import icalendar
from sqlalchemy import text

from tests.api.test_feeds import answer, create, events, feed_path


def corrupt(session, row_id: int, **values: str) -> None:
    """Write a gathering row around the input checks."""
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    session.execute(
        text(f"UPDATE gatherings SET {assignments} WHERE id = :id"), {**values, "id": row_id}
    )
    session.commit()


def test_a_gathering_past_the_year_9999_is_gone_not_a_crash(api, session, caplog):
    org = api.signup("Olga")
    far = create(api, org, title="Year 20000")["id"]
    corrupt(session, far, starts_at="20000-01-01 18:00+00", ends_at="20000-01-01 19:30+00")

    with caplog.at_level(logging.ERROR):
        ics = api.client.get(f"/gatherings/{far}.ics")
    assert ics.status_code == 410
    assert b"cannot be shown" in ics.data
    assert f"gathering {far} cannot be loaded" in caplog.text

    # every route that reads one gathering says the same
    api_answer = api.call("GET", f"/api/v1/gatherings/{far}", org)
    assert api_answer.status_code == 410
    assert api_answer.get_json()["error"] == "gone"
    assert api.client.get(f"/g/{far}").status_code == 410
    assert api.client.get(f"/gatherings/{far + 1000}.ics").status_code == 404


def test_a_localtime_row_stays_in_feeds_at_its_instant_in_utc(api, session, caplog):
    org, ann = api.signup("Olga"), api.signup("Ann")
    group = api.call(
        "POST", "/api/v1/groups", org, json={"name": "Makers", "interests": ["electronics"]}
    ).get_json()
    made = create(api, org, title="Old row", group_id=group["id"])
    api.call("POST", f"/api/v1/groups/{group['id']}/members", ann)
    answer(api, ann, made["id"], "yes")
    corrupt(session, made["id"], timezone="localtime")

    for path in (
        f"/gatherings/{made['id']}.ics",
        f"/groups/{group['id']}.ics",
        feed_path(api, ann),
    ):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            response = api.client.get(path)
        assert response.status_code == 200, path
        event = events(response.data)["Old row"]
        assert event["DTSTART"].to_ical().decode() == _utc_text(made["starts_at"])
        assert "TZID" not in event["DTSTART"].params
        assert b"VTIMEZONE" not in response.data
        if path.startswith("/gatherings/"):  # rendered here first; then from the cache
            assert f"gathering {made['id']} has the zone 'localtime'; shown in UTC" in caplog.text


def test_a_zone_no_host_ever_knew_is_still_left_out_and_logged(api, session, caplog):
    org = api.signup("Olga")
    made = create(api, org, title="On Mars")
    corrupt(session, made["id"], timezone="Mars/Olympus")
    response = api.client.get(f"/gatherings/{made['id']}.ics")
    assert response.status_code == 200
    assert events(response.data) == {}
    assert f"gathering {made['id']} cannot be rendered; left out of feeds" in caplog.text


def _utc_text(iso: str) -> str:
    return icalendar.vDatetime.from_ical(iso.replace("-", "").replace(":", "")).strftime(
        "%Y%m%dT%H%M%SZ"
    )
