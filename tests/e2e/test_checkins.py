"""Check-ins end to end: API → outbox → real clock + RQ worker → real SMTP server, and the
one-click answer from the mail; a habit's next check-in proposed by the worker."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from sqlalchemy import update

from scheduler.models import Checkin, Gathering
from scheduler.queues import DEFAULT
from tests.support.people import met
from tests.support.processes import running, wait_for

pytestmark = pytest.mark.e2e


def test_met_people_check_in_and_a_habit_proposes_the_next(
    app, api, client, session, config, smtp_sink, tmp_path
):
    config = dataclasses.replace(config, smtp_url=smtp_sink.url)
    ana, ben, cid = api.signup("Ana"), api.signup("Ben"), api.signup("Cid")
    api.call("PATCH", "/api/v1/me", ben, json={"discoverable": True})
    api.call("PATCH", "/api/v1/me", ana, json={"discoverable": True})
    met(session, ana, ben, days_ago=60)

    def mails(kind: str, to: dict) -> list:
        return [
            m
            for m in smtp_sink.messages
            if m["X-Kindred-Kind"] == kind and m["To"].addresses[0].addr_spec == to["email"]
        ]

    env = {"SWEEP_INTERVAL_SECONDS": "1"}
    with (
        running("worker", config, tmp_path, name="e2e-checkins", **env) as worker,
        running("clock", config, tmp_path, **env) as clock,
    ):
        try:
            assert (
                api.call("POST", "/api/v1/checkins", cid, json={"with": ana["id"]}).status_code
                == 403
            )
            asked = api.call(
                "POST", "/api/v1/checkins", ana, json={"with": ben["id"], "every_weeks": 6}
            )
            assert asked.status_code == 201, asked.get_json()
            checkin = asked.get_json()
            (request,) = wait_for(lambda: mails("checkin_request", ben), timeout=30)
            text = request.get_body(("plain",)).get_content()
            assert "Ana would like to catch up" in text
            links = re.findall(r"http://kindred\.test(/checkins/answer/\S+)", text)
            assert len(links) == 4  # three times and "not now"
            accepted = client.post(links[1])
            assert accepted.status_code == 200 and b"data-accepted" in accepted.data

            ana_invite = wait_for(lambda: mails("invite", ana), timeout=30)[0]
            ben_invite = wait_for(lambda: mails("invite", ben), timeout=30)[0]
            for message in (ana_invite, ben_invite):
                (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
                (event,) = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk(
                    "VEVENT"
                )
                assert event.decoded("DTSTART").astimezone(UTC) == datetime.fromisoformat(
                    checkin["proposals"][1]
                )
            listed = api.call("GET", "/api/v1/me/checkins", ana).get_json()
            assert listed[0]["status"] == "accepted"
            assert listed[0]["next_date"] == checkin["proposals"][1]

            # the first check-in took place: the worker proposes the next one, 6 weeks on
            first_start = datetime.now(UTC) - timedelta(hours=2)
            session.execute(
                update(Gathering)
                .where(Gathering.id == listed[0]["gathering_id"])
                .values(starts_at=first_start, ends_at=first_start + timedelta(minutes=30))
            )
            session.execute(
                update(Checkin).where(Checkin.id == checkin["id"]).values(chosen_start=first_start)
            )
            session.commit()
            app.extensions["kindred"].enqueue(
                "workers.checkins.propose_next_checkins", queue=DEFAULT
            )
            wait_for(lambda: len(mails("checkin_request", ben)) == 2, timeout=30)
        except AssertionError:
            print(worker.log(), clock.log())
            raise

    following = api.call("GET", "/api/v1/me/checkins", ben).get_json()[0]
    assert following["status"] == "proposed" and following["every_weeks"] == 6
    nominal = first_start + timedelta(weeks=6)  # the same weekday and time, 6 weeks on
    assert abs(datetime.fromisoformat(following["proposals"][1]) - nominal) < timedelta(seconds=1)
