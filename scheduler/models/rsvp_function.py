"""`kindred_set_rsvp`: the RSVP hot path as one PostgreSQL function (PostgreSQL only).

The API's RSVP fast path (scheduler/web/rsvp_fastpath.py) answers `PUT .../rsvp` with a
single call of this function: one round trip and one transaction, instead of the ten or so
statements (and the ORM's bookkeeping around each) that services/rsvps.py needs. It does
exactly what `rsvps.set_rsvp` does, with the mail hooks of services/notify.py and
services/reminders.py it triggers, and writes the same rows with the same outbox keys and
payloads:

- the seat: going, the FIFO waitlist (a ticket from the gathering's counter), maybe or not
  going, all under the gathering's row lock, and promotion of the longest-waiting people
  when a seat is freed;
- the person's calendar mail: an invite on joining (with the round that makes yes/no/yes a
  new invite), or a decline after leaving if a calendar mail may have reached them; pending
  calendar mail they no longer want is withdrawn;
- reminders and the follow-up, owed from now on (withdrawn rows revived), unless the person
  turned reminders off or muted the gathering; promoted people get theirs and a "seat
  opened" mail.

It returns NULL whenever the Flask view must answer instead (unknown token or gathering,
RSVPs closed) and has then changed nothing. The Python service stays the one the web pages,
one-click links, series answers and SQLite use; tests run the same scenarios through both
and compare the rows (tests/test_rsvp_function.py), and the PostgreSQL run of the whole API
suite goes through this function.

When the Python rules change, change this text too and add a migration that runs
`install(connection)` again (CREATE OR REPLACE).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from scheduler.models.base import Base

FUNCTION_SIGNATURE = "kindred_set_rsvp(text, integer, text, timestamptz, boolean)"

# Sent to the driver as is (exec_driver_sql, no parameters): never wrap it in text(), which
# would read the ':seq'-style colons inside its string literals as bind parameters.
SQL = r"""
-- reminders.sync_attendee with reminders.owed_for: the person's reminders and follow-up
CREATE OR REPLACE FUNCTION kindred_sync_follow_through(
    g gatherings, person users, state text, previous_state text, now timestamptz
) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF previous_state IN ('going', 'maybe') THEN
        UPDATE outbox_messages SET status = 'withdrawn'
        WHERE recipient_id = person.id AND gathering_id = g.id
          AND kind IN ('reminder', 'followup') AND status = 'pending';
    END IF;
    IF NOT person.reminders_enabled OR state NOT IN ('going', 'maybe')
       OR g.status <> 'scheduled' OR g.starts_at IS NULL OR g.ends_at IS NULL THEN
        RETURN;
    END IF;
    -- New rows are owed (unless the person muted the gathering); withdrawn ones come back
    -- (they were never sent); others stay. Keys carry a stamp of the start (or end),
    -- payloads its isoformat(), as Python writes them.
    INSERT INTO outbox_messages AS o (key, kind, gathering_id, recipient_id, recipient_email,
                                      due_at, status, attempts, payload, created_at)
    SELECT owed.key, owed.kind, g.id, person.id, person.email, owed.due_at, 'pending', 0,
           owed.payload, now
    FROM (
        SELECT 'reminder:' || g.id || ':' || person.id || ':' || offsets.minutes || ':'
                   || to_char(g.starts_at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"') AS key,
               'reminder' AS kind,
               g.starts_at - make_interval(mins => offsets.minutes) AS due_at,
               json_build_object('starts_at', iso.starts_at, 'offset', offsets.minutes) AS payload
        FROM (SELECT DISTINCT value::integer AS minutes
              FROM json_array_elements_text(coalesce(g.reminders, '[]'))) AS offsets,
             (SELECT to_char(g.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                     || CASE WHEN date_trunc('second', g.starts_at) = g.starts_at THEN ''
                             ELSE to_char(g.starts_at AT TIME ZONE 'UTC', '.US') END
                     || '+00:00' AS starts_at) AS iso
        UNION ALL
        SELECT 'followup:' || g.id || ':' || person.id || ':'
                   || to_char(g.ends_at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"'),
               'followup',
               g.ends_at + make_interval(mins => g.followup_minutes),
               json_build_object(
                   'ends_at',
                   to_char(g.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                   || CASE WHEN date_trunc('second', g.ends_at) = g.ends_at THEN ''
                           ELSE to_char(g.ends_at AT TIME ZONE 'UTC', '.US') END
                   || '+00:00')
        WHERE state = 'going'
    ) AS owed
    WHERE owed.due_at > now
      AND NOT EXISTS (SELECT 1 FROM gathering_mutes m
                      WHERE m.gathering_id = g.id AND m.user_id = person.id)
    ORDER BY owed.due_at  -- as Python owes them: the earliest first
    ON CONFLICT (key) DO UPDATE
    SET status = 'pending', due_at = excluded.due_at, attempts = 0, last_error = NULL,
        payload = excluded.payload
    WHERE o.status = 'withdrawn';
END
$fn$;

-- notify.on_rsvp_changed (after the follow-through): the person's calendar mail. Joining
-- owes an invite (pending cancellations withdrawn); leaving withdraws pending calendar mail
-- and owes a decline only if a calendar mail went (or may have gone) out. One statement
-- withdraws, counts the round (it rises each time the person is put on or taken off:
-- notify._round) and owes the mail; the count does not depend on status, so it may share
-- the withdrawal's snapshot. True when new mail is due now.
CREATE OR REPLACE FUNCTION kindred_calendar_mail(
    g gatherings, person users, state text, previous_state text, now timestamptz
) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    was_attending boolean := coalesce(previous_state IN ('going', 'waitlisted', 'maybe'), false);
    joining boolean := state IN ('going', 'waitlisted', 'maybe');
    withdraw_kinds text[];
    key_prefix text;
    mail_kind text;
    mail_payload json;
    owed integer;
BEGIN
    IF g.status <> 'scheduled' OR joining = was_attending THEN
        RETURN false;
    END IF;
    IF joining THEN
        withdraw_kinds := '{cancel}';
        key_prefix := 'invite';
        mail_kind := 'invite';
        mail_payload := json_build_object('sequence', g.sequence);
    ELSE
        withdraw_kinds := '{invite,update,promoted}';
        key_prefix := 'decline';
        mail_kind := 'cancel';
        mail_payload := json_build_object('sequence', g.sequence, 'scope', 'person');
    END IF;
    WITH withdrawn AS (
        UPDATE outbox_messages SET status = 'withdrawn'
        WHERE recipient_id = person.id AND gathering_id = g.id
          AND kind = ANY (withdraw_kinds) AND status = 'pending'
    ), round AS (
        SELECT count(*) AS n FROM outbox_messages o
        WHERE o.recipient_id = person.id AND o.gathering_id = g.id
          AND o.kind IN ('invite', 'cancel')
    )
    INSERT INTO outbox_messages (key, kind, gathering_id, recipient_id, recipient_email,
                                 due_at, status, attempts, payload, created_at)
    SELECT key_prefix || ':' || g.id || ':' || person.id || ':seq' || g.sequence
               || ':r' || round.n,
           mail_kind, g.id, person.id, person.email, now, 'pending', 0, mail_payload, now
    FROM round
    WHERE joining
       OR EXISTS (SELECT 1 FROM outbox_messages o
                  WHERE o.recipient_id = person.id AND o.gathering_id = g.id
                    AND o.kind IN ('invite', 'update', 'promoted')
                    AND o.status IN ('sent', 'claimed', 'failed'))
    ON CONFLICT (key) DO NOTHING
    RETURNING id INTO owed;
    RETURN owed IS NOT NULL;
END
$fn$;

-- rsvps.set_rsvp with its hooks. Returns the outcome as JSON (plus "changed" and
-- "deliver": mail due now was owed), or NULL: the Flask view answers, nothing was changed.
CREATE OR REPLACE FUNCTION kindred_set_rsvp(
    token_hash text, gathering_id integer, response text, now timestamptz,
    take_lock boolean DEFAULT true
) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    located record;
    person users;
    g gatherings;
    mine rsvps;
    promoted record;
    promoted_mail integer;
    previous_state text;
    new_state text;
    ticket integer;
    changed boolean := false;
    deliver boolean := false;
    waitlist_place integer;
    free_seats integer;
    promoted_count integer := 0;
BEGIN
    IF response NOT IN ('yes', 'no', 'maybe') THEN
        RETURN NULL;
    END IF;
    -- the token's owner and the gathering, locked
    IF take_lock THEN
        SELECT gr AS gathering, ur AS person INTO located
        FROM gatherings gr, users ur JOIN api_tokens t ON t.user_id = ur.id
        WHERE gr.id = kindred_set_rsvp.gathering_id AND t.token_hash = kindred_set_rsvp.token_hash
        FOR UPDATE OF gr;
    ELSE  -- the tests' negative control only
        SELECT gr AS gathering, ur AS person INTO located
        FROM gatherings gr, users ur JOIN api_tokens t ON t.user_id = ur.id
        WHERE gr.id = kindred_set_rsvp.gathering_id AND t.token_hash = kindred_set_rsvp.token_hash;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL;  -- unknown token or gathering: the view says which
    END IF;
    g := located.gathering;
    person := located.person;
    IF g.status <> 'scheduled' OR g.starts_at IS NULL
       OR (g.ends_at IS NOT NULL AND g.ends_at <= now) THEN
        RETURN NULL;  -- cancelled, ended or still a poll: the view says which
    END IF;
    -- a statement of its own, so it sees what the lock's previous holder committed
    SELECT * INTO mine FROM rsvps r
    WHERE r.gathering_id = g.id AND r.user_id = person.id;

    IF mine.id IS NOT NULL AND mine.response = kindred_set_rsvp.response THEN
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
            VALUES (g.id, person.id, response, new_state, ticket, now, now);
        ELSE
            UPDATE rsvps SET response = kindred_set_rsvp.response, state = new_state,
                             waitlist_ticket = ticket, updated_at = now
            WHERE id = mine.id;
        END IF;
        g.revision := g.revision + 1;
        PERFORM kindred_sync_follow_through(g, person, new_state, previous_state, now);
        deliver := kindred_calendar_mail(g, person, new_state, previous_state, now);

        -- rsvps.promote_from_waitlist: the freed seat (or seats) to the longest waiting;
        -- the ticket stays on the row (it names this promotion in the mail's key)
        free_seats := g.capacity - g.going_count;  -- NULL: unlimited
        IF previous_state = 'going' AND (free_seats IS NULL OR free_seats > 0) THEN
            FOR promoted IN
                WITH seated AS (
                    UPDATE rsvps r SET state = 'going', updated_at = now
                    WHERE r.id IN (SELECT w.id FROM rsvps w
                                   WHERE w.gathering_id = g.id AND w.state = 'waitlisted'
                                   ORDER BY w.waitlist_ticket LIMIT free_seats)
                    RETURNING r.user_id, r.waitlist_ticket
                )
                SELECT u AS person, seated.waitlist_ticket AS ticket
                FROM seated JOIN users u ON u.id = seated.user_id
                ORDER BY seated.waitlist_ticket
            LOOP
                promoted_count := promoted_count + 1;
                -- notify.on_promoted: "a seat opened: you're going", and their reminders
                INSERT INTO outbox_messages (key, kind, gathering_id, recipient_id,
                                             recipient_email, due_at, status, attempts,
                                             payload, created_at)
                VALUES ('promoted:' || g.id || ':' || (promoted.person).id || ':'
                            || promoted.ticket,
                        'promoted', g.id, (promoted.person).id, (promoted.person).email, now,
                        'pending', 0, json_build_object('sequence', g.sequence), now)
                ON CONFLICT (key) DO NOTHING
                RETURNING id INTO promoted_mail;
                deliver := deliver OR promoted_mail IS NOT NULL;
                PERFORM kindred_sync_follow_through(
                    g, promoted.person, 'going', 'waitlisted', now);
            END LOOP;
            IF promoted_count > 0 THEN
                g.going_count := g.going_count + promoted_count;
                g.revision := g.revision + 1;
            END IF;
        END IF;
        UPDATE gatherings
        SET going_count = g.going_count, waitlist_counter = g.waitlist_counter,
            revision = g.revision, updated_at = now
        WHERE id = g.id;
    END IF;

    IF new_state = 'waitlisted' AND ticket IS NOT NULL THEN
        SELECT count(*) + 1 INTO waitlist_place FROM rsvps r
        WHERE r.gathering_id = g.id AND r.state = 'waitlisted' AND r.waitlist_ticket < ticket;
    END IF;
    RETURN json_build_object(
        'response', response,
        'state', new_state,
        'waitlist_position', waitlist_place,
        'gathering_id', g.id,
        'going_count', g.going_count,
        'seats_left', CASE WHEN g.capacity IS NOT NULL
                           THEN greatest(0, g.capacity - g.going_count) END,
        'changed', changed,
        'deliver', deliver);
END
$fn$;
"""

DROP_SQL = """
DROP FUNCTION IF EXISTS kindred_set_rsvp(text, integer, text, timestamptz, boolean);
DROP FUNCTION IF EXISTS kindred_calendar_mail(gatherings, users, text, text, timestamptz);
DROP FUNCTION IF EXISTS kindred_sync_follow_through(gatherings, users, text, text, timestamptz);
"""


def install(connection: Any) -> None:
    """Create (or replace) the functions on a PostgreSQL connection; no-op elsewhere."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(SQL)


def uninstall(connection: Any) -> None:
    """Drop the functions (a migration's downgrade)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(DROP_SQL)


@event.listens_for(Base.metadata, "after_create")
def _install_after_create_all(_target: Any, connection: Any, **_kw: Any) -> None:
    install(connection)
