"""WholeBody: the app sees a request only once its body has arrived, in time and within the cap.

The head deadline and the server as a whole are tested end to end (tests/e2e/test_slow_clients.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from scheduler.http_server import WholeBody

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


class RecordingApp:
    """An ASGI app that reads its request as a2wsgi would, and answers 200."""

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
    asyncio.run(WholeBody(app, max_bytes=max_bytes, seconds=seconds)(
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

    asyncio.run(WholeBody(app, max_bytes=1, seconds=1)({"type": "lifespan"}, never, never))
    assert seen == ["lifespan"]
