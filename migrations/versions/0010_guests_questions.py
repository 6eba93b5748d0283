"""Guests and questions: a person brings guests who take seats with them; organizers ask
questions that people answer with their RSVP

gatherings gain max_guests (0: no guests, as before) and questions; rsvps gain guests and
answers. kindred_answer is installed again with the guest and question rules (it takes two
more arguments, so the old signature is dropped first); going_count now counts guests too,
which for existing rows (no guests) it already does.

Revision ID: 0010
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from scheduler.models import attendance_function

revision: str = "0010"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ANSWER = "kindred_answer(integer, integer, text, timestamptz, text, boolean)"


def upgrade() -> None:
    op.add_column(
        "gatherings", sa.Column("max_guests", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "gatherings",
        sa.Column("questions", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.add_column("rsvps", sa.Column("guests", sa.Integer(), nullable=False, server_default="0"))
    op.add_column(
        "rsvps",
        sa.Column("answers", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'")),
    )
    op.execute(f"DROP FUNCTION IF EXISTS {OLD_ANSWER}")
    attendance_function.install(op.get_bind())


def downgrade() -> None:
    # guests give their seats back before the column goes (the waitlist stays as it is: the
    # old rule promotes it as seats free up)
    op.execute(
        "UPDATE gatherings g SET going_count = (SELECT count(*) FROM rsvps r"
        " WHERE r.gathering_id = g.id AND r.state = 'going')"
    )
    attendance_function.uninstall(op.get_bind())
    op.drop_column("rsvps", "answers")
    op.drop_column("rsvps", "guests")
    op.drop_column("gatherings", "questions")
    op.drop_column("gatherings", "max_guests")
    op.get_bind().exec_driver_sql(PREVIOUS_SQL)


# The functions as revision 0008 installed them (a snapshot of history, for the downgrade).
PREVIOUS_SQL = r"""
-- Where a waitlist ticket stands: 1 for the next person to get a seat.
CREATE OR REPLACE FUNCTION kindred_waitlist_place(gathering_id integer, ticket integer)
RETURNS integer
LANGUAGE sql STABLE AS $fn$
    SELECT count(*)::integer + 1 FROM rsvps r
    WHERE r.gathering_id = $1 AND r.state = 'waitlisted' AND r.waitlist_ticket < $2
$fn$;

-- Seats for the longest waiting while seats are free (the caller holds the row lock and
-- writes the gathering's counters); records a 'promoted' event each. How many got a seat.
CREATE OR REPLACE FUNCTION kindred_promote(g gatherings, now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    free_seats integer := g.capacity - g.going_count;  -- NULL: unlimited
    seated_count integer;
BEGIN
    IF free_seats IS NOT NULL AND free_seats <= 0 THEN
        RETURN 0;
    END IF;
    WITH seated AS (
        UPDATE rsvps r SET state = 'going', updated_at = now
        WHERE r.id IN (SELECT w.id FROM rsvps w
                       WHERE w.gathering_id = g.id AND w.state = 'waitlisted'
                       ORDER BY w.waitlist_ticket LIMIT free_seats)
        RETURNING r.user_id, r.waitlist_ticket
    ), recorded AS (
        INSERT INTO domain_events (kind, gathering_id, user_id, data, created_at)
        SELECT 'promoted', g.id, s.user_id,
               json_build_object('ticket', s.waitlist_ticket, 'sequence', g.sequence), now
        FROM seated s
        ORDER BY s.waitlist_ticket
        RETURNING 1
    )
    SELECT count(*) INTO seated_count FROM recorded;
    RETURN seated_count;
END
$fn$;

-- After a capacity change (the caller has locked the gathering and written the capacity).
CREATE OR REPLACE FUNCTION kindred_fill_seats(gathering_id integer, now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    g gatherings;
    seated_count integer;
BEGIN
    SELECT * INTO g FROM gatherings WHERE id = kindred_fill_seats.gathering_id FOR UPDATE;
    IF NOT FOUND OR g.status <> 'scheduled' THEN
        RETURN 0;
    END IF;
    seated_count := kindred_promote(g, now);
    IF seated_count > 0 THEN
        UPDATE gatherings
        SET going_count = going_count + seated_count, revision = revision + 1, updated_at = now
        WHERE id = g.id;
    END IF;
    RETURN seated_count;
END
$fn$;

-- One person's answer. `origin` travels with the event ('single', or 'series' for an
-- "all future" answer, whose mail is one invite for the whole series); `take_lock` is
-- false only in the tests' negative control, to show the race the lock prevents.
CREATE OR REPLACE FUNCTION kindred_answer(
    gathering_id integer, user_id integer, response text, now timestamptz,
    origin text DEFAULT 'single', take_lock boolean DEFAULT true
) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    g gatherings;
    mine rsvps;
    previous_state text;
    new_state text;
    ticket integer;
    changed boolean := false;
    seated_count integer;
    waitlist_place integer;
BEGIN
    IF user_id IS NULL THEN
        RETURN json_build_object('error', 'unauthenticated');
    END IF;
    IF response IS NULL OR response NOT IN ('yes', 'no', 'maybe') THEN
        RETURN json_build_object('error', 'invalid_response');
    END IF;
    IF take_lock THEN
        SELECT * INTO g FROM gatherings WHERE id = kindred_answer.gathering_id FOR UPDATE;
    ELSE
        SELECT * INTO g FROM gatherings WHERE id = kindred_answer.gathering_id;
    END IF;
    IF NOT FOUND THEN
        RETURN json_build_object('error', 'not_found');
    ELSIF g.group_id IS NOT NULL AND g.organizer_id <> kindred_answer.user_id
          AND NOT EXISTS (SELECT 1 FROM group_members m
                          WHERE m.group_id = g.group_id AND m.user_id = kindred_answer.user_id
                            AND m.state = 'member') THEN
        -- a group's gatherings take answers from its members (and organizers) only
        RETURN json_build_object('error', 'not_member');
    ELSIF g.status = 'cancelled' THEN
        RETURN json_build_object('error', 'cancelled');
    ELSIF g.status = 'completed' OR (g.ends_at IS NOT NULL AND g.ends_at <= now) THEN
        RETURN json_build_object('error', 'ended');
    ELSIF g.status <> 'scheduled' OR g.starts_at IS NULL THEN
        RETURN json_build_object('error', 'not_scheduled');
    END IF;
    -- a statement of its own, so it sees what the lock's previous holder committed (read in
    -- the locking statement, it would come from a snapshot taken before the wait)
    SELECT * INTO mine FROM rsvps r
    WHERE r.gathering_id = g.id AND r.user_id = kindred_answer.user_id;

    IF mine.id IS NOT NULL AND mine.response = kindred_answer.response THEN
        new_state := mine.state;
        ticket := mine.waitlist_ticket;
    ELSE
        changed := true;
        previous_state := mine.state;
        ticket := mine.waitlist_ticket;
        IF response = 'yes' THEN
            IF g.capacity IS NULL OR g.going_count < g.capacity THEN
                new_state := 'going';
                g.going_count := g.going_count + 1;
            ELSE
                g.waitlist_counter := g.waitlist_counter + 1;
                new_state := 'waitlisted';
                ticket := g.waitlist_counter;
            END IF;
        ELSE
            new_state := CASE WHEN response = 'maybe' THEN 'maybe' ELSE 'not_going' END;
            ticket := NULL;
            IF previous_state = 'going' THEN
                g.going_count := g.going_count - 1;
            END IF;
        END IF;
        IF mine.id IS NULL THEN
            INSERT INTO rsvps (gathering_id, user_id, response, state, waitlist_ticket,
                               created_at, updated_at)
            VALUES (g.id, kindred_answer.user_id, response, new_state, ticket, now, now);
        ELSE
            UPDATE rsvps SET response = kindred_answer.response, state = new_state,
                             waitlist_ticket = ticket, updated_at = now
            WHERE id = mine.id;
        END IF;
        INSERT INTO domain_events (kind, gathering_id, user_id, data, created_at)
        VALUES ('answered', g.id, kindred_answer.user_id,
                json_build_object('previous_state', previous_state, 'state', new_state,
                                  'response', response, 'origin', origin,
                                  'sequence', g.sequence),
                now);
        IF previous_state = 'going' THEN
            seated_count := kindred_promote(g, now);
            g.going_count := g.going_count + seated_count;
        END IF;
        UPDATE gatherings
        SET going_count = g.going_count, waitlist_counter = g.waitlist_counter,
            revision = g.revision + 1, updated_at = now
        WHERE id = g.id;
    END IF;

    IF new_state = 'waitlisted' AND ticket IS NOT NULL THEN
        waitlist_place := kindred_waitlist_place(g.id, ticket);
    END IF;
    RETURN json_build_object(
        'response', response,
        'state', new_state,
        'waitlist_position', waitlist_place,
        'gathering_id', g.id,
        'going_count', g.going_count,
        'seats_left', CASE WHEN g.capacity IS NOT NULL
                           THEN greatest(0, g.capacity - g.going_count) END,
        'changed', changed);
END
$fn$;
"""
