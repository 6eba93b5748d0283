"""The web worker's request handling: WholeBody (the app sees a request only once its body has
arrived, in time and within the cap) and WsgiInThreads (the WSGI app in a thread).

The head deadline and the server as a whole are tested end to end (tests/e2e/test_slow_clients.py).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

from scheduler.http_server import WholeBody, WsgiInThreads

Message = dict[str, Any]


class Client:
    """A client as the server presents it: body chunks, each after a pause."""

    def __init__(self, *chunks: tuple[float, bytes], content_length: int | None = None) -> None:
        self.chunks = list(chunks)
        self.content_length = content_length
        self.received = 0  # messages the app side asked for
        self.sent: list[Message] = []

    def scope(self) -> Message:
        headers = [(b"content-type", b"application/json")]
        if self.content_length is not None:
            headers.append((b"content-length", str(self.content_length).encode()))
        return {"type": "http", "method": "POST", "path": "/", "headers": headers}

    async def receive(self) -> Message:
        self.received += 1
        if not self.chunks:
            await asyncio.sleep(3600)  # nothing more will come
        pause, body = self.chunks.pop(0)
        await asyncio.sleep(pause)
        if body is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return starts[0]["status"] if starts else None


def run_alone(coroutine: Any) -> None:
    """asyncio.run in a thread of its own: a browser test earlier in the run may have left an
    event loop running in this one."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as failure:  # re-raised in the test's thread
            failures.append(failure)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


class RecordingApp:
    """An ASGI app that reads its whole request, as WsgiInThreads does, and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def serve(client: Client, *, max_bytes: int = 100, seconds: float = 1.0) -> RecordingApp:
    app = RecordingApp()
    run_alone(WholeBody(app, max_bytes=max_bytes, seconds=seconds)(
        client.scope(), client.receive, client.send
    ))  # fmt: skip
    return app


def test_a_body_in_pieces_reaches_the_app_whole_in_one_message():
    client = Client((0.01, b'{"resp'), (0.01, b'onse": '), (0.01, b'"yes"}'), content_length=19)
    app = serve(client)
    assert app.bodies == [b'{"response": "yes"}']
    assert client.status() == 200


def test_a_body_that_drips_past_the_deadline_gets_408_and_the_app_never_runs():
    client = Client(*[(0.05, b"a")] * 100, content_length=100)
    app = serve(client, seconds=0.3)
    assert app.bodies == []
    assert client.status() == 408
    start = client.sent[0]
    assert (b"connection", b"close") in start["headers"]
    assert b"did not arrive within 0.3 s" in client.sent[1]["body"]


def test_a_body_larger_than_the_cap_gets_413_without_reading_it_all():
    client = Client(*[(0, b"x" * 40)] * 10)  # chunked: no length declared
    app = serve(client, max_bytes=100)
    assert app.bodies == []
    assert client.status() == 413
    assert client.received == 3  # stopped as soon as the cap was passed


def test_a_body_declared_larger_than_the_cap_is_left_unread_for_the_app_to_refuse():
    client = Client((0, b"x" * 1000), content_length=1000)
    app = serve(client, max_bytes=100)
    assert client.received == 0
    assert app.bodies == [b""]  # Flask answers 413 in its own words from Content-Length


def test_a_client_that_leaves_mid_body_is_forgotten():
    client = Client((0, b"half"), (0, None), content_length=8)
    app = serve(client)
    assert app.bodies == []
    assert client.sent == []


def test_other_scopes_pass_straight_through():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    async def never(*_args):
        raise AssertionError("not for a lifespan scope")

    run_alone(WholeBody(app, max_bytes=1, seconds=1)({"type": "lifespan"}, never, never))
    assert seen == ["lifespan"]


# --- WsgiInThreads: the WSGI app in a thread, request in whole, response out whole ---


def call_wsgi(wsgi_app: Any, scope: Message, body: bytes = b"") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    run_alone(WsgiInThreads(wsgi_app, threads=2)(scope, receive, send))
    return sent


def http_scope(**extra: Any) -> Message:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/caf\u00e9/ok",
        "root_path": "",
        "query_string": b"a=1&b=%C3%A9",
        "headers": [
            (b"host", b"kindred.test"),
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"accept", b"text/html"),
            (b"accept", b"*/*"),
            (b"x_forwarded_for", b"6.6.6.6"),
        ],
        "client": ("203.0.113.7", 50000),
        "server": ("127.0.0.1", 8000),
        **extra,
    }


def test_the_wsgi_app_sees_a_pep_3333_environ_with_the_whole_body():
    seen: dict[str, Any] = {}

    def app(environ, start_response):
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    call_wsgi(app, http_scope(), body=b"{}")
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["PATH_INFO"] == "/café/ok".encode().decode("latin-1")  # bytes as latin-1
    assert seen["QUERY_STRING"] == "a=1&b=%C3%A9"
    assert seen["CONTENT_TYPE"] == "application/json"
    assert seen["CONTENT_LENGTH"] == "2"
    assert seen["HTTP_HOST"] == "kindred.test"
    assert seen["HTTP_ACCEPT"] == "text/html,*/*"
    assert "HTTP_X_FORWARDED_FOR" not in seen  # a name with _ never passes for one with -
    assert seen["REMOTE_ADDR"] == "203.0.113.7"
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert seen["wsgi.url_scheme"] == "https"
    assert seen["body"] == b"{}"


def test_the_response_goes_out_whole_and_the_app_is_closed():
    closed = []

    class Response:
        def __iter__(self):
            yield b"one "
            yield b"two"

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        write = start_response("201 Created", [("X-Name", "Zoë"), ("Content-Type", "text/plain")])
        write(b"zero ")
        return Response()

    start, body = call_wsgi(app, http_scope())
    assert start["status"] == 201
    assert start["headers"] == [
        (b"x-name", "Zoë".encode("latin-1")),
        (b"content-type", b"text/plain"),
    ]
    assert body == {"type": "http.response.body", "body": b"zero one two"}
    assert closed == [True]


def test_an_error_page_may_replace_a_started_response():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html")])
        try:
            raise RuntimeError("while rendering")
        except RuntimeError:
            start_response(
                "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"sorry"]

    start, body = call_wsgi(app, http_scope())
    assert start["status"] == 500
    assert body["body"] == b"sorry"
