"""`python -m workers.inbound`: the SMTP server calendar replies reach Kindred through.

Meant behind the site's MTA, which hands it mail for reply+…@ the reply domain (README,
"Two-way calendars"). It listens on INBOUND_SMTP_HOST:INBOUND_SMTP_PORT, refuses messages
over INBOUND_MAX_BYTES (552), and gives every message to the one replies handler, which
answers for the attendee or drops and counts it; either way the MTA hears 250, so a forged
or stray mail is never bounced back to a sender who may not have sent it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType
from typing import Any

from aiosmtpd.controller import Controller

from scheduler.config import configure_logging
from scheduler.models import utcnow
from scheduler.services.calendars import replies
from workers.runtime import services

log = logging.getLogger("kindred.inbound")


class RepliesHandler:
    """aiosmtpd handler: each message's DATA goes to the replies handler, off the event loop."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, _handle, bytes(envelope.content), list(envelope.rcpt_tos))
        return "250 OK"


def _handle(raw: bytes, recipients: list[str]) -> str:
    process = services()
    session = process.db.session_factory()
    try:
        return replies.handle_mail(
            session, process.config, raw, recipients=recipients, now=utcnow()
        )
    finally:
        session.close()


def main() -> None:
    """Serve until SIGTERM or SIGINT."""
    configure_logging()
    config = services().config
    controller = Controller(
        RepliesHandler(),
        hostname=config.inbound_smtp_host,
        port=config.inbound_smtp_port,
        data_size_limit=config.inbound_max_bytes,
        ready_timeout=30,
    )
    stopped = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    controller.start()
    log.info("inbound SMTP listening on %s:%s", config.inbound_smtp_host, config.inbound_smtp_port)
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
