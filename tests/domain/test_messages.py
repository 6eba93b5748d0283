"""Outgoing mail from scheduler.domain.messages, parsed back as a mail client would."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
import vobject

from scheduler.domain.ical import EventSpec, build_feed, build_invite
from scheduler.domain.messages import OutgoingMail, build_message, stable_message_id

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
EVENT = EventSpec(
    uid="gathering-7@kindred.test",
    sequence=1,
    summary="Café meetup",
    starts_at=NOW + timedelta(days=3),
    ends_at=NOW + timedelta(days=3, hours=2),
    timezone="Europe/Berlin",
)
INJECTIONS = ["\r\nBcc: evil@x", "\nBcc: evil@x", "\rBcc: evil@x", "\u2028Bcc: evil@x"]


def mail(**changes: object) -> OutgoingMail:
    """An invite with text, HTML and an iTIP REQUEST; keyword arguments override fields."""
    base = OutgoingMail(
        kind="invite",
        to_email="bob@example.org",
        to_name="Bob Müller",
        from_email="noreply@kindred.test",
        from_name="Kindred",
        subject="Invitation: Café meetup",
        text="You're invited.\nSee you there.",
        html="<p>You're invited. <b>Café</b></p>",
        message_id=stable_message_id("invite:7:bob@example.org:1", "kindred.test"),
        sent_at=NOW,
        ics=build_invite("REQUEST", [EVENT], NOW),
        ics_method="REQUEST",
    )
    return replace(base, **changes)


def wire(outgoing: OutgoingMail) -> tuple[bytes, EmailMessage]:
    """The message as sent over SMTP, and as a receiving client parses it."""
    raw = build_message(outgoing).as_bytes()
    return raw, BytesParser(policy=policy.default).parsebytes(raw)


class TestHeaders:
    """The headers every Kindred mail carries."""

    def test_standard_headers(self) -> None:
        raw, parsed = wire(mail())
        assert parsed["From"].addresses[0].addr_spec == "noreply@kindred.test"
        assert parsed["From"].addresses[0].display_name == "Kindred"
        assert parsed["To"].addresses[0].addr_spec == "bob@example.org"
        assert parsed["To"].addresses[0].display_name == "Bob Müller"
        assert str(parsed["Subject"]) == "Invitation: Café meetup"
        assert parsed["Date"].datetime == NOW
        assert re.fullmatch(r"<kindred\.[0-9a-f]{32}@kindred\.test>", parsed["Message-ID"])
        assert parsed["Auto-Submitted"] == "auto-generated"
        assert parsed["X-Kindred-Kind"] == "invite"
        assert "List-Unsubscribe" not in parsed
        assert raw.isascii()  # non-ASCII names and bodies are encoded, not sent raw

    def test_wire_format_is_crlf_with_short_lines(self) -> None:
        raw, _ = wire(mail(subject="A very long subject " * 12, to_name="Ünïcödé " * 10))
        lines = raw.split(b"\r\n")
        assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
        assert max(len(line) for line in lines) <= 78

    def test_long_body_lines_are_encoded_for_smtp(self) -> None:
        raw, parsed = wire(mail(text="t" * 3000, html="<p>" + "h" * 5000 + "</p>"))
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        plain, html = list(parsed.iter_parts())[:2]
        assert plain.get_content().strip() == "t" * 3000
        assert html.get_content().strip() == "<p>" + "h" * 5000 + "</p>"

    @pytest.mark.parametrize("kind", ["reminder", "followup"])
    def test_reminders_and_followups_can_be_unsubscribed(self, kind: str) -> None:
        url = "https://kindred.test/unsubscribe/tok123?kind=reminder"
        _, parsed = wire(mail(kind=kind, ics=None, ics_method=None, list_unsubscribe_url=url))
        assert parsed["X-Kindred-Kind"] == kind
        assert parsed["List-Unsubscribe"] == f"<{url}>"
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    @pytest.mark.parametrize("kind", ["reminder", "followup"])
    def test_reminder_without_unsubscribe_url_is_refused(self, kind: str) -> None:
        with pytest.raises(ValueError):
            build_message(mail(kind=kind, ics=None, ics_method=None))

    def test_unsubscribe_url_cannot_break_the_header(self) -> None:
        url = "https://kindred.test/u/x> , <mailto:evil@x>\r\nBcc: evil@x"
        _, parsed = wire(mail(kind="reminder", list_unsubscribe_url=url))
        assert "Bcc" not in parsed
        value = parsed["List-Unsubscribe"].strip()  # a long value is folded onto its own line
        assert value.startswith("<https://kindred.test/u/x%3E") and value.count("<") == 1

    @pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x/y", "/relative"])
    def test_unsubscribe_url_must_be_http_or_mailto(self, url: str) -> None:
        with pytest.raises(ValueError):
            build_message(mail(kind="reminder", list_unsubscribe_url=url))

    def test_extra_headers(self) -> None:
        _, parsed = wire(mail(headers={"In-Reply-To": "<a@b>", "X-Kindred-Gathering": "7"}))
        assert parsed["In-Reply-To"] == "<a@b>" and parsed["X-Kindred-Gathering"] == "7"

    @pytest.mark.parametrize("name", ["Bcc", "To", "message-id", "X-Evil\r\nBcc", "Bad Name", ""])
    def test_extra_headers_cannot_override_or_inject(self, name: str) -> None:
        with pytest.raises(ValueError):
            build_message(mail(headers={name: "x"}))

    @pytest.mark.parametrize("kind", ["", "Invite", "invite\r\nBcc: x", "in vite"])
    def test_invalid_kind(self, kind: str) -> None:
        with pytest.raises(ValueError):
            build_message(mail(kind=kind))

    def test_naive_sent_at_is_refused(self) -> None:
        with pytest.raises(ValueError):
            build_message(mail(sent_at=datetime(2026, 11, 1, 12)))


class TestInjection:
    """Names, subjects and header values cannot add headers, whatever line break they use."""

    @pytest.mark.parametrize("evil", INJECTIONS)
    def test_no_header_is_injected(self, evil: str) -> None:
        outgoing = mail(
            to_name=f"Bob{evil}",
            from_name=f"Kindred{evil}",
            subject=f"Hello{evil}",
            headers={"X-Kindred-Note": f"note{evil}"},
        )
        raw, parsed = wire(outgoing)
        assert "Bcc" not in parsed and "bcc" not in {k.lower() for k in parsed}
        assert not re.search(rb"(?mi)^bcc:", raw)
        assert [a.addr_spec for a in parsed["To"].addresses] == ["bob@example.org"]
        assert [a.addr_spec for a in parsed["From"].addresses] == ["noreply@kindred.test"]
        assert parsed["To"].addresses[0].display_name == "Bob Bcc: evil@x"
        assert str(parsed["Subject"]) == "Hello Bcc: evil@x"
        assert parsed["X-Kindred-Note"] == "note Bcc: evil@x"
        assert sorted(parsed.keys()) == sorted(
            [
                "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                "X-Kindred-Kind", "X-Kindred-Note", "MIME-Version", "Content-Type",
            ]
        )  # fmt: skip

    def test_display_name_with_address_syntax_stays_a_name(self) -> None:
        _, parsed = wire(mail(to_name='"Eve" <eve@evil.example>, mallory@evil.example'))
        (address,) = parsed["To"].addresses
        assert address.addr_spec == "bob@example.org"
        assert address.display_name == '"Eve" <eve@evil.example>, mallory@evil.example'

    @pytest.mark.parametrize(
        "email",
        [
            "bob@example.org\r\nBcc: evil@x",
            "bob@example.org\n",
            "bob @example.org",
            "",
            "a@b@example.org",
            "<bob@example.org>",
            "bob@example.org>, evil@x",
            "bob(comment)@example.org",
            "bob@",
            "@example.org",
            "bob.@example.org",
            "bøb@example.org",  # non-ASCII local part would need SMTPUTF8
        ],
    )
    def test_broken_address_is_refused(self, email: str) -> None:
        with pytest.raises(ValueError):
            build_message(mail(to_email=email))

    def test_internationalised_domain_goes_out_as_punycode(self) -> None:
        raw, parsed = wire(mail(to_email="bob@bücher.example"))
        assert parsed["To"].addresses[0].addr_spec == "bob@xn--bcher-kva.example"
        assert raw.isascii()

    @pytest.mark.parametrize(
        "message_id", ["<a@b>\r\nBcc: evil@x", "no-at-sign", "<a b@c>", "<<a@b>>", ""]
    )
    def test_broken_message_id_is_refused(self, message_id: str) -> None:
        with pytest.raises(ValueError):
            build_message(mail(message_id=message_id))

    def test_message_id_gets_angle_brackets(self) -> None:
        _, parsed = wire(mail(message_id="kindred.abc@kindred.test"))
        assert parsed["Message-ID"] == "<kindred.abc@kindred.test>"


class TestParts:
    """text/plain, text/html and the iTIP calendar part, in that order."""

    def test_alternative_parts_in_order(self) -> None:
        outgoing = mail()
        _, parsed = wire(outgoing)
        assert parsed.get_content_type() == "multipart/alternative"
        parts = list(parsed.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html", "text/calendar"]
        assert parts[0].get_content() == "You're invited.\r\nSee you there.\r\n"
        assert "<b>Café</b>" in parts[1].get_content()
        assert all("MIME-Version" not in p for p in parts)

    @pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
    def test_calendar_part_method_matches_the_ics(self, method: str) -> None:
        ics = build_invite(method, [EVENT], NOW)
        kind = "cancel" if method == "CANCEL" else "invite"
        _, parsed = wire(mail(kind=kind, ics=ics, ics_method=method))
        calendar = next(p for p in parsed.iter_parts() if p.get_content_type() == "text/calendar")
        assert calendar.get_param("method") == method
        assert calendar.get_content_charset() == "utf-8"
        assert calendar.get_payload(decode=True) == ics  # byte for byte, CRLF and folds intact
        assert vobject.readOne(calendar.get_content()).method.value == method

    def test_method_is_read_from_the_ics_when_not_given(self) -> None:
        _, parsed = wire(mail(ics=build_invite("CANCEL", [EVENT], NOW), ics_method=None))
        calendar = list(parsed.iter_parts())[-1]
        assert calendar.get_param("method") == "CANCEL"

    def test_ics_without_method_has_no_method_param(self) -> None:
        _, parsed = wire(mail(kind="digest", ics=build_feed("x", [EVENT], NOW), ics_method=None))
        calendar = list(parsed.iter_parts())[-1]
        assert calendar.get_content_type() == "text/calendar"
        assert calendar.get_param("method") is None

    @pytest.mark.parametrize("declared", ["CANCEL", "PUBLISH", "ADD", "request"])
    def test_mismatched_method_is_refused(self, declared: str) -> None:
        with pytest.raises(ValueError):
            build_message(mail(ics_method=declared))

    def test_method_without_ics_is_refused(self) -> None:
        with pytest.raises(ValueError):
            build_message(mail(ics=None, ics_method="REQUEST"))

    def test_text_only_mail_is_a_single_part(self) -> None:
        _, parsed = wire(mail(kind="nudge", html=None, ics=None, ics_method=None))
        assert parsed.get_content_type() == "text/plain"
        assert not parsed.is_multipart()

    def test_text_and_html_without_ics(self) -> None:
        _, parsed = wire(mail(kind="promoted", ics=None, ics_method=None))
        assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


class TestStableMessageId:
    """Message-IDs derived from a purpose key are stable and distinct."""

    def test_same_key_same_id(self) -> None:
        first = stable_message_id("reminder:7:1440:bob@example.org", "kindred.test")
        assert first == stable_message_id("reminder:7:1440:bob@example.org", "kindred.test")
        assert re.fullmatch(r"<kindred\.[0-9a-f]{32}@kindred\.test>", first)

    def test_different_keys_differ(self) -> None:
        ids = {stable_message_id(f"reminder:7:{m}:bob", "kindred.test") for m in range(50)}
        assert len(ids) == 50

    def test_retry_builds_the_same_headers(self) -> None:
        first = build_message(mail()).as_bytes()
        again = build_message(mail()).as_bytes()
        header = re.compile(rb"(?m)^(Message-ID|Date|Subject|To|From): .*$")
        assert header.findall(first) == header.findall(again)

    @pytest.mark.parametrize("domain", ["", "kindred.test\r\nBcc: x", "a b", "<x>"])
    def test_invalid_domain(self, domain: str) -> None:
        with pytest.raises(ValueError):
            stable_message_id("k", domain)
