"""A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
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

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.reject_next:
                code, text = self.reject_next.pop(0)
                return f"{code} {text}"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
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


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd server on a free loopback port for the duration of a test."""
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield SmtpSink(controller, handler)
    finally:
        controller.stop()
