"""Mail and calendar text in the recipient's language (User.locale): subjects, bodies, dates,
the ICS part's words, and personal feeds in their owner's language. English stays as it was."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from scheduler.domain.messages import build_message
from scheduler.extensions import Services
from scheduler.models import OutboxMessage, OutboxStatus, Rsvp, utcnow
from scheduler.services.calendars import feeds
from scheduler.services.mail import delivery
from scheduler.services.mail.renderers import render_outbox_message
from tests.services.outbox_factories import answer_all, make_gathering, make_users

LINK = "https://meet.example.com/chess"
STARTS = datetime(2030, 1, 15, 18, 0, tzinfo=UTC)  # a Tuesday, 19:00 in Berlin


def _text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def _event(message) -> icalendar.Event:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    (event,) = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
    return event


@pytest.fixture
def mailer(config, smtp_sink):
    services = Services(dataclasses.replace(config, smtp_url=smtp_sink.url))
    yield services
    services.db.dispose()


def test_one_reminder_batch_speaks_each_recipients_language(session, mailer, smtp_sink):
    organizer, *_ = make_users(session, 1)
    germans = make_users(session, 2, prefix="de", timezone="Europe/Berlin")
    (french,) = make_users(session, 1, prefix="fr", timezone="Europe/Paris")
    (english,) = make_users(session, 1, prefix="en", timezone="Europe/Berlin")
    for user in germans:
        user.locale = "de"
    french.locale = "fr"
    g = make_gathering(session, organizer, starts_at=STARTS, reminders_minutes=[60], title="Chess")
    answer_all(session, g, [*germans, french, english], now=utcnow())
    session.commit()

    delivery.deliver_due(mailer, now_fn=lambda: STARTS - timedelta(minutes=59))

    by_address = {m["To"].addresses[0].addr_spec: m for m in smtp_sink.messages}
    assert {m["X-Kindred-Kind"] for m in by_address.values()} == {"reminder"}
    assert len(by_address) == 4  # one batch: the same gathering, the same lead time

    for german in germans:
        message = by_address[german.email]
        assert str(message["Subject"]) == (
            "Erinnerung: Chess in 1 Stunde "
            "(Dienstag, 15. Januar 2030, 19:00 bis 20:00 (Europe/Berlin))"
        )
        text = _text(message)
        assert text.startswith(f"Hallo {german.name},")
        assert '"Chess" beginnt in 1 Stunde.' in text
        assert "Wann:" in text and "Dienstag, 15. Januar 2030, 19:00 bis 20:00" in text
        assert "Deine Antwort, mit einem Klick:" in text and "Ich komme:" in text
        assert "Keine Erinnerungen oder Nachrichten mehr zu diesem Treffen: http" in text
        assert "starts" not in text and "Hello" not in text
        html = _html(message)
        assert '<html lang="de">' in html and "<strong>Chess</strong> beginnt in 1 Stunde." in html
    # each German got their own name and links in the shared body
    first, second = (_text(by_address[u.email]) for u in germans)
    assert germans[0].name in first and germans[1].name not in first
    assert germans[1].name in second

    message = by_address[french.email]
    assert str(message["Subject"]) == (
        "Rappel : Chess dans 1 heure (mardi 15 janvier 2030, 19:00 à 20:00 (Europe/Paris))"
    )
    text = _text(message)
    assert text.startswith(f"Bonjour {french.name},")
    assert '"Chess" commence dans 1 heure.' in text
    assert "mardi 15 janvier 2030" in text and "Votre réponse, en un clic :" in text
    assert '<html lang="fr">' in _html(message)

    # the reminder's calendar part is the gathering as published: no words of Kindred's own
    for message in by_address.values():
        assert "DESCRIPTION" not in _event(message)

    message = by_address[english.email]
    assert str(message["Subject"]) == (
        "Reminder: Chess in 1 hour (Tuesday, 15 January 2030, 19:00 to 20:00 (Europe/Berlin))"
    )
    assert '<html lang="en">' in _html(message)


def test_an_english_reminder_keeps_its_wording(session, mailer, smtp_sink):
    organizer, english = make_users(session, 2, timezone="Europe/Berlin")
    g = make_gathering(session, organizer, starts_at=STARTS, reminders_minutes=[60], title="Chess")
    g.attendance_mode, g.online_url, g.location = "hybrid", LINK, "Club house"
    # a "maybe" reads that there is a link, not the link
    answer_all(session, g, [english], state="maybe", now=utcnow())
    session.commit()

    delivery.deliver_due(mailer, now_fn=lambda: STARTS - timedelta(minutes=59))

    (message,) = smtp_sink.messages
    lines = _text(message).splitlines()
    links = [line.split()[-1] for line in lines if "/r/" in line]
    unsubscribe = lines[-1].rsplit(" ", 1)[-1]
    assert lines == [
        f"Hello {english.name},",
        "",
        '"Chess" starts in 1 hour. You said maybe: will you make it?',
        "",
        "When:      Tuesday, 15 January 2030, 19:00 to 20:00 (Europe/Berlin)",
        "Where:     Club house",
        "Online:    hybrid: the link is for people going",  # the link is for people going
        "Organizer: P Person 0",
        "",
        f"Details and your answer: http://kindred.test/g/{g.id}",
        "",
        "Your answer, one click:",
        f"  I'm coming:    {links[0]}",
        f"  Maybe:         {links[1]}",
        f"  I can't come:  {links[2]}",
        "",
        "The attached event file puts it in your calendar.",
        "",
        "-- ",
        "Kindred",
        f"No more reminders or follow-ups for this gathering: {unsubscribe}",
    ]
    html = _html(message)
    assert "<strong>Chess</strong> starts in 1 hour. You said maybe: will you make it?" in html
    assert "Sent by Kindred. Add it to your calendar with the attached invite" in html


def _invite(session, config, user, gathering):
    """The invite owed to `user` (who is going), rendered and parsed as delivery sends it."""
    row = OutboxMessage(
        key=f"invite:{gathering.id}:{user.id}:test",
        kind="invite",
        gathering_id=gathering.id,
        recipient_id=user.id,
        recipient_email=user.email,
        due_at=utcnow(),
        status=OutboxStatus.PENDING,
        payload={"sequence": gathering.sequence},
    )
    session.add(row)
    session.flush()
    mail = render_outbox_message(session, row, config, utcnow())
    assert mail is not None
    return email.message_from_bytes(bytes(build_message(mail)), policy=email.policy.default)


def _online_chess(session, organizer, going):
    g = make_gathering(session, organizer, starts_at=STARTS, title="Chess")
    g.attendance_mode, g.online_url = "online", LINK
    session.add_all(
        Rsvp(gathering_id=g.id, user_id=u.id, response="yes", state="going") for u in going
    )
    session.flush()
    return g


def test_an_invite_to_a_spanish_reader_is_spanish_down_to_its_calendar_part(session, config):
    organizer, ana, eve = make_users(session, 3, timezone="Europe/Madrid")
    ana.locale = "es"
    g = _online_chess(session, organizer, [ana, eve])

    message = _invite(session, config, ana, g)
    assert str(message["Subject"]) == "Invitación: Chess, mar, 15 ene 2030, 19:00 CET"
    text = _text(message)
    assert text.startswith(f"Hola, {ana.name}:")
    assert 'Vas a "Chess". Aquí lo tienes para tu calendario.' in text
    assert "martes, 15 de enero de 2030, 19:00 a 20:00 (Europe/Madrid)" in text
    assert f"Detalles y tu respuesta: http://kindred.test/g/{g.id}" in text
    assert "Hello" not in text and "When" not in text
    html = _html(message)
    assert '<html lang="es">' in html and "Enviado por Kindred." in html
    event = _event(message)
    assert str(event["DESCRIPTION"]) == f"Unirse en línea: {LINK}"
    assert event["CONFERENCE"].params["LABEL"] == "Unirse en línea"
    assert event["STATUS"] == "CONFIRMED"  # machine fields stay as they are
    assert "PARTSTAT=ACCEPTED" in event.to_ical().decode()

    # the same gathering, to an English reader: as before
    message = _invite(session, config, eve, g)
    assert str(message["Subject"]) == "Invitation: Chess, Tue, 15 Jan 2030, 19:00 CET"
    assert 'You\'re going to "Chess". Here it is for your calendar.' in _text(message)
    assert str(_event(message)["DESCRIPTION"]) == f"Join online: {LINK}"


def test_a_personal_feed_speaks_its_owners_language_and_changes_with_it(session, config):
    organizer, owner = make_users(session, 2)
    g = _online_chess(session, organizer, [owner])
    session.commit()

    english = feeds.personal_feed(session, owner, config)
    english_text = feeds.render_feed(session, english, config, None).decode()
    owner.locale = "de"
    session.flush()
    german = feeds.personal_feed(session, owner, config)
    german_text = feeds.render_feed(session, german, config, None).decode()

    assert german.etag != english.etag  # a calendar app fetches the new language at once
    assert f"X-WR-CALNAME:Kindred: {owner.name}" in english_text
    assert f"DESCRIPTION:Join online: {LINK}" in english_text
    assert f"DESCRIPTION:Online teilnehmen: {LINK}" in german_text
    assert "STATUS:CONFIRMED" in german_text
    # a fragment with Kindred's words is cached per language; one without them is shared
    keys = {
        locale: feeds.fragment_key(g, config, with_link=True, locale=locale)
        for locale in ("en", "de")
    }
    assert keys["en"] != keys["de"]
    assert feeds.fragment_key(g, config, locale="en") == feeds.fragment_key(g, config, locale="de")
