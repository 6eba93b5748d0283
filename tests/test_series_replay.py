"""Recurring gatherings in people's calendars: every mail each person received, applied in
order as an RFC 5546 client does, leaves their calendar equal to the API's occurrences.

Two independent readers replay the same mail: icalendar + recurring_ical_events, and
ical.js in node. Every mail's calendar part and every feed also parses in libical without
X-LIC-ERROR. People in Berlin, New York, Kolkata and Lord Howe; a weekly series across the
spring change with one occurrence cancelled, one moved, one edited, declines, a "this and
following" edit, an "all future" no and the series ended early; daily series through skipped and repeated hours (Berlin's
02:30 on 28 March, New York's 01:30 on 7 November, Lord Howe's 01:45 on 4 April and 02:15
on 3 October 2027), one occurrence moved into the second pass of a repeated hour.
"""

from __future__ import annotations

import email
import email.policy
from collections import defaultdict
from datetime import UTC, datetime

import icalendar
import pytest
from sqlalchemy import select

from scheduler.domain.messages import build_message
from scheduler.models import Gathering, OutboxMessage, OutboxStatus
from scheduler.services.mail.renderers import render_outbox_message
from tests.support.calendar_client import (
    CalendarApp,
    libical_errors,
    replay_with_icaljs,
)
from tests.support.mail import run_planner

WINDOW = (datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 6, 1, tzinfo=UTC))
CALENDAR_STATES = {"going", "waitlisted", "maybe"}


@pytest.fixture
def db(app):
    session = app.extensions["kindred"].db.session_factory()
    yield session
    session.close()


class Scenario:
    """The API as the people use it, and the mail each of them received, in order."""

    def __init__(self, api, db, config) -> None:
        self.api, self.db, self.config = api, db, config
        self.mail: dict[int, list[bytes]] = defaultdict(list)
        self.documents: list[bytes] = []
        self.series_ids: set[int] = set()

    def ok(self, method: str, path: str, user, **body):
        response = self.api.call(method, path, user, json=body or None)
        assert response.status_code in (200, 201), (path, response.get_json())
        return response.get_json()

    def series(self, organizer, title: str, timezone: str, starts_at: str, rule: str):
        made = self.ok(
            "POST",
            "/api/v1/gatherings",
            organizer,
            title=title,
            timezone=timezone,
            duration_minutes=90,
            starts_at=starts_at,
            recurrence=rule,
        )
        self.series_ids.add(made["series_id"])
        return [o["id"] for o in made["occurrences"]]

    def answer(self, person, gathering_id: int, response: str, *, all_future: bool = False):
        body = {"response": response}
        if all_future:
            body["all_future"] = True
        self.ok("PUT", f"/api/v1/gatherings/{gathering_id}/rsvp", person, **body)
        self.deliver()

    def deliver(self) -> None:
        """What delivery does: render each pending mail as it is now, send it, in order."""
        run_planner(self.db)
        self.db.expire_all()
        pending = self.db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .order_by(OutboxMessage.id)
        )
        for row in list(pending):
            mail = render_outbox_message(self.db, row, self.config)
            row.status = OutboxStatus.WITHDRAWN if mail is None else OutboxStatus.SENT
            if mail is None or mail.ics is None:
                continue
            message = email.message_from_bytes(
                bytes(build_message(mail)), policy=email.policy.default
            )
            (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
            raw = part.get_payload(decode=True)
            assert part.get_param("method") == str(icalendar.Calendar.from_ical(raw)["METHOD"])
            self.mail[row.recipient_id].append(raw)
            self.documents.append(raw)
        self.db.commit()

    def occurrences_shown_by_api(self, organizer, person) -> list[tuple[str, str]]:
        """Every occurrence the API has this person attending, as (start, end) in UTC."""
        found = []
        for series_id in sorted(self.series_ids):
            for gathering_id in self.occurrence_ids(organizer, series_id):
                gathering = self.ok("GET", f"/api/v1/gatherings/{gathering_id}", organizer)
                if gathering["status"] != "scheduled":
                    continue
                attendees = self.ok(
                    "GET", f"/api/v1/gatherings/{gathering_id}/attendees", organizer
                )
                if any(
                    a["user_id"] == person["id"] and a["state"] in CALENDAR_STATES
                    for a in attendees
                ):
                    found.append((utc(gathering["starts_at"]), utc(gathering["ends_at"])))
        return sorted(found)

    def occurrence_ids(self, organizer, series_id: int) -> list[int]:
        """The series' occurrences (the API lists those of the series it is asked about)."""
        any_occurrence = self.db.scalars(
            select(Gathering.id).where(Gathering.series_id == series_id)
        ).first()
        self.db.commit()
        found = self.ok("GET", f"/api/v1/gatherings/{any_occurrence}", organizer)
        return [o["id"] for o in found["occurrences"]]


def assert_same_calendars(readers: dict, expected: dict) -> None:
    """Each person's calendar, as each reader shows it, is what the API says they attend."""
    differences = {
        (reader, name): {
            "missing": sorted(set(want) - set(shown[name])),
            "extra": sorted(set(shown[name]) - set(want)),
        }
        for reader, shown in readers.items()
        for name, want in expected.items()
        if shown[name] != want
    }
    assert not differences, differences


def utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_every_persons_calendar_equals_the_api_after_every_kind_of_series_change(api, db, config):
    scenario = Scenario(api, db, config)
    olga = api.signup("Olga", timezone="Europe/Berlin")
    nick = api.signup("Nick", timezone="America/New_York")
    kiran = api.signup("Kiran", timezone="Asia/Kolkata")
    lara = api.signup("Lara", timezone="Australia/Lord_Howe")
    bea = api.signup("Bea", timezone="Europe/Berlin")
    people = [nick, kiran, lara, bea]

    # a weekly series across Berlin's spring change (28 March 2027)
    chess = scenario.series(
        olga, "Chess", "Europe/Berlin", "2027-03-04T19:00:00+01:00", "FREQ=WEEKLY;BYDAY=TH;COUNT=12"
    )
    scenario.answer(nick, chess[0], "yes", all_future=True)
    scenario.answer(lara, chess[0], "yes", all_future=True)
    scenario.answer(kiran, chess[1], "yes")
    scenario.answer(kiran, chess[4], "yes")
    scenario.answer(bea, chess[0], "yes")
    scenario.answer(bea, chess[2], "maybe", all_future=True)  # her single event gives way

    scenario.ok("POST", f"/api/v1/gatherings/{chess[3]}/cancel", olga)  # one cancelled
    scenario.deliver()
    scenario.ok(  # one moved an hour later, in summer time
        "PATCH", f"/api/v1/gatherings/{chess[4]}", olga, starts_at="2027-04-01T20:00:00+02:00"
    )
    scenario.deliver()
    scenario.ok(  # one edited: longer, elsewhere
        "PATCH", f"/api/v1/gatherings/{chess[6]}", olga, duration_minutes=150, location="Hall"
    )
    scenario.deliver()
    scenario.answer(lara, chess[5], "no")  # a holder of the whole series declines one
    scenario.answer(kiran, chess[1], "no")  # a holder of one occurrence declines it
    scenario.ok(  # this and following: an hour later, elsewhere
        "PATCH",
        f"/api/v1/gatherings/{chess[7]}",
        olga,
        scope="following",
        starts_at="2027-04-22T20:00:00+02:00",
        location="Back room",
    )
    scenario.deliver()
    new_chess = scenario.ok("GET", f"/api/v1/gatherings/{chess[7]}", olga)
    scenario.series_ids.add(new_chess["series_id"])
    scenario.answer(nick, chess[9], "no", all_future=True)  # the rest without him
    scenario.answer(kiran, chess[10], "yes")
    scenario.ok("POST", f"/api/v1/gatherings/{chess[10]}/cancel", olga, scope="following")
    scenario.deliver()  # the series ends before its 11th evening

    # series through skipped and repeated hours
    berlin_night = scenario.series(
        olga, "Night owls", "Europe/Berlin", "2027-03-26T02:30:00+01:00", "FREQ=DAILY;COUNT=4"
    )
    scenario.answer(nick, berlin_night[0], "yes", all_future=True)
    berlin_autumn = scenario.series(  # 01:30 for 90 minutes: 31 October's spans the change
        olga, "Early birds", "Europe/Berlin", "2027-10-30T01:30:00+02:00", "FREQ=DAILY;COUNT=3"
    )
    scenario.answer(bea, berlin_autumn[0], "yes", all_future=True)
    new_york_night = scenario.series(
        olga, "Late show", "America/New_York", "2027-11-05T01:30:00-04:00", "FREQ=DAILY;COUNT=4"
    )
    scenario.answer(lara, new_york_night[0], "yes", all_future=True)
    scenario.answer(kiran, new_york_night[2], "yes")  # 7 November, 01:30: the first pass
    scenario.ok(  # moved into the second pass of the repeated hour
        "PATCH",
        f"/api/v1/gatherings/{new_york_night[3]}",
        olga,
        starts_at="2027-11-07T01:30:00-05:00",
    )
    scenario.deliver()
    scenario.answer(kiran, new_york_night[3], "yes")
    lord_howe_autumn = scenario.series(
        olga,
        "Island walk",
        "Australia/Lord_Howe",
        "2027-04-02T01:45:00+11:00",
        "FREQ=DAILY;COUNT=4",
    )
    scenario.answer(bea, lord_howe_autumn[0], "yes", all_future=True)
    scenario.answer(nick, lord_howe_autumn[2], "yes")  # 4 April 01:45, a repeated time
    lord_howe_spring = scenario.series(
        olga, "Island run", "Australia/Lord_Howe", "2027-10-01T02:15:00+10:30", "FREQ=DAILY;COUNT=4"
    )
    scenario.answer(kiran, lord_howe_spring[0], "yes", all_future=True)
    scenario.answer(lara, lord_howe_spring[3], "yes")
    scenario.ok("POST", f"/api/v1/gatherings/{lord_howe_spring[2]}/cancel", olga, scope="following")
    scenario.deliver()

    expected = {p["name"]: scenario.occurrences_shown_by_api(olga, p) for p in people}
    assert all(expected.values())
    by_python = {}
    for person in people:
        app = CalendarApp()
        for raw in scenario.mail[person["id"]]:
            app.apply(raw)
        by_python[person["name"]] = app.shown(*WINDOW)
    by_icaljs = replay_with_icaljs({p["name"]: scenario.mail[p["id"]] for p in people}, *WINDOW)
    assert_same_calendars(
        {"icalendar + recurring_ical_events": by_python, "ical.js": by_icaljs}, expected
    )

    feeds = [
        api.client.get(
            scenario.ok("GET", "/api/v1/me", p)["feed_url"].removeprefix(config.base_url)
        ).data
        for p in [olga, *people]
    ]
    files = [api.client.get(f"/gatherings/{g}.ics").data for g in (chess[4], new_york_night[3])]
    assert libical_errors(scenario.documents + feeds + files) == []
