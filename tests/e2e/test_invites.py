"""Invites end to end: API → outbox → real clock + RQ worker → real SMTP server (aiosmtpd)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import vobject

from tests.support.processes import running, wait_for

pytestmark = pytest.mark.e2e


def calendar_of(message) -> tuple[str, icalendar.Event]:
    """(METHOD, the VEVENT) of a mail's text/calendar part, read by icalendar and vobject."""
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    raw = part.get_payload(decode=True)
    cal = icalendar.Calendar.from_ical(raw)
    (event,) = cal.walk("VEVENT")
    assert vobject.readOne(raw.decode("utf-8")).vevent.uid.value == str(event["UID"])
    assert part.get_param("method") == cal["METHOD"]
    return str(cal["METHOD"]), event


def test_three_rsvps_get_three_invites_and_a_reschedule_three_updates(
    api, config, smtp_sink, tmp_path
):
    config = dataclasses.replace(config, smtp_url=smtp_sink.url)
    org = api.signup("Olga")
    start = (datetime.now(UTC) + timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    g = api.call(
        "POST",
        "/api/v1/gatherings",
        org,
        json={
            "title": "Soldering evening",
            "timezone": "Europe/Berlin",
            "duration_minutes": 90,
            "starts_at": start.isoformat(),
            "reminders": [],
        },
    ).get_json()
    people = [api.signup(name) for name in ("Ann", "Bob", "Cid")]

    def of_kind(kind: str) -> list:
        return [m for m in smtp_sink.messages if m["X-Kindred-Kind"] == kind]

    env = {"SWEEP_INTERVAL_SECONDS": "1"}
    with (
        running("worker", config, tmp_path, name="e2e-invites", **env) as worker,
        running("clock", config, tmp_path, **env) as clock,
    ):
        for person in people:
            response = api.call(
                "PUT", f"/api/v1/gatherings/{g['id']}/rsvp", person, json={"response": "yes"}
            )
            assert response.status_code == 200
        try:
            wait_for(lambda: len(of_kind("invite")) == 3, timeout=60)
        except AssertionError:
            print(worker.log(), clock.log())
            raise

        moved = start + timedelta(days=1, hours=2)
        response = api.call(
            "PATCH", f"/api/v1/gatherings/{g['id']}", org, json={"starts_at": moved.isoformat()}
        )
        assert response.status_code == 200
        try:
            wait_for(lambda: len(of_kind("update")) == 3, timeout=60)
        except AssertionError:
            print(worker.log(), clock.log())
            raise

    invites, updates = of_kind("invite"), of_kind("update")
    assert sorted(m["To"].addresses[0].addr_spec for m in invites) == sorted(
        p["email"] for p in people
    )
    assert sorted(m["To"].addresses[0].addr_spec for m in updates) == sorted(
        p["email"] for p in people
    )
    invite_events = [calendar_of(m) for m in invites]
    update_events = [calendar_of(m) for m in updates]
    uids = {str(e["UID"]) for _, e in invite_events + update_events}
    assert len(uids) == 1
    assert {method for method, _ in invite_events + update_events} == {"REQUEST"}
    assert {e["SEQUENCE"] for _, e in invite_events} == {0}
    assert {e["SEQUENCE"] for _, e in update_events} == {1}
    assert {e.decoded("DTSTART") for _, e in update_events} == {moved}
    # each purpose and recipient has its own stable Message-ID, each sent once
    ids = smtp_sink.handler.message_ids()
    assert len(ids) == len(set(ids))
    for message in invites + updates:
        assert message["Auto-Submitted"] == "auto-generated"
