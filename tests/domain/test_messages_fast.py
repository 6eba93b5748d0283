"""render_message (the delivery fast path) says exactly what build_message says."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain.messages import OutgoingMail, _one_line, build_message, render_message

ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
hostile = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=120
)


def parsed(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def summary(message: email.message.EmailMessage) -> dict[str, object]:
    """What a mail client shows: addresses, subject, ids, and each part decoded."""
    parts = []
    for part in message.iter_parts():
        content = part.get_content()
        if isinstance(content, str):
            content = content.replace("\r\n", "\n").rstrip("\n")
        parts.append((part.get_content_type(), part.get_param("method"), content))
    return {
        "from": [(a.display_name, a.addr_spec) for a in message["From"].addresses],
        "to": [(a.display_name, a.addr_spec) for a in message["To"].addresses],
        "subject": str(message["Subject"]),
        "message_id": str(message["Message-ID"]),
        "kind": str(message["X-Kindred-Kind"]),
        "auto": str(message["Auto-Submitted"]),
        "unsubscribe": str(message.get("List-Unsubscribe")),
        "bcc": message.get("Bcc"),
        "type": message.get_content_type(),
        "parts": parts,
    }


def mail(**changes: object) -> OutgoingMail:
    values: dict[str, object] = {
        "kind": "reminder",
        "to_email": "ann@example.org",
        "to_name": "Ann",
        "from_email": "kindred@example.org",
        "from_name": "Kindred",
        "subject": "Reminder: chess",
        "text": "Hello\n",
        "html": "<p>Hello</p>",
        "message_id": "<kindred.1@example.org>",
        "sent_at": datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        "ics": ICS,
        "ics_method": "REQUEST",
        "list_unsubscribe_url": "https://kindred.test/u/abc",
    }
    values.update(changes)
    return OutgoingMail(**values)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(name=hostile, subject=hostile, text=hostile, html=hostile)
def test_fast_rendering_matches_the_stdlib_rendering(name, subject, text, html):
    outgoing = mail(to_name=name, subject=subject, text=text, html=html)
    fast = render_message(outgoing)
    assert fast.message_id == "<kindred.1@example.org>"
    ours, stdlib = summary(parsed(fast.data)), summary(parsed(bytes(build_message(outgoing))))
    # names and subjects come back exactly as sanitised; the stdlib's folding of long
    # encoded words sometimes adds a space between them, so those are compared to the input
    assert ours.pop("to") == [(_one_line(name), "ann@example.org")]
    assert ours.pop("subject") == _one_line(subject)
    del stdlib["to"], stdlib["subject"]
    assert ours == stdlib


def test_crlf_in_a_name_or_subject_cannot_add_a_header():
    outgoing = mail(to_name="Eve\r\nBcc: evil@example.org", subject="Hi\r\nBcc: evil@example.org")
    data = render_message(outgoing).data
    message = parsed(data)
    assert message.get("Bcc") is None
    assert b"\r\nBcc:" not in data
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_the_calendar_part_arrives_byte_for_byte():
    message = parsed(render_message(mail()).data)
    calendar = next(p for p in message.iter_parts() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_payload(decode=True) == ICS
