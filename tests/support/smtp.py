"""Real SMTP servers on loopback for tests and the fan-out bench.

- `smtp_sink`: aiosmtpd keeping every message it receives (no PIPELINING, like many small
  servers); `pipelining_smtp_sink`: the same server advertising PIPELINING (RFC 2920).
- `CountingSink`: a lean asyncio SMTP server (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing,
  RSET, NOOP, QUIT; advertises PIPELINING) that only counts messages and distinct Message-IDs,
  run in its own process by the bench so the server's cost is not the bench's bottleneck.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import multiprocessing
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from multiprocessing.connection import Connection
from typing import Any

import pytest
from aiosmtpd.controller import Controller


class CollectingHandler:
    """Stores each received message, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self.reject_next: list[tuple[int, str]] = []  # e.g. (451, "try later") for retry tests
        self.refuse_rcpt: dict[str, str] = {}  # recipient -> reply, e.g. "550 no such user"
        self.pipelining = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.reject_next:
                code, text = self.reject_next.pop(0)
                return f"{code} {text}"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")  # aiosmtpd reads commands as they come
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self._lock:
            if address in self.refuse_rcpt:
                return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def message_ids(self) -> list[str]:
        """Message-IDs received so far (duplicates included)."""
        with self._lock:
            return [str(m["Message-ID"]) for m in self.messages]


class SmtpSink:
    """The running server: its URL and what it has received."""

    def __init__(self, controller: Controller, handler: CollectingHandler) -> None:
        self.controller = controller
        self.handler = handler
        self.url = f"smtp://127.0.0.1:{controller.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received, in order."""
        return list(self.handler.messages)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aiosmtpd_sink(*, pipelining: bool) -> Iterator[SmtpSink]:
    """An aiosmtpd server on a free loopback port until the generator is closed."""
    handler = CollectingHandler()
    handler.pipelining = pipelining
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield SmtpSink(controller, handler)
    finally:
        controller.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd server on a free loopback port for the duration of a test."""
    yield from aiosmtpd_sink(pipelining=False)


@pytest.fixture
def pipelining_smtp_sink() -> Iterator[SmtpSink]:
    """The same server, advertising PIPELINING."""
    yield from aiosmtpd_sink(pipelining=True)


# --- a lean counting server for the bench ------------------------------------------------------

MAX_LINE = 4096


class _CountingProtocol(asyncio.Protocol):
    """One client's SMTP session; pipelined commands are answered in order, in one write."""

    def __init__(self, counts: CountingSink) -> None:
        self.counts = counts
        self.buffer = bytearray()
        self.scanned = 0  # how far DATA content has been searched for its end
        self.in_data = False
        self.sender = False
        self.recipients = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(b"220 kindred-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        replies: list[bytes] = []
        while True:
            if self.in_data:
                if buffer.startswith(b".\r\n"):
                    end, skip = 0, 3  # an empty message
                else:
                    found = buffer.find(b"\r\n.\r\n", max(0, self.scanned - 4))
                    if found < 0:
                        self.scanned = len(buffer)
                        break
                    end, skip = found + 2, found + 5
                content = bytes(buffer[:end])
                del buffer[:skip]
                self.scanned = 0
                self.in_data = False
                self.sender, self.recipients = False, 0
                replies.append(self.counts.accept(content))
                continue
            newline = buffer.find(b"\r\n")
            if newline < 0:
                if len(buffer) > MAX_LINE:
                    replies.append(b"500 line too long\r\n")
                    buffer.clear()
                break
            line = bytes(buffer[:newline])
            del buffer[: newline + 2]
            reply = self.command(line)
            replies.append(reply)
            if reply.startswith(b"221"):
                break
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))
            if replies[-1].startswith(b"221"):
                self.transport.close()

    def command(self, line: bytes) -> bytes:
        verb = line[:4].upper()
        if verb == b"MAIL":
            if self.sender:
                return b"503 nested MAIL command\r\n"
            if not line[4:].upper().startswith(b" FROM:"):
                return b"501 syntax: MAIL FROM:<address>\r\n"
            self.sender = True
            return b"250 OK\r\n"
        if verb == b"RCPT":
            if not self.sender:
                return b"503 need MAIL first\r\n"
            if not line[4:].upper().startswith(b" TO:"):
                return b"501 syntax: RCPT TO:<address>\r\n"
            self.recipients += 1
            return b"250 OK\r\n"
        if verb == b"DATA":
            if not self.recipients:
                return b"554 no valid recipients\r\n"
            self.in_data = True
            return b"354 end data with <CR><LF>.<CR><LF>\r\n"
        if verb == b"EHLO":
            return b"250-kindred-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 33554432\r\n"
        if verb == b"HELO":
            return b"250 kindred-sink\r\n"
        if verb == b"RSET":
            self.sender, self.recipients = False, 0
            return b"250 OK\r\n"
        if verb == b"NOOP":
            return b"250 OK\r\n"
        if verb == b"QUIT":
            return b"221 bye\r\n"
        return b"502 command not implemented\r\n"


@dataclass
class CountingSink:
    """What the lean server accepted: how many messages and which Message-IDs."""

    count: int = 0
    message_ids: set[str] | None = None

    def accept(self, content: bytes) -> bytes:
        """Count one message (its content as sent, dot-stuffed) and answer 250."""
        if self.message_ids is None:
            self.message_ids = set()
        head = content.split(b"\r\n\r\n", 1)[0]
        if head.startswith(b".."):
            head = head[1:]
        head = head.replace(b"\r\n..", b"\r\n.")
        for line in head.split(b"\r\n"):
            if line[:11].lower() == b"message-id:":
                self.message_ids.add(line[11:].strip().decode("ascii", "replace"))
                break
        self.count += 1
        return b"250 OK queued\r\n"


def _serve_counting(port: int, control: Connection) -> None:
    """Process body: serve until `control` says stop, then send back the counts."""
    counts = CountingSink(message_ids=set())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _CountingProtocol(counts), "127.0.0.1", port, backlog=64
        )
        control.send("ready")
        await loop.run_in_executor(None, control.recv)
        server.close()
        control.send((counts.count, sorted(counts.message_ids or ())))

    asyncio.run(main())


class CountingSinkProcess:
    """The lean server in a process of its own: `url` to send to, `stop()` for the counts."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(
            target=_serve_counting, args=(self.port, child), daemon=True
        )
        self._process.start()
        child.close()  # the child's end is the child's: if it dies, our reads end, not wait
        if not self._control.poll(30) or self._control.recv() != "ready":
            raise RuntimeError("the counting SMTP sink did not start")

    @property
    def pid(self) -> int:
        """The server process (to read its CPU time)."""
        return int(self._process.pid or 0)

    def stop(self) -> tuple[int, list[str]]:
        """Stop serving: (messages accepted, distinct Message-IDs)."""
        self._control.send("stop")
        if not self._control.poll(30):
            raise RuntimeError("the counting SMTP sink did not answer stop")
        count, message_ids = self._control.recv()
        self._process.join(10)
        return int(count), list(message_ids)
