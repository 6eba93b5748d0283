"""Calendar apps answering an invite: the METHOD:REPLY they send, built two ways (icalendar,
as Python clients and CalDAV servers do; ical.js, Thunderbird's library, through node), and
the mail that carries it to the invite's ORGANIZER."""

from __future__ import annotations

import email.policy
import json
import shutil
import subprocess
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import icalendar

from tests.support.calendar_client import ICALJS


def organizer_of(invite: bytes) -> str:
    """The address an invite asks replies to go to (its ORGANIZER, without mailto:)."""
    calendar = icalendar.Calendar.from_ical(invite)
    event = next(iter(calendar.walk("VEVENT")))
    return str(event["ORGANIZER"]).removeprefix("mailto:")


def reply_icalendar(
    invite: bytes, attendee: str, partstat: str, *, recurrence_id: datetime | None = None
) -> bytes:
    """The REPLY built with icalendar: the invite's master VEVENT (UID, SEQUENCE, DTSTART,
    ORGANIZER), only the replying ATTENDEE with its PARTSTAT, a RECURRENCE-ID for one date."""
    source = icalendar.Calendar.from_ical(invite)
    reply = icalendar.Calendar()
    reply.add("PRODID", "-//icalendar reply test//EN")
    reply.add("VERSION", "2.0")
    reply.add("METHOD", "REPLY")
    master = next(e for e in source.walk("VEVENT") if "RECURRENCE-ID" not in e)
    event = icalendar.Event()
    for name in ("UID", "SEQUENCE", "ORGANIZER"):
        if name in master:
            event[name] = master[name]
    event.add("DTSTAMP", datetime.now(UTC))
    event.add("DTSTART", recurrence_id or master.decoded("DTSTART"))
    if recurrence_id is not None:
        event.add("RECURRENCE-ID", recurrence_id)
    address = icalendar.vCalAddress(f"mailto:{attendee}")
    address.params["PARTSTAT"] = partstat
    event.add("ATTENDEE", address)
    reply.add_component(event)
    return reply.to_ical()


def reply_icaljs(
    invite: bytes, attendee: str, partstat: str, *, recurrence_id: datetime | None = None
) -> bytes:
    """The same REPLY built by ical.js in node."""
    node = shutil.which("node")
    assert node, "node is missing: .ci/run installs it"
    payload = {
        "invite": invite.decode("utf-8"),
        "attendee": f"mailto:{attendee}",
        "partstat": partstat,
        "recurrence_id": recurrence_id.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if recurrence_id
        else None,
    }
    done = subprocess.run(
        [node, str(ICALJS / "reply.mjs")],
        input=json.dumps(payload).encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    return done.stdout


def reply_mail(ics: bytes, *, sender: str, to: str, **headers: str) -> bytes:
    """The mail a calendar app sends: text plus the REPLY as text/calendar; method=REPLY."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Accepted: invitation"
    message["Message-ID"] = make_msgid()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("I answered in my calendar.")
    message.add_attachment(
        ics, maintype="text", subtype="calendar", params={"method": "REPLY"}, filename="reply.ics"
    )
    return message.as_bytes(policy=email.policy.SMTP)  # CRLF line ends, as on the wire
