"""The rolling horizon job: one series whose stored data is broken never holds the others back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from scheduler.models import Series
from scheduler.services.accounts import identity
from scheduler.services.accounts.identity import PasswordPolicy
from scheduler.services.gatherings import series

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def organizer(session):
    made = identity.create_user(
        session,
        email="org@example.org",
        name="Org",
        password="long enough password",
        secret_key="k",
        policy=PasswordPolicy(time_cost=1, memory_cost=1024),
    )
    session.commit()
    return made


def weekly(uid: str, session, organizer) -> Series:
    args = {
        "title": f"Club {uid}",
        "timezone": "Europe/Berlin",
        "duration_minutes": 120,
        "starts_at": datetime(2027, 3, 4, 18, 0, tzinfo=UTC),
        "recurrence": "FREQ=WEEKLY;BYDAY=TH",
    }
    made, _ = series.create_series(session, organizer, args, now=NOW, uid=uid)
    session.commit()
    return made


@pytest.mark.parametrize(
    "broken",
    [
        {"rule": "FREQ=FORTNIGHTLY"},  # a rule no longer accepted
        {"timezone": "localtime"},  # old data: a zone that is not an IANA name
        {"template": {}},  # no duration to build occurrences from
    ],
)
def test_a_broken_series_is_logged_and_skipped_while_the_others_extend(
    session, organizer, caplog, broken
):
    first = weekly("u1", session, organizer)
    bad = weekly("u2", session, organizer)
    last = weekly("u3", session, organizer)
    session.execute(update(Series).where(Series.id == bad.id).values(**broken))
    session.commit()
    before = {s.id: len(series.occurrences_of(session, s.id)) for s in (first, bad, last)}

    with caplog.at_level(logging.ERROR, logger="scheduler.services.gatherings.series"):
        created = series.extend_horizons(session, now=NOW + timedelta(days=30))
    session.commit()

    assert created == 8  # four new Thursdays for each of the two sound series
    assert len(series.occurrences_of(session, first.id)) == before[first.id] + 4
    assert len(series.occurrences_of(session, last.id)) == before[last.id] + 4
    assert len(series.occurrences_of(session, bad.id)) == before[bad.id]
    assert [r.getMessage() for r in caplog.records] == [
        f"series {bad.id}: horizon not extended, its stored rule fails"
    ]
