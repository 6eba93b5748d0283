"""The attendance rule, once: `kindred_answer`, a PostgreSQL function.

Who holds a seat is decided here and nowhere else. Every caller goes through it: the API
(its WSGI fast path and the Flask view), the pages, one-click links, "all future" series
answers and occurrences inheriting them (all by way of services/gatherings/attendance.py).
Raising a gathering's capacity fills the freed seats with `kindred_fill_seats`, which shares
the promotion step.

The rule, all under the gathering's row lock. A person comes with their guests (0 up to the
gathering's `max_guests`): a party of 1 + guests, seated or waiting as one.
- `yes` takes the party's seats while they are free and nobody waits (`going`), else the party
  joins the FIFO waitlist with a ticket drawn from the gathering's counter (`waitlisted`);
- `maybe` and `no` hold no seat (`maybe`, `not_going`); leaving `going` frees the party's
  seats, and the waitlist is promoted strictly in order: the head's whole party is seated
  while it fits, and a party that does not fit holds up everyone behind it (seats may stay
  free, but nobody overtakes). The ticket stays on their row: it names the promotion;
- changing the number of guests: fewer frees seats (promoting as above); more is seated only
  when the extra seats are free and nobody waits, else refused (`no_seats_for_guests`: the
  party keeps its seats); a waiting party keeps its place whatever its size;
- a `yes` needs an answer to every required question of the gathering (`answer_required`);
  answers name its questions (`unknown_question` otherwise) and are kept with the RSVP;
- the same answer again changes nothing (new answers to questions are kept, quietly);
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

-- Seats for the waitlist, strictly first come first served, while the head's whole party
-- (the person and their guests) fits: a party that does not fit waits, and so does everyone
-- behind it, so nobody is seated out of order. The caller holds the row lock and writes the
-- gathering's counters; records a 'promoted' event per party. How many seats were taken.
CREATE OR REPLACE FUNCTION kindred_promote(g gatherings, now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    free_seats integer := g.capacity - g.going_count;  -- NULL: unlimited
    seats_taken integer;
BEGIN
    IF free_seats IS NOT NULL AND free_seats <= 0 THEN
        RETURN 0;
    END IF;
    WITH queue AS (
        SELECT w.id, sum(1 + w.guests) OVER (ORDER BY w.waitlist_ticket) AS seats_through
        FROM rsvps w
        WHERE w.gathering_id = g.id AND w.state = 'waitlisted'
    ), seated AS (
        UPDATE rsvps r SET state = 'going', updated_at = now
        FROM queue q
        WHERE r.id = q.id AND (free_seats IS NULL OR q.seats_through <= free_seats)
        RETURNING r.user_id, r.waitlist_ticket, r.guests
    ), recorded AS (
        INSERT INTO domain_events (kind, gathering_id, user_id, data, created_at)
        SELECT 'promoted', g.id, s.user_id,
               json_build_object('ticket', s.waitlist_ticket, 'sequence', g.sequence,
                                 'guests', s.guests), now
        FROM seated s
        ORDER BY s.waitlist_ticket
        RETURNING 1
    )
    SELECT coalesce(sum(1 + s.guests), 0) INTO seats_taken FROM seated s;
    RETURN seats_taken;
END
$fn$;

-- After a capacity change (the caller has locked the gathering and written the capacity).
-- How many seats the waitlist took.
CREATE OR REPLACE FUNCTION kindred_fill_seats(gathering_id integer, now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    g gatherings;
    seats_taken integer;
BEGIN
    SELECT * INTO g FROM gatherings WHERE id = kindred_fill_seats.gathering_id FOR UPDATE;
    IF NOT FOUND OR g.status <> 'scheduled' THEN
        RETURN 0;
    END IF;
    seats_taken := kindred_promote(g, now);
    IF seats_taken > 0 THEN
        UPDATE gatherings
        SET going_count = going_count + seats_taken, revision = revision + 1, updated_at = now
        WHERE id = g.id;
    END IF;
    RETURN seats_taken;
END
$fn$;

-- One person's answer. `origin` travels with the event ('single', or 'series' for an
-- "all future" answer, whose mail is one invite for the whole series); `take_lock` is
-- false only in the tests' negative control, to show the race the lock prevents.
-- `guests` (NULL: keep the number they had) come with the person: a party of 1 + guests
-- takes that many seats or waits together. `answers` (JSON text {question id: text}, NULL:
-- none given) are merged into theirs; an empty text takes an answer back.
CREATE OR REPLACE FUNCTION kindred_answer(
    gathering_id integer, user_id integer, response text, now timestamptz,
    origin text DEFAULT 'single', take_lock boolean DEFAULT true,
    guests integer DEFAULT NULL, answers text DEFAULT NULL
) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    g gatherings;
    mine rsvps;
    previous_state text;
    new_state text;
    ticket integer;
    changed boolean := false;
    waitlist_place integer;
    party_guests integer;
    held_seats integer := 0;
    given jsonb;
    merged jsonb;
    question_id text;
BEGIN
    IF user_id IS NULL THEN
        RETURN json_build_object('error', 'unauthenticated');
    END IF;
    IF response IS NULL OR response NOT IN ('yes', 'no', 'maybe') THEN
        RETURN json_build_object('error', 'invalid_response');
    END IF;
    IF guests IS NOT NULL AND guests < 0 THEN
        RETURN json_build_object('error', 'invalid_guests');
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
    ELSIF guests IS NOT NULL AND response <> 'no' AND guests > g.max_guests THEN
        RETURN json_build_object('error', 'too_many_guests', 'max_guests', g.max_guests);
    END IF;
    -- a statement of its own, so it sees what the lock's previous holder committed (read in
    -- the locking statement, it would come from a snapshot taken before the wait)
    SELECT * INTO mine FROM rsvps r
    WHERE r.gathering_id = g.id AND r.user_id = kindred_answer.user_id;

    merged := coalesce(mine.answers, '{}'::jsonb);
    IF answers IS NOT NULL THEN
        given := answers::jsonb;
        SELECT k INTO question_id FROM jsonb_object_keys(given) k
        WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(g.questions) q
                          WHERE q->>'id' = k)
        LIMIT 1;
        IF question_id IS NOT NULL THEN
            RETURN json_build_object('error', 'unknown_question', 'question', question_id);
        END IF;
        SELECT coalesce(jsonb_object_agg(a.key, a.value), '{}'::jsonb) INTO merged
        FROM jsonb_each(merged || given) a WHERE a.value <> '""'::jsonb;
    END IF;
    IF response = 'yes' AND jsonb_array_length(g.questions) > 0 THEN
        SELECT q->>'id' INTO question_id
        FROM jsonb_array_elements(g.questions) WITH ORDINALITY AS x(q, n)
        WHERE coalesce((q->>'required')::boolean, false)
          AND btrim(coalesce(merged->>(q->>'id'), '')) = ''
        ORDER BY n LIMIT 1;
        IF question_id IS NOT NULL THEN
            RETURN json_build_object('error', 'answer_required', 'question', question_id);
        END IF;
    END IF;

    party_guests := CASE WHEN response = 'no' THEN 0
                         ELSE coalesce(kindred_answer.guests, mine.guests, 0) END;
    IF mine.state = 'going' THEN
        held_seats := 1 + mine.guests;
    END IF;

    IF mine.id IS NOT NULL AND mine.response = kindred_answer.response
       AND mine.guests = party_guests THEN
        new_state := mine.state;
        ticket := mine.waitlist_ticket;
        IF merged <> mine.answers THEN
            UPDATE rsvps SET answers = merged, updated_at = now WHERE id = mine.id;
        END IF;
    ELSE
        changed := true;
        previous_state := mine.state;
        ticket := mine.waitlist_ticket;
        IF response = 'yes' AND previous_state = 'waitlisted' THEN
            new_state := 'waitlisted';  -- keeps its place; the promotion below may seat it
        ELSIF response = 'yes' THEN
            -- seated while the whole party fits and nobody waits ahead of it; a party already
            -- seated that grows beyond the free seats keeps its seats and is refused
            IF (g.capacity IS NULL OR g.going_count - held_seats + 1 + party_guests <= g.capacity)
               AND (1 + party_guests <= held_seats
                    OR NOT EXISTS (SELECT 1 FROM rsvps w
                                   WHERE w.gathering_id = g.id AND w.state = 'waitlisted')) THEN
                new_state := 'going';
                g.going_count := g.going_count - held_seats + 1 + party_guests;
            ELSIF previous_state = 'going' THEN
                RETURN json_build_object(
                    'error', 'no_seats_for_guests',
                    'guests', mine.guests,
                    'seats_free', CASE WHEN g.capacity IS NOT NULL
                                       THEN greatest(0, g.capacity - g.going_count) END);
            ELSE
                g.waitlist_counter := g.waitlist_counter + 1;
                new_state := 'waitlisted';
                ticket := g.waitlist_counter;
            END IF;
        ELSE
            new_state := CASE WHEN response = 'maybe' THEN 'maybe' ELSE 'not_going' END;
            ticket := NULL;
            g.going_count := g.going_count - held_seats;
        END IF;
        IF mine.id IS NULL THEN
            INSERT INTO rsvps (gathering_id, user_id, response, state, waitlist_ticket,
                               guests, answers, created_at, updated_at)
            VALUES (g.id, kindred_answer.user_id, response, new_state, ticket,
                    party_guests, merged, now, now);
        ELSE
            UPDATE rsvps SET response = kindred_answer.response, state = new_state,
                             waitlist_ticket = ticket, guests = party_guests,
                             answers = merged, updated_at = now
            WHERE id = mine.id;
        END IF;
        INSERT INTO domain_events (kind, gathering_id, user_id, data, created_at)
        VALUES ('answered', g.id, kindred_answer.user_id,
                json_build_object('previous_state', previous_state, 'state', new_state,
                                  'response', response, 'origin', origin,
                                  'sequence', g.sequence, 'guests', party_guests),
                now);
        IF previous_state IN ('going', 'waitlisted') THEN
            -- seats freed, or a waiting party shrank: the head of the waitlist may fit now
            g.going_count := g.going_count + kindred_promote(g, now);
            SELECT r.state INTO new_state FROM rsvps r
            WHERE r.gathering_id = g.id AND r.user_id = kindred_answer.user_id;
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
        'guests', party_guests,
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
DROP FUNCTION IF EXISTS kindred_answer(
    integer, integer, text, timestamptz, text, boolean, integer, text
);
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
