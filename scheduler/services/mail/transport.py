"""Where mail physically goes: an SMTP server (SMTP_URL) or .eml files in the outbox folder.

A transport sends many messages over one connection; each `send` reports accepted, a
transient refusal (retry later) or a permanent one (give up), so delivery can decide.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import unquote, urlsplit

from scheduler.config import Config
from scheduler.domain.messages import RenderedMail

SMTP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class SendResult:
    """What the server said about one message."""

    ok: bool
    permanent: bool = False
    error: str | None = None

    @classmethod
    def accepted(cls) -> SendResult:
        """The server took responsibility for the message."""
        return cls(ok=True)


ACCEPTED = SendResult(ok=True)


# A message for the wire and its envelope: (message, sender, recipient).
Envelope = tuple[RenderedMail, str, str]


class Transport(Protocol):
    """Sends messages; used as a context manager so the connection is closed."""

    def send(self, message: RenderedMail, sender: str, recipient: str) -> SendResult: ...

    def send_many(self, envelopes: Iterable[Envelope]) -> Iterator[SendResult]: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@dataclass(frozen=True)
class SmtpSettings:
    """SMTP_URL parsed: smtp:// (STARTTLS when offered and asked for), smtps:// (implicit TLS)."""

    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: bool
    pipelining: bool = True

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """smtp://[user:pass@]host[:port][?starttls=1][&pipelining=0] or smtps://...

        PIPELINING is used when the server advertises it, unless `pipelining=0` turns it off.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"SMTP_URL must look like smtp://host:port, not {url!r}")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls="starttls=1" in parts.query or "starttls=true" in parts.query,
            pipelining="pipelining=0" not in parts.query and "pipelining=false" not in parts.query,
        )


def _code_result(code: int, message: bytes | str) -> SendResult:
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return SendResult(ok=False, permanent=500 <= code < 600, error=f"{code} {text}".strip())


def envelope_address(address: str) -> str:
    """An address as an SMTP envelope carries it: ASCII, the domain in IDNA (punycode) form.

    Raises ValueError for what no plain (non-SMTPUTF8) server can take: a non-ASCII local part,
    a line break, or no single '@'.
    """
    if address.isascii() and "\r" not in address and "\n" not in address:
        return address
    local, at, domain = address.rpartition("@")
    if not at or "\r" in address or "\n" in address or not local.isascii():
        raise ValueError(f"{address!r} cannot be used in an SMTP envelope")
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as exc:
        raise ValueError(f"{address!r} cannot be used in an SMTP envelope") from exc


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: leading dots doubled, CRLF at the end, then the lone-dot terminator."""
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


_LEADING_DOT = re.compile(rb"(?m)^\.")


class SmtpTransport:
    """One SMTP connection, opened lazily and reopened once after a dropped connection.

    When the server advertises PIPELINING (RFC 2920) and the settings allow it, each message
    costs one round trip: MAIL FROM, RCPT TO and DATA go out in one write, and the content of a
    message goes out together with the next message's MAIL/RCPT/DATA. Each message's result is
    still read (and reported) on its own, before anything of the next message is committed.
    Without PIPELINING every command waits for its reply, as smtplib does.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP
        if s.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                s.host, s.port, timeout=SMTP_TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=SMTP_TIMEOUT_SECONDS)
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
        if s.username:
            smtp.login(s.username, s.password or "")
        smtp.ehlo_or_helo_if_needed()
        return smtp

    @property
    def pipelining(self) -> bool:
        """True when the open connection's server advertised PIPELINING (and we may use it)."""
        return bool(
            self.settings.pipelining
            and self._smtp is not None
            and self._smtp.has_extn("pipelining")
        )

    def send(self, message: RenderedMail, sender: str, recipient: str) -> SendResult:
        """Send one message; a dropped connection is retried once on a fresh one."""
        return next(self.send_many([(message, sender, recipient)]))

    def send_many(self, envelopes: Iterable[Envelope]) -> Iterator[SendResult]:
        """Send each message in turn over this connection, yielding one result per message.

        A result is yielded as soon as the server's final reply to that message is read (and
        before the next message's content is written), so the caller can record it at once.
        Closing the iterator early drops a transaction already announced for the next message.
        """
        queue = iter(envelopes)
        current = next(queue, None)
        announced: bytes | None = None  # current's MAIL/RCPT/DATA, already written
        try:
            while current is not None:
                upcoming = next(queue, None)
                result, announced = self._deliver(current, upcoming, announced)
                yield result
                current = upcoming
        finally:
            if announced is not None:
                self.close(abort=True)  # a transaction opened for a message never sent

    def _deliver(
        self, envelope: Envelope, upcoming: Envelope | None, announced: bytes | None
    ) -> tuple[SendResult, bytes | None]:
        """One message, with one retry on a fresh connection: (result, what `upcoming` got)."""
        message, sender, recipient = envelope
        try:
            sender, recipient = envelope_address(sender), envelope_address(recipient)
        except ValueError as exc:
            if announced is not None:
                self.close(abort=True)  # cannot happen (it was announced), but never dangle
            return SendResult(ok=False, permanent=True, error=str(exc)[:500]), None
        for attempt in (1, 2):
            try:
                if self._smtp is None:
                    announced = None
                    self._smtp = self._connect()
                if self.pipelining:
                    return self._pipelined(
                        self._smtp, message, sender, recipient, upcoming, announced
                    )
                return self._plain(self._smtp, message, sender, recipient), None
            except smtplib.SMTPAuthenticationError as exc:
                self.close()
                return SendResult(ok=False, error=f"authentication failed: {exc.smtp_code}"), None
            except (smtplib.SMTPException, OSError) as exc:
                # connection refused, reset, timed out or dropped mid-dialogue: transient
                self.close()
                announced = None
                if attempt == 2:
                    return SendResult(ok=False, error=f"connection: {exc!r}"[:500]), None
        raise AssertionError("unreachable")

    def _plain(
        self, smtp: smtplib.SMTP, message: RenderedMail, sender: str, recipient: str
    ) -> SendResult:
        """smtplib's own lock-step dialogue (servers without PIPELINING)."""
        try:
            refused = smtp.sendmail(sender, [recipient], message.data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _code_result(code, text)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            return _code_result(exc.smtp_code, exc.smtp_error)
        if refused:
            code, text = next(iter(refused.values()))
            return _code_result(code, text)
        return ACCEPTED

    def _commands(self, smtp: smtplib.SMTP, envelope: Envelope) -> bytes | None:
        """MAIL FROM, RCPT TO and DATA for a message, or None if its addresses cannot go."""
        message, sender, recipient = envelope
        try:
            sender, recipient = envelope_address(sender), envelope_address(recipient)
        except ValueError:
            return None
        size = f" SIZE={len(message.data)}" if smtp.has_extn("size") else ""
        return f"MAIL FROM:<{sender}>{size}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode("ascii")

    def _pipelined(
        self,
        smtp: smtplib.SMTP,
        message: RenderedMail,
        sender: str,
        recipient: str,
        upcoming: Envelope | None,
        announced: bytes | None,
    ) -> tuple[SendResult, bytes | None]:
        """RFC 2920: one write per group, replies read in order; DATA ends each group."""
        if announced is None:
            commands = self._commands(smtp, (message, sender, recipient))
            assert commands is not None  # the addresses were checked by the caller
            smtp.send(commands)
        mail, rcpt, data = smtp.getreply(), smtp.getreply(), smtp.getreply()
        refusal = next(
            (reply for reply, ok in ((mail, (250,)), (rcpt, (250, 251))) if reply[0] not in ok),
            None,
        )
        if data[0] == 354 and refusal is not None:
            # a server that opened DATA without a valid recipient: end it with no content
            smtp.send(b".\r\n")
            smtp.getreply()
        if data[0] != 354 or refusal is not None:
            code, text = refusal or data
            if 421 in (mail[0], rcpt[0], data[0]):
                self.close(abort=True)  # the server is closing the connection
            else:
                self._reset(smtp)
            return _code_result(code, text), None
        following = self._commands(smtp, upcoming) if upcoming is not None else None
        smtp.send(_dot_stuffed(message.data) + (following or b""))
        code, text = smtp.getreply()
        if code == 421:
            self.close(abort=True)
            return _code_result(code, text), None
        # the transaction is over either way; `following` opened the next one
        return (ACCEPTED if code == 250 else _code_result(code, text)), following

    def _reset(self, smtp: smtplib.SMTP) -> None:
        """RSET after a refused transaction, so the next one starts clean (or a new link)."""
        try:
            code, _ = smtp.rset()
        except (smtplib.SMTPException, OSError):
            code = -1
        if code != 250:
            self.close(abort=True)

    def close(self, *, abort: bool = False) -> None:
        """Say QUIT if we can; drop the connection either way.

        `abort` drops it without QUIT: the server may be waiting for a message's content,
        which a QUIT would become; a transaction cut off before its final dot is discarded.
        """
        if self._smtp is not None:
            try:
                if abort:
                    self._smtp.close()
                else:
                    self._smtp.quit()
            except (TimeoutError, smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FileTransport:
    """Writes each message as an .eml file named after its Message-ID (a resend overwrites)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: RenderedMail, sender: str, recipient: str) -> SendResult:
        """Write the message atomically; the same Message-ID always lands in the same file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        message_id = message.message_id
        name = hashlib.sha256(message_id.encode()).hexdigest()[:32] + ".eml"
        temporary = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            temporary.write_bytes(message.data)
            os.replace(temporary, self.folder / name)
        except OSError as exc:
            return SendResult(ok=False, error=f"writing {name}: {exc}")
        return ACCEPTED

    def send_many(self, envelopes: Iterable[Envelope]) -> Iterator[SendResult]:
        """One file per message, in order."""
        for message, sender, recipient in envelopes:
            yield self.send(message, sender, recipient)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def open_transport(config: Config) -> SmtpTransport | FileTransport:
    """SMTP when SMTP_URL is set, otherwise .eml files under the instance's outbox folder."""
    if config.smtp_url:
        return SmtpTransport(SmtpSettings.from_url(config.smtp_url))
    return FileTransport(config.outbox_path)
