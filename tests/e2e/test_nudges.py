"""Nudges and weekly digests: owed exactly once per period, delivered by a real worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from sqlalchemy import select

from scheduler.models import Gathering, GatheringStatus, Group, GroupMember, OutboxMessage, User
from scheduler.services.accounts.identity import create_user
from scheduler.services.interests.vocabulary import resolve_interests
from scheduler.services.tribe.nudges import owe_digests, owe_group_nudges
from tests.support.processes import running, wait_for

BASE = "http://kindred.test"
SECRET = "test-secret-key-not-for-production"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def session(app):
    """The app's scoped session, without holding an app context open."""
    db = app.extensions["kindred"].db
    yield db.session
    db.remove()


def person(session, name: str, **fields) -> User:
    from scheduler.services.accounts.identity import PasswordPolicy

    interests = fields.pop("interests", [])
    user = create_user(
        session,
        email=f"{name.lower()}@example.org",
        name=name,
        password="correct horse battery",
        interests=interests,
        secret_key=SECRET,
        policy=PasswordPolicy(time_cost=1, memory_cost=1024),
    )
    for key, value in fields.items():
        setattr(user, key, value)
    session.flush()
    return user


def gathering(session, organizer: User, starts_at: datetime, **fields) -> Gathering:
    interests = fields.pop("interests", [])
    row = Gathering(
        uid=f"{uuid.uuid4()}@test",
        title=fields.pop("title", "Meetup"),
        organizer_id=organizer.id,
        timezone="Europe/Berlin",
        duration_minutes=90,
        status=fields.pop("status", GatheringStatus.SCHEDULED),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=90),
        interests=resolve_interests(session, interests),
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def quiet_group(session, organizer: User, *, weeks_quiet: float, nudge_after: int = 4) -> Group:
    """A group whose last gathering (a Tuesday, 19:00 Berlin) was `weeks_quiet` weeks ago."""
    group = Group(
        name="Dish people",
        organizer_id=organizer.id,
        nudge_after_weeks=nudge_after,
        created_at=NOW - timedelta(weeks=30),
    )
    session.add(group)
    session.flush()
    session.add(GroupMember(group_id=group.id, user_id=organizer.id, role="organizer"))
    last = NOW - timedelta(weeks=weeks_quiet)
    # move back to the Tuesday at 19:00 Berlin (18:00 UTC in winter / 17:00 in summer)
    for back in range(3):
        start = last - timedelta(weeks=back)
        local = start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
        local = local - timedelta(days=(local.weekday() - 1) % 7)
        local = local.replace(hour=19, minute=0, second=0)
        gathering(
            session,
            organizer,
            local.astimezone(UTC),
            group_id=group.id,
            status=GatheringStatus.COMPLETED,
        )
    session.commit()
    return group


def outbox(session, kind: str) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def test_a_quiet_group_nudges_its_organizer_once_per_quiet_spell(session):
    organizer = person(session, "Olga", timezone="Europe/Berlin")
    group = quiet_group(session, organizer, weeks_quiet=5)

    first = owe_group_nudges(session, now=NOW, base_url=BASE)
    second = owe_group_nudges(session, now=NOW + timedelta(hours=1), base_url=BASE)
    session.commit()

    assert (first, second) == (1, 0)
    (row,) = outbox(session, "nudge")
    assert row.recipient_email == "olga@example.org"
    proposal = row.payload["proposal"]
    assert proposal["group_id"] == group.id
    start = datetime.fromisoformat(proposal["poll"]["window_start"])
    assert start.tzinfo is not None and start > NOW + timedelta(days=5)
    usual = datetime.fromisoformat(proposal["poll"]["window_start"]) + timedelta(hours=2)
    local = usual.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert (local.weekday(), local.hour) == (1, 19)  # the group's usual Tuesday 19:00
    # four more quiet weeks: a second nudge, again only once
    later = NOW + timedelta(weeks=4)
    assert owe_group_nudges(session, now=later, base_url=BASE) == 1
    assert owe_group_nudges(session, now=later, base_url=BASE) == 0


def test_groups_that_are_active_or_recently_met_are_not_nudged(session):
    organizer = person(session, "Olga")
    quiet_group(session, organizer, weeks_quiet=2)
    busy = quiet_group(session, organizer, weeks_quiet=10)
    gathering(session, organizer, NOW + timedelta(days=3), group_id=busy.id)
    session.commit()

    assert owe_group_nudges(session, now=NOW, base_url=BASE) == 0


def test_one_click_proposal_creates_the_poll(api, session):
    organizer = api.signup("Olga", timezone="Europe/Berlin")
    other = api.signup("Otto")
    user = session.get(User, organizer["id"])
    group = quiet_group(session, user, weeks_quiet=5)

    denied = api.call("POST", f"/api/v1/groups/{group.id}/proposals", other)
    created = api.call("POST", f"/api/v1/groups/{group.id}/proposals", organizer)

    assert denied.status_code == 403
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "polling" and body["group_id"] == group.id
    assert owe_group_nudges(session, now=datetime.now(UTC), base_url=BASE) == 0


def test_weekly_digest_once_per_week_only_for_those_who_opted_in(api, session):
    host = person(session, "Host")
    reader = person(session, "Rita", interests=["radio astronomy"], weekly_digest=True)
    person(session, "Quiet", interests=["radio astronomy"])  # not opted in
    person(session, "Bored", interests=["knitting"], weekly_digest=True)  # nothing matches
    new = gathering(session, host, NOW + timedelta(days=4), interests=["radio astronomy"])
    old = gathering(session, host, NOW + timedelta(days=5), interests=["radio astronomy"])
    old.created_at = NOW - timedelta(days=20)
    session.commit()

    first = owe_digests(session, now=NOW, base_url=BASE, secret_key=SECRET)
    again = owe_digests(session, now=NOW + timedelta(minutes=5), base_url=BASE, secret_key=SECRET)
    session.commit()

    assert (first, again) == (1, 0)
    (row,) = outbox(session, "digest")
    assert row.recipient_id == reader.id
    assert [g["id"] for g in row.payload["gatherings"]] == [new.id]
    assert row.key.startswith(f"digest:{reader.id}:")
    # the unsubscribe link works without logging in and stops the digest
    path = row.payload["unsubscribe_url"].removeprefix(BASE)
    response = api.call("POST", path)
    assert response.status_code == 200
    assert response.get_json() == {"weekly_digest": False}
    assert api.call("POST", path[:-3] + "xyz").status_code == 404
    session.expire_all()
    assert session.get(User, reader.id).weekly_digest is False


@pytest.mark.e2e
def test_nudge_and_digest_arrive_once_through_a_real_worker(
    app, config, session, redis_client, smtp_sink, tmp_path
):
    organizer = person(session, "Olga", timezone="Europe/Berlin")
    quiet_group(session, organizer, weeks_quiet=5)
    reader = person(session, "Rita", interests=["radio astronomy"], weekly_digest=True)
    gathering(session, organizer, NOW + timedelta(days=4), interests=["radio astronomy"])
    session.commit()
    queue = Queue("default", connection=redis_client)

    with running("worker", config, tmp_path, SMTP_URL=smtp_sink.url) as worker:
        for _ in range(2):  # a retried or doubled scan owes nothing twice
            queue.enqueue("workers.nudges.scan_groups")
            queue.enqueue("workers.nudges.scan_digests")
        try:
            wait_for(lambda: len(smtp_sink.messages) >= 2, timeout=30)
        except AssertionError:
            print(worker.log())
            raise
        wait_for(lambda: queue.count == 0 and not queue.started_job_registry.count, timeout=15)

    kinds = sorted(str(m["X-Kindred-Kind"]) for m in smtp_sink.messages)
    assert kinds == ["digest", "nudge"]
    by_kind = {str(m["X-Kindred-Kind"]): m for m in smtp_sink.messages}
    assert "propose the next one" in str(by_kind["nudge"]["Subject"])
    assert by_kind["nudge"]["To"].addresses[0].addr_spec == organizer.email
    assert by_kind["digest"]["To"].addresses[0].addr_spec == reader.email
    assert "List-Unsubscribe" in by_kind["digest"]
    assert len(set(smtp_sink.handler.message_ids())) == 2
