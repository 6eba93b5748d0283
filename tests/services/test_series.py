"""Series: materialised occurrences across DST, rolling horizon, "all future" answers, splits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler.domain.recurrence import RecurrenceError
from scheduler.services.accounts import identity
from scheduler.services.accounts.identity import PasswordPolicy
from scheduler.services.gatherings import attendance, series

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # a Monday, four weeks before the March switch


@pytest.fixture
def people(session):
    policy = PasswordPolicy(time_cost=1, memory_cost=1024)
    made = [
        identity.create_user(
            session,
            email=f"p{i}@example.org",
            name=f"P{i}",
            password="long enough password",
            secret_key="k",
            policy=policy,
        )
        for i in range(4)
    ]
    session.commit()
    return made


def club_night(**extra):
    return {
        "title": "Club night",
        "timezone": "Europe/Berlin",
        "duration_minutes": 120,
        # Thursday 4 March 2027, 19:00 in Berlin (18:00Z in winter)
        "starts_at": datetime(2027, 3, 4, 18, 0, tzinfo=UTC),
        "recurrence": "FREQ=WEEKLY;BYDAY=TH;COUNT=8",
        **extra,
    }


def test_weekly_series_keeps_19_00_berlin_across_the_march_switch(session, people):
    made, occurrences = series.create_series(session, people[0], club_night(), now=NOW, uid="u1")
    starts = [g.starts_at for g in occurrences]
    assert len(starts) == 8
    assert starts[0] == datetime(2027, 3, 4, 18, 0, tzinfo=UTC)
    assert starts[3] == datetime(2027, 3, 25, 18, 0, tzinfo=UTC)  # last Thursday of winter time
    assert starts[4] == datetime(2027, 4, 1, 17, 0, tzinfo=UTC)  # summer time: still 19:00 local
    assert all(g.series_id == made.id and g.recurrence_id == g.starts_at for g in occurrences)
    assert len({g.uid for g in occurrences}) == 8


def test_materialize_is_idempotent(session, people):
    made, _ = series.create_series(session, people[0], club_night(), now=NOW, uid="u1")
    assert series.materialize(session, made, now=NOW) == []
    assert len(series.occurrences_of(session, made.id)) == 8


def test_unbounded_rule_materialises_a_rolling_90_day_horizon(session, people):
    args = club_night(recurrence="FREQ=WEEKLY;BYDAY=TH")
    made, occurrences = series.create_series(session, people[0], args, now=NOW, uid="u1")
    assert occurrences[-1].starts_at <= NOW + timedelta(days=90)
    assert occurrences[-1].starts_at > NOW + timedelta(days=83)
    later = NOW + timedelta(days=14)
    assert len(series.materialize(session, made, now=later)) == 2


def test_each_occurrence_has_its_own_capacity_and_waitlist(session, people):
    _, occurrences = series.create_series(
        session, people[0], club_night(capacity=1), now=NOW, uid="u1"
    )
    first, second = occurrences[0], occurrences[1]
    assert attendance.set_rsvp(session, first.id, people[1].id, "yes", now=NOW).state == "going"
    assert attendance.set_rsvp(session, first.id, people[2].id, "yes", now=NOW).state == "waitlisted"
    assert attendance.set_rsvp(session, second.id, people[2].id, "yes", now=NOW).state == "going"


def test_all_future_answers_apply_now_and_to_new_occurrences(session, people):
    args = club_night(recurrence="FREQ=WEEKLY;BYDAY=TH")
    made, occurrences = series.create_series(session, people[0], args, now=NOW, uid="u1")
    series.answer_all_future(session, occurrences[2], people[1], "yes", now=NOW)
    answered = {
        g.id for g in occurrences if attendance.get_rsvp(session, g.id, people[1].id) is not None
    }
    assert answered == {g.id for g in occurrences[2:]}
    new = series.materialize(session, made, now=NOW + timedelta(days=21))
    assert new and all(attendance.get_rsvp(session, g.id, people[1].id).state == "going" for g in new)


def test_this_and_following_splits_the_rule_and_leaves_the_past_alone(session, people):
    made, occurrences = series.create_series(session, people[0], club_night(), now=NOW, uid="u1")
    attendance.set_rsvp(session, occurrences[5].id, people[1].id, "yes", now=NOW)
    # from the 6th occurrence on: 20:00 instead of 19:00, in another room
    new_start = occurrences[5].starts_at + timedelta(hours=1)
    later = series.split_series(
        session,
        occurrences[5],
        new_start=new_start,
        changes={"location": "Room B"},
        now=NOW,
        uid="u2",
    )
    assert made.rule == "FREQ=WEEKLY;BYDAY=TH;UNTIL=20270401T170000Z"  # ends with UNTIL
    assert later.rule == "FREQ=WEEKLY;BYDAY=TH;COUNT=3"
    old_occurrences = series.occurrences_of(session, made.id)
    assert [g.starts_at for g in old_occurrences] == [g.starts_at for g in occurrences[:5]]
    moved = series.occurrences_of(session, later.id)
    assert [g.starts_at.astimezone(UTC).hour for g in moved] == [18, 18, 18]  # 20:00 CEST
    assert all(g.location == "Room B" and g.sequence == 1 for g in moved)
    assert attendance.get_rsvp(session, moved[0].id, people[1].id).state == "going"


def test_an_invalid_rule_names_the_recurrence_field(session, people):
    with pytest.raises(RecurrenceError) as caught:
        series.create_series(
            session, people[0], club_night(recurrence="FREQ=HOURLY"), now=NOW, uid="u1"
        )
    assert caught.value.field == "recurrence"


def test_horizon_job_extends_unbounded_series_and_is_idempotent(session, people):
    args = club_night(recurrence="FREQ=WEEKLY;BYDAY=TH")
    made, before = series.create_series(session, people[0], args, now=NOW, uid="u1")
    session.commit()
    later = NOW + timedelta(days=30)
    assert series.extend_horizons(session, now=later) == 4
    assert series.extend_horizons(session, now=later) == 0
    assert len(series.occurrences_of(session, made.id)) == len(before) + 4


def test_reminders_of_occurrences_keep_local_offsets_across_the_dst_switch(session, people):
    from sqlalchemy import select

    from scheduler.models import OutboxMessage
    from scheduler.services.mail import follow_through

    # 24 h and 1 h before each 19:00 Berlin club night, on both sides of 28 March 2027
    _, occurrences = series.create_series(
        session, people[0], club_night(reminders=[1440, 60]), now=NOW, uid="u1"
    )
    series.answer_all_future(session, occurrences[0], people[1], "yes", now=NOW)
    # what the planner owes as each falls due, at once
    follow_through.plan_window(
        session, after=NOW, until=NOW + timedelta(days=120), gathering_ids=None
    )
    session.commit()
    due = {
        (row.gathering_id, row.key.split(":")[3]): row.due_at
        for row in session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == "reminder", OutboxMessage.recipient_id == people[1].id
            )
        )
    }
    winter, summer = occurrences[3], occurrences[4]  # 25 March (CET) and 1 April (CEST)
    assert due[(winter.id, "60")] == datetime(2027, 3, 25, 17, 0, tzinfo=UTC)  # 18:00 CET
    assert due[(winter.id, "1440")] == datetime(2027, 3, 24, 18, 0, tzinfo=UTC)
    assert due[(summer.id, "60")] == datetime(2027, 4, 1, 16, 0, tzinfo=UTC)  # 18:00 CEST
    assert due[(summer.id, "1440")] == datetime(2027, 3, 31, 17, 0, tzinfo=UTC)
