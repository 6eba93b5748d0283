"""Where mail physically goes: an SMTP server (SMTP_URL) or .eml files in the outbox folder.

A transport sends many messages over one connection; each `send` reports accepted, a
transient refusal (retry later) or a permanent one (give up), so delivery can decide.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
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


class Transport(Protocol):
    """Sends messages; used as a context manager so the connection is closed."""

    def send(self, message: RenderedMail, sender: str, recipient: str) -> SendResult: ...

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

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """smtp://[user:pass@]host[:port][?starttls=1] or smtps://..."""
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
        )


def _code_result(code: int, message: bytes | str) -> SendResult:
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return SendResult(ok=False, permanent=500 <= code < 600, error=f"{code} {text}".strip())


class SmtpTransport:
    """One SMTP connection, opened lazily and reopened once after a dropped connection."""

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
        return smtp

    def send(self, message: RenderedMail, sender: str, recipient: str) -> SendResult:
        """Send one message; a dropped connection is retried once on a fresh one."""
        for attempt in (1, 2):
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                refused = self._smtp.sendmail(sender, [recipient], message.data)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                return _code_result(code, text)
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                return _code_result(exc.smtp_code, exc.smtp_error)
            except smtplib.SMTPAuthenticationError as exc:
                self.close()
                return SendResult(ok=False, error=f"authentication failed: {exc.smtp_code}")
            except (smtplib.SMTPException, OSError) as exc:
                # connection refused, reset, timed out or dropped mid-dialogue: transient
                self.close()
                if attempt == 2:
                    return SendResult(ok=False, error=f"connection: {exc!r}"[:500])
                continue
            if refused:
                code, text = next(iter(refused.values()))
                return _code_result(code, text)
            return ACCEPTED
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Say QUIT if we can; drop the connection either way."""
        if self._smtp is not None:
            try:
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
