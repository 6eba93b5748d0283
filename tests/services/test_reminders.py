"""Reminders and follow-ups: planned from attendance, moved, withdrawn, what they say,
unsubscribe."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler.extensions import Services
from scheduler.models import Group, Interest, OutboxMessage, OutboxStatus, Rsvp, utcnow
from scheduler.services.mail import delivery, follow_through
from scheduler.services.mail.unsubscribe import unsubscribe_url
from tests.services.outbox_factories import answer_all, make_gathering, make_users
from tests.support.mail import run_planner


def _rows(session, **where) -> list[OutboxMessage]:
    session.expire_all()
    stmt = select(OutboxMessage).order_by(OutboxMessage.due_at, OutboxMessage.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(OutboxMessage, name) == value)
    rows = list(session.scalars(stmt))
    session.commit()
    return rows


def _create(api, organizer, starts_at: datetime, **extra) -> dict:
    body = {"title": "Chess", "timezone": "Europe/Berlin", "duration_minutes": 90,
            "starts_at": starts_at.isoformat(), **extra}  # fmt: skip
    response = api.call("POST", "/api/v1/gatherings", organizer, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _rsvp(api, user, gathering_id: int, answer: str) -> None:
    response = api.call(
        "PUT", f"/api/v1/gatherings/{gathering_id}/rsvp", user, json={"response": answer}
    )
    assert response.status_code == 200, response.get_json()


def _follow_through(app, user_id: int) -> list[tuple[str, str, datetime]]:
    db = app.extensions["kindred"].db
    with db.session_factory() as s:
        rows = s.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.recipient_id == user_id,
                OutboxMessage.kind.in_(follow_through.FOLLOW_THROUGH_KINDS),
            )
            .order_by(OutboxMessage.due_at)
        ).all()
        return [(r.kind, r.status, r.due_at) for r in rows]


def test_an_answer_writes_no_reminders_the_planner_owes_each_shortly_before_it_is_due(app, api):
    organizer, pat = api.signup("Olga"), api.signup("Pat")
    now = utcnow()
    starts = (now + timedelta(hours=5)).replace(microsecond=0)
    g = _create(api, organizer, starts, reminders=[1440, 60], followup_minutes=30)
    _rsvp(api, pat, g["id"], "yes")
    assert _follow_through(app, pat["id"]) == []  # the answer itself owes no rows
    run_planner(app, now)
    assert _follow_through(app, pat["id"]) == []  # nothing falls due in the next minutes

    hour_before = starts - timedelta(minutes=60)
    run_planner(app, hour_before - timedelta(minutes=2))
    # 24 h before was already past when Pat joined: never owed
    assert _follow_through(app, pat["id"]) == [("reminder", "pending", hour_before)]
    run_planner(app, hour_before - timedelta(minutes=1))  # a second run owes nothing twice
    assert len(_follow_through(app, pat["id"])) == 1

    ends = starts + timedelta(minutes=90)
    run_planner(app, ends + timedelta(minutes=28))
    assert _follow_through(app, pat["id"])[-1] == (
        "followup", "pending", ends + timedelta(minutes=30)
    )


def test_an_answer_close_to_a_reminder_is_planned_at_once(app, api):
    organizer, pat = api.signup("Olga"), api.signup("Pat")
    now = utcnow()
    # the reminder falls due in 3 minutes: inside the span the planner has already covered
    starts = (now + timedelta(minutes=63)).replace(microsecond=0)
    g = _create(api, organizer, starts, reminders=[60])
    run_planner(app, now)
    _rsvp(api, pat, g["id"], "maybe")
    run_planner(app, now)  # as kicked by the answer
    assert _follow_through(app, pat["id"]) == [
        ("reminder", "pending", starts - timedelta(minutes=60))
    ]


def test_maybe_is_reminded_not_followed_up_and_a_change_of_mind_rewrites_nothing(
    app, api, session, mailer, smtp_sink
):
    organizer, pat = api.signup("Olga"), api.signup("Pat")
    starts = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    g = _create(api, organizer, starts, reminders=[60], followup_minutes=30)
    _rsvp(api, pat, g["id"], "maybe")
    run_planner(app, starts - timedelta(minutes=62))
    run_planner(app, starts + timedelta(minutes=90 + 29))  # the follow-up's time: not for maybe
    assert [(k, s) for k, s, _ in _follow_through(app, pat["id"])] == [("reminder", "pending")]

    _rsvp(api, pat, g["id"], "no")  # the row stays; delivery asks again before sending
    assert [(k, s) for k, s, _ in _follow_through(app, pat["id"])] == [("reminder", "pending")]
    delivery.deliver_due(mailer, now_fn=lambda: starts - timedelta(minutes=59))
    assert [m for m in smtp_sink.messages if m["X-Kindred-Kind"] == "reminder"] == []
    assert [(k, s) for k, s, _ in _follow_through(app, pat["id"])] == [("reminder", "withdrawn")]

    _rsvp(api, pat, g["id"], "yes")  # going after all: the follow-up is owed when it falls due
    run_planner(app, starts + timedelta(minutes=90 + 29))
    assert [(k, s) for k, s, _ in _follow_through(app, pat["id"])] == [
        ("reminder", "withdrawn"),
        ("followup", "pending"),
    ]


def test_a_reschedule_plans_for_the_new_time_and_a_cancel_withdraws_what_was_planned(app, api):
    organizer, pat = api.signup("Olga"), api.signup("Pat")
    now = utcnow()
    starts = (now + timedelta(minutes=63)).replace(microsecond=0)
    g = _create(api, organizer, starts, reminders=[60])
    _rsvp(api, pat, g["id"], "yes")
    run_planner(app, now)
    assert [(k, d) for k, s, d in _follow_through(app, pat["id"]) if s == "pending"] == [
        ("reminder", starts - timedelta(minutes=60))
    ]
    later = starts + timedelta(minutes=1)
    response = api.call(
        "PATCH", f"/api/v1/gatherings/{g['id']}", organizer, json={"starts_at": later.isoformat()}
    )
    assert response.status_code == 200
    run_planner(app, now)
    assert [(k, d) for k, s, d in _follow_through(app, pat["id"]) if s == "pending"] == [
        ("reminder", later - timedelta(minutes=60))
    ]
    assert api.call("POST", f"/api/v1/gatherings/{g['id']}/cancel", organizer).status_code == 200
    run_planner(app, now)
    assert {s for _, s, _ in _follow_through(app, pat["id"])} == {"withdrawn"}
    run_planner(app, later)  # nothing more is ever owed for a cancelled gathering
    assert {s for _, s, _ in _follow_through(app, pat["id"])} == {"withdrawn"}


def test_changing_the_offsets_re_derives_the_reminders(app, api):
    organizer, pat = api.signup("Olga"), api.signup("Pat")
    starts = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    g = _create(api, organizer, starts, reminders=[60])
    _rsvp(api, pat, g["id"], "yes")
    api.call("PATCH", f"/api/v1/gatherings/{g['id']}", organizer, json={"reminders": [15, 120]})
    run_planner(app, starts - timedelta(minutes=125))
    run_planner(app, starts - timedelta(minutes=20))
    assert sorted(
        d for k, s, d in _follow_through(app, pat["id"]) if s == "pending" and k == "reminder"
    ) == [starts - timedelta(minutes=120), starts - timedelta(minutes=15)]


@pytest.fixture
def mailer(app, config, smtp_sink) -> Iterator[Services]:
    services = Services(dataclasses.replace(config, smtp_url=smtp_sink.url))
    yield services
    services.db.dispose()


def _text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_a_reminder_speaks_the_recipients_time_zone_with_one_click_answers_and_the_ics(
    session, mailer, smtp_sink
):
    now = utcnow()
    organizer, *_ = make_users(session, 1)
    (ny,) = make_users(session, 1, prefix="ny", timezone="America/New_York")
    starts = datetime(2030, 1, 15, 18, 0, tzinfo=UTC)
    g = make_gathering(session, organizer, starts_at=starts, reminders_minutes=[60])
    answer_all(session, g, [ny], now=now)
    session.commit()

    delivery.deliver_due(mailer, now_fn=lambda: starts - timedelta(minutes=59))

    (message,) = smtp_sink.messages
    text = _text(message)
    assert "starts in 1 hour" in text
    assert "Tuesday, 15 January 2030, 13:00" in text and "America/New_York" in text
    assert "http://kindred.test/r/" in text  # one-click RSVP links
    calendars = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(calendars) == 1 and g.uid.encode() in calendars[0].get_content().encode()
    assert str(message["List-Unsubscribe-Post"]).strip() == "List-Unsubscribe=One-Click"


def test_a_reminder_delayed_past_the_end_is_withdrawn_not_sent(session, mailer, smtp_sink):
    organizer, early, late = make_users(session, 3)
    starts = datetime(2030, 1, 15, 18, 0, tzinfo=UTC)
    g = make_gathering(session, organizer, starts_at=starts, reminders_minutes=[60])
    answer_all(session, g, [early, late], now=utcnow())
    session.commit()
    # an outage held every worker until after the (one-hour) gathering was over
    delivery.deliver_due(mailer, now_fn=lambda: starts + timedelta(minutes=121))

    assert smtp_sink.messages == []
    rows = _rows(session, kind="reminder")
    assert [r.status for r in rows] == [OutboxStatus.WITHDRAWN] * 2


def test_a_follow_up_thanks_names_only_those_who_share_and_points_to_the_next_one(
    session, mailer, smtp_sink
):
    now = utcnow()
    organizer, alice, bob, shy = make_users(session, 4)
    shy.share_name = False
    group = Group(name="Go club", organizer_id=organizer.id)
    group.interests = [Interest(name="go"), Interest(name="strategy games")]
    alice.interests = [group.interests[0]]
    session.add(group)
    session.flush()
    starts = now + timedelta(days=1)
    g = make_gathering(session, organizer, starts_at=starts, group=group, followup_minutes=60)
    upcoming = make_gathering(
        session, organizer, starts_at=now + timedelta(days=8), group=group, title="Go night 2"
    )
    answer_all(session, g, [alice, bob, shy], now=now)
    session.commit()

    delivery.deliver_due(mailer, now_fn=lambda: g.ends_at + timedelta(minutes=61))

    followups = [m for m in smtp_sink.messages if m["X-Kindred-Kind"] == "followup"]
    assert len(followups) == 3
    text = _text(next(m for m in followups if "p1@" in str(m["To"])))
    assert "Thanks for coming" in text
    assert "P Person 1, P Person 2 and 1 more" in text and "P Person 3" not in text
    assert "go, strategy games" in text and "you share go" in text
    assert f"http://kindred.test/g/{upcoming.id}" in text
    assert str(followups[0]["List-Unsubscribe"]).strip().startswith("<http://kindred.test/")


def test_unsubscribe_page_asks_first_then_one_click_post_stops_that_gatherings_mail(
    app, client, session, config
):
    now = utcnow()
    organizer, pat = make_users(session, 2)
    g = make_gathering(session, organizer, starts_at=now + timedelta(days=3))
    other = make_gathering(session, organizer, starts_at=now + timedelta(days=4))
    answer_all(session, g, [pat], now=now)
    answer_all(session, other, [pat], now=now)
    session.commit()
    path = unsubscribe_url(config, pat.id, g.id).removeprefix(config.base_url)

    page = client.get(path)
    assert page.status_code == 200 and b"Stop reminders and follow-ups for" in page.data
    assert {r.status for r in _rows(session, gathering_id=g.id)} == {OutboxStatus.PENDING}

    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert {r.status for r in _rows(session, gathering_id=g.id)} == {OutboxStatus.WITHDRAWN}
    assert {r.status for r in _rows(session, gathering_id=other.id)} == {OutboxStatus.PENDING}

    # later changes owe this person nothing for that gathering
    rsvp = session.scalars(select(Rsvp).where(Rsvp.gathering_id == g.id)).one()
    rsvp.state, rsvp.response = "maybe", "maybe"
    session.commit()
    run_planner(app, now)
    follow_through.plan_gatherings(session, [g.id], now=now)
    session.commit()
    assert {r.status for r in _rows(session, gathering_id=g.id)} == {OutboxStatus.WITHDRAWN}


def test_unsubscribe_everything_and_bad_links(app, client, session, config):
    now = utcnow()
    organizer, pat = make_users(session, 2)
    g = make_gathering(session, organizer, starts_at=now + timedelta(days=3))
    answer_all(session, g, [pat], now=now)
    session.commit()
    path = unsubscribe_url(config, pat.id, g.id).removeprefix(config.base_url)
    assert client.post(path, data={"scope": "all"}).status_code == 200
    assert {r.status for r in _rows(session)} == {OutboxStatus.WITHDRAWN}
    session.expire_all()
    assert pat.reminders_enabled is False
    session.commit()
    assert client.get(path[:-3] + "xyz").status_code == 422
    assert client.post(path, data={"scope": "everything"}).status_code == 422
    assert client.get("/unsubscribe/" + "a" * 5000).status_code == 422
