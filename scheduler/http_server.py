"""The web process's HTTP server: a slow client costs a socket and a timer, never a thread.

gunicorn runs the worker processes (settings in gunicorn.conf.py). In each, `BufferingWorker`
reads HTTP/1.1 on an asyncio event loop (uvicorn's h11 protocol) and runs the WSGI app, Flask
and the fast paths unchanged (psycopg and redis-py block as they always did), in a pool of
threads (`WsgiInThreads`). A request reaches a thread only once it has arrived whole:

- its line and headers within REQUEST_HEAD_SECONDS of the connection being ready for them
  (opened, or the previous answer sent), 16 KiB at most (h11's limit, else 400); otherwise
  the connection is closed, with a 408 if part of a head had come;
- its body within REQUEST_BODY_SECONDS and no larger than the app's own cap (Flask's
  MAX_CONTENT_LENGTH), else 408 or 413 and the connection is closed (`WholeBody`). A body
  declared larger than the cap is not read at all: the app refuses it in its own words.

Gunicorn's sync workers, which this replaces, read each request inside the worker, so two
connections dripping header bytes kept every page from answering. Here a thousand such
connections wait on the event loop while the threads serve the requests that have arrived.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

REQUEST_HEAD_SECONDS = 10.0
REQUEST_BODY_SECONDS = 30.0
# what is buffered when the app declares no cap of its own (Flask's MAX_CONTENT_LENGTH)
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Message, Receive, Send], Awaitable[None]]

REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
# while these are our states, a request is being answered (and its body has its own deadline)
ANSWERING = (h11.SEND_RESPONSE, h11.SEND_BODY)


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol (h11) with a deadline for each request's line and headers.

    uvicorn itself only times out idle keep-alive connections, and any byte restarts that
    wait, so a client that sends a header byte now and then would hold its connection for
    ever. Here the deadline runs from the moment the connection is ready for a request.
    """

    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _start_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(REQUEST_HEAD_SECONDS, self._head_deadline_passed)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_deadline_passed(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self.conn.our_state in ANSWERING:
            return
        partial_head, _closed = self.conn.trailing_data
        if self.conn.our_state is h11.IDLE and partial_head:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


class WholeBody:
    """ASGI middleware: reads a request's whole body, within a deadline and a size cap, before
    the app sees the request, so no thread ever waits on a client."""

    def __init__(self, app: AsgiApp, *, max_bytes: int, seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self.app(scope, _replay(b"", receive), send)
            return
        try:
            async with asyncio.timeout(self.seconds):
                body = await self._read(receive)
        except TimeoutError:
            await _refuse(send, 408, f"The request body did not arrive within {self.seconds:g} s.")
            return
        except BodyTooLarge:
            await _refuse(send, 413, f"The request body is larger than {self.max_bytes} bytes.")
            return
        if body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The body, or None when the client went away before sending all of it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class BodyTooLarge(Exception):
    """More body arrived than the cap allows."""


def _content_length(scope: Message) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # h11 has refused such a request already
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the buffered body, then waits for the client to leave."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _refuse(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # what is left of the body is not read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class WsgiInThreads:
    """ASGI app: runs a WSGI app in a pool of threads, the request's body given whole and the
    response taken whole (one hand-over each way; our responses are built in memory anyway)."""

    def __init__(self, app: Any, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        body = b""
        while True:  # WholeBody has the body already: one message
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        loop = asyncio.get_running_loop()
        environ = wsgi_environ(scope, body)
        status, headers, content = await loop.run_in_executor(self.executor, self._run, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _run(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The WSGI app's answer: status, headers, body (in a pool thread)."""
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            # nothing has gone out yet, so an error page may always replace what was started
            started[:] = [status, headers]
            return chunks.append

        response: Iterable[bytes] = self.app(environ, start_response)
        try:
            chunks.extend(response)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
        status, headers = started
        encoded = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        return int(status.split(" ", 1)[0]), encoded, b"".join(chunks)


def wsgi_environ(scope: Message, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP request whose body is `body`."""
    server_name, server_port = scope.get("server") or ("localhost", 80)
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": client[0] if client else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        # `X_Forwarded_For` must not pass for `X-Forwarded-For`: names with _ are dropped
        if b"_" in raw_name:
            continue
        key = raw_name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class BufferingWorker(UvicornWorker):
    """A gunicorn worker: HTTP on an event loop, whole requests handed to the WSGI app running
    in gunicorn's `threads` threads."""

    CONFIG_KWARGS = {
        "loop": "asyncio",
        "http": HeadDeadlineProtocol,
        "interface": "asgi3",
        "lifespan": "off",
        "server_header": False,
    }

    def load_wsgi(self) -> None:
        """Load the WSGI app (`wsgi:app`) and serve it through a thread pool and `WholeBody`."""
        super().load_wsgi()
        app = self.wsgi
        max_bytes = getattr(app, "config", {}).get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY_BYTES
        self.wsgi = WholeBody(
            WsgiInThreads(app, self.cfg.threads), max_bytes=max_bytes, seconds=REQUEST_BODY_SECONDS
        )
