"""Migration 0002 fills gathering_interests.scheduled_start from the gatherings it already has."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select, text

from scheduler.migrate import upgrade
from scheduler.models.interest import gathering_interests


def test_upgrade_copies_the_start_of_scheduled_gatherings_only(backends):
    engine = create_engine(backends.database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS migration_0002 CASCADE"))
        connection.execute(text("CREATE SCHEMA migration_0002"))
    engine.dispose()
    url = backends.database_url
    url += ("&" if "?" in url else "?") + "options=-csearch_path%3Dmigration_0002"
    upgrade(url, "0001")
    start = datetime(2030, 5, 1, 18, 0, tzinfo=UTC)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, name, password_hash, timezone, feed_token_nonce,"
                " feed_token_hash, share_name, discoverable, weekly_digest, reminders_enabled,"
                " created_at) VALUES (1, 'a@example.org', 'A', 'x', 'UTC', 'n', 'h', true, true,"
                " false, true, :at)"
            ),
            {"at": start},
        )
        connection.execute(text("INSERT INTO interests (id, name) VALUES (1, 'radio astronomy')"))
        for gid, status in ((1, "scheduled"), (2, "cancelled"), (3, "polling"), (4, "completed")):
            connection.execute(
                text(
                    "INSERT INTO gatherings (id, uid, sequence, revision, title, description,"
                    " location, organizer_id, timezone, duration_minutes, status, starts_at,"
                    " ends_at, reminders, followup_minutes, going_count, waitlist_counter,"
                    " created_at, updated_at) VALUES (:id, :uid, 0, 0, 't', '', '', 1, 'UTC', 60,"
                    " :status, :start, :end, '[]', 120, 0, 0, :start, :start)"
                ),
                {
                    "id": gid,
                    "uid": f"g{gid}@test",
                    "status": status,
                    "start": start + timedelta(days=gid),
                    "end": start + timedelta(days=gid, hours=1),
                },
            )
            connection.execute(
                text("INSERT INTO gathering_interests (gathering_id, interest_id) VALUES (:g, 1)"),
                {"g": gid},
            )
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        gi = gathering_interests  # read through the model's column type, as the app does
        rows = dict(connection.execute(select(gi.c.gathering_id, gi.c.scheduled_start)).all())
    engine.dispose()
    assert rows == {1: start + timedelta(days=1), 2: None, 3: None, 4: None}
