"""The attendance rule, once: `kindred_answer`, a PostgreSQL function.

Who holds a seat is decided here and nowhere else. Every caller goes through it: the API
(its WSGI fast path and the Flask view), the pages, one-click links, "all future" series
answers and occurrences inheriting them (all by way of services/gatherings/attendance.py).
Raising a gathering's capacity fills the freed seats with `kindred_fill_seats`, which shares
the promotion step.

The rule, all under the gathering's row lock:
- `yes` takes a seat while one is free (`going`), else joins the FIFO waitlist with a ticket
  drawn from the gathering's counter (`waitlisted`);
- `maybe` and `no` hold no seat (`maybe`, `not_going`); leaving `going` frees the seat and the
  longest-waiting people are promoted (the ticket stays on their row: it names the promotion);
- the same answer again changes nothing;
- only a scheduled gathering that has not ended takes answers;
- a group's gathering takes answers only from the group's members (not pending ones) and
  its organizer (domain/access.py's `answer`, enforced here so that every path, the fast
  path included, meets it).

What happened is recorded as domain events in the same transaction (`answered`, `promoted`):
mail, calendars and tribe react to those; nothing here knows about mail. The answer comes
back as JSON: the outcome, or `{"error": code}` (and then nothing was changed).

One round trip and one transaction per answer is what keeps RSVPs fast (bench/rsvp.py). A
change to the rule is a change to this text plus a migration that runs `install` again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from scheduler.models.base import Base

# Sent to the driver as is (exec_driver_sql, no parameters): never wrap it in text(), which
# would read colons inside it as bind parameters.
SQL = r"""
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

DROP_SQL = """
DROP FUNCTION IF EXISTS kindred_answer(integer, integer, text, timestamptz, text, boolean);
DROP FUNCTION IF EXISTS kindred_fill_seats(integer, timestamptz);
DROP FUNCTION IF EXISTS kindred_promote(gatherings, timestamptz);
DROP FUNCTION IF EXISTS kindred_waitlist_place(integer, integer);
"""


def install(connection: Any) -> None:
    """Create (or replace) the functions."""
    connection.exec_driver_sql(SQL)


def uninstall(connection: Any) -> None:
    """Drop the functions (a migration's downgrade)."""
    connection.exec_driver_sql(DROP_SQL)


@event.listens_for(Base.metadata, "after_create")
def _install_after_create_all(_target: Any, connection: Any, **_kw: Any) -> None:
    install(connection)
