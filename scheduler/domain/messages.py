"""Outgoing mail as stdlib EmailMessage objects: headers, alternatives and calendar parts.

Pure: the send time is part of the mail, so nothing here reads the clock or the network.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache
from urllib.parse import quote

__all__ = [
    "ICS_METHODS",
    "UNSUBSCRIBABLE_KINDS",
    "OutgoingMail",
    "RenderedMail",
    "build_message",
    "render_message",
    "stable_message_id",
]

ICS_METHODS = frozenset({"REQUEST", "CANCEL", "PUBLISH"})
# Mail kinds a recipient can turn off; they must carry List-Unsubscribe (RFC 8058).
UNSUBSCRIBABLE_KINDS = frozenset({"reminder", "followup"})
# Headers build_message owns; `OutgoingMail.headers` may not set these.
_RESERVED_HEADERS = frozenset(
    {
        "from", "to", "cc", "bcc", "sender", "subject", "date", "message-id", "mime-version",
        "content-type", "content-transfer-encoding", "auto-submitted", "x-kindred-kind",
        "list-unsubscribe", "list-unsubscribe-post", "return-path",
    }
)  # fmt: skip
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,40}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,75}")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.?)*")
_MESSAGE_ID = re.compile(r"<?([!#-;=?-~]+@[A-Za-z0-9.\[\]:-]+)>?")
# Anything a header parser or str.splitlines() could take as a line break, plus controls.
_BREAKS_AND_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_METHOD_LINE = re.compile(rb"^METHOD:([A-Za-z-]+)\r?$", re.M)
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~-._"


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One mail to one recipient, with everything needed to render it deterministically."""

    kind: str
    to_email: str
    to_name: str
    from_email: str
    from_name: str
    subject: str
    text: str
    message_id: str
    sent_at: datetime
    html: str | None = None
    ics: bytes | None = None
    ics_method: str | None = None
    list_unsubscribe_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def stable_message_id(key: str, domain: str) -> str:
    """A Message-ID that is the same for the same key: ``<kindred.{sha256[:32]}@{domain}>``."""
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"invalid Message-ID domain {domain!r}")
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"<kindred.{digest}@{domain.lower()}>"


def _one_line(value: str) -> str:
    """A header value on one line: line breaks and controls become single spaces."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return " ".join(_BREAKS_AND_CONTROLS.sub(" ", value).split())


def _address(name: str, email: str) -> Address:
    """An Address with a sanitised display name; an email that is not a plain addr-spec raises.

    An internationalised domain goes out as its IDNA (punycode) form.
    """
    if _BREAKS_AND_CONTROLS.search(email) or " " in email or email.count("@") != 1:
        raise ValueError(f"invalid email address {email!r}")
    local, domain = email.split("@")
    try:
        domain = domain.encode("idna").decode("ascii")
        address = Address(display_name=_one_line(name), addr_spec=f"{local}@{domain}")
    except (ValueError, UnicodeError, IndexError, HeaderParseError) as exc:
        raise ValueError(f"invalid email address {email!r}") from exc
    if address.addr_spec != f"{local}@{domain}" or not local or not domain:
        raise ValueError(f"invalid email address {email!r}")  # comments, quoting, routes...
    return address


def _message_id(value: str) -> str:
    """The Message-ID in angle brackets; anything else than id-left@id-right raises."""
    match = _MESSAGE_ID.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"invalid Message-ID {value!r}")
    return f"<{match.group(1)}>"


def _ics_method(ics: bytes, declared: str | None) -> str | None:
    """The METHOD of the ICS, checked against the declared one (which must match)."""
    found = _METHOD_LINE.search(ics)
    method = found.group(1).decode("ascii").upper() if found else None
    if declared is not None:
        if declared not in ICS_METHODS:
            raise ValueError(f"unknown ics_method {declared!r}")
        if method != declared:
            raise ValueError(f"ics_method {declared!r} does not match METHOD {method!r}")
    return method


def _cte(text: str) -> str | None:
    """Quoted-printable for non-ASCII text so 7-bit relays pass it intact; else the stdlib's
    choice (7bit, or an encoding when a line is too long for SMTP)."""
    return None if text.isascii() else "quoted-printable"


def _check(mail: OutgoingMail) -> None:
    """Refuse a mail that could not be sent as it says (shared by both renderers)."""
    if not _KIND.fullmatch(mail.kind):
        raise ValueError(f"invalid mail kind {mail.kind!r}")
    if mail.sent_at.utcoffset() is None:
        raise ValueError("sent_at has no UTC offset")
    if mail.kind in UNSUBSCRIBABLE_KINDS and not mail.list_unsubscribe_url:
        raise ValueError(f"a {mail.kind} mail needs list_unsubscribe_url")
    if mail.ics is None and mail.ics_method is not None:
        raise ValueError("ics_method without ics")
    for name in mail.headers:
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"header {name!r} cannot be set here")


def _unsubscribe_header(url: str) -> str:
    quoted = quote(_one_line(url), safe=_URI_SAFE)
    if not quoted.lower().startswith(("https://", "http://", "mailto:")):
        raise ValueError(f"invalid list_unsubscribe_url {url!r}")
    return f"<{quoted}>"


def build_message(mail: OutgoingMail) -> EmailMessage:
    """Render an OutgoingMail as an RFC 5322 message (policy SMTP: CRLF, folded headers)."""
    _check(mail)

    message = EmailMessage(policy=policy.SMTP)
    message["From"] = _address(mail.from_name, mail.from_email)
    message["To"] = _address(mail.to_name, mail.to_email)
    message["Subject"] = _one_line(mail.subject)
    message["Date"] = format_datetime(mail.sent_at.astimezone(UTC))
    message["Message-ID"] = _message_id(mail.message_id)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Kindred-Kind"] = mail.kind
    if mail.list_unsubscribe_url:
        message["List-Unsubscribe"] = _unsubscribe_header(mail.list_unsubscribe_url)
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in mail.headers.items():
        message[name] = _one_line(value)

    message.set_content(mail.text, subtype="plain", charset="utf-8", cte=_cte(mail.text))
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html", charset="utf-8", cte=_cte(mail.html))
    if mail.ics is not None:
        method = _ics_method(mail.ics, mail.ics_method)
        params = {"charset": "utf-8"} | ({"method": method} if method else {})
        # base64 keeps the CRLF line ends and 75-octet folding of the ICS exactly as built.
        message.add_alternative(
            mail.ics, maintype="text", subtype="calendar", cte="base64", params=params
        )
    for part in message.iter_parts():
        del part["MIME-Version"]  # the stdlib repeats it on added parts; it belongs on top
    return message


# --- the fast path for delivery: the same message written straight to bytes ----------------


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A mail ready for the wire: its Message-ID and its RFC 5322 bytes (CRLF line ends)."""

    message_id: str
    data: bytes


def _encoded_words(value: str) -> str:
    """A header value as RFC 2047 encoded words when it is not plain short ASCII."""
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\n")


# What needs no parsing, quoting or encoding in an address header: a display name of ASCII
# words (no RFC 5322 specials) and a dot-atom addr-spec with an ASCII domain.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _address_header(name: str, email: str) -> str:
    """`Name <addr>` as formataddr writes it; plain ASCII names and addresses skip the parser."""
    if _PLAIN_EMAIL.fullmatch(email) and (not name or _PLAIN_NAME.fullmatch(name)):
        return f"{name} <{email}>" if name else email
    return _parsed_address_header(name, email)


@lru_cache(maxsize=64)
def _parsed_address_header(name: str, email: str) -> str:
    """The general case, through the stdlib's address parser (cached: senders repeat)."""
    address = _address(name, email)
    return formataddr((address.display_name, address.addr_spec), charset="utf-8")


@lru_cache(maxsize=16)
def _date_header(sent_at: datetime) -> str:
    """The Date header of a send time (a batch shares one)."""
    return format_datetime(sent_at.astimezone(UTC))


@lru_cache(maxsize=16)
def _base64_lines(data: bytes) -> str:
    """A calendar part's base64 body (the same ICS goes to a whole fan-out: encoded once)."""
    return base64.encodebytes(data).decode("ascii")


def _text_part(subtype: str, text: str) -> list[str]:
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if body.isascii() and max(map(len, body.split("\n"))) <= 998:  # SMTP's line limit
        encoding, payload = "7bit", body
    else:
        encoding = "quoted-printable"
        payload = quopri.encodestring(body.encode("utf-8")).decode("ascii")
    if not payload.endswith("\n"):
        payload += "\n"
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        f"Content-Transfer-Encoding: {encoding}",
        "",
        payload,
    ]


def render_message(mail: OutgoingMail) -> RenderedMail:
    """The bytes `build_message(mail)` stands for, written directly (several times faster).

    Delivery sends thousands of these; the stdlib's EmailMessage parses every header it is
    given through its header registry, which was most of the cost of a reminder. Same
    checks, same headers, same parts; tests compare the two renderings.
    """
    _check(mail)
    message_id = _message_id(mail.message_id)
    lines = [
        f"From: {_address_header(mail.from_name, mail.from_email)}",
        f"To: {_address_header(mail.to_name, mail.to_email)}",
        f"Subject: {_encoded_words(_one_line(mail.subject))}",
        f"Date: {_date_header(mail.sent_at)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-generated",
        f"X-Kindred-Kind: {mail.kind}",
    ]
    if mail.list_unsubscribe_url:
        lines.append(f"List-Unsubscribe: {_unsubscribe_header(mail.list_unsubscribe_url)}")
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    for name, value in mail.headers.items():
        lines.append(f"{name}: {_encoded_words(_one_line(value))}")
    parts = [_text_part("plain", mail.text)]
    if mail.html is not None:
        parts.append(_text_part("html", mail.html))
    if mail.ics is not None:
        method = _ics_method(mail.ics, mail.ics_method)
        params = '; charset="utf-8"' + (f'; method="{method}"' if method else "")
        parts.append(
            [
                f"Content-Type: text/calendar{params}",
                "Content-Transfer-Encoding: base64",
                "",
                _base64_lines(mail.ics),
            ]
        )
    # A boundary no body can contain: bodies are 7bit text we can check, QP or base64.
    boundary = "kindred-" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    while any(boundary in line for part in parts for line in part):
        boundary = "kindred-" + hashlib.sha256(boundary.encode()).hexdigest()[:32]
    lines += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
    ]
    for part in parts:
        lines.append(f"--{boundary}")
        lines.extend(part)
    lines.append(f"--{boundary}--")
    lines.append("")
    text = "\n".join(lines)
    return RenderedMail(message_id, text.replace("\n", "\r\n").encode("ascii"))
