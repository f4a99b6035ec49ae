"""Test helpers: requests without a server, WebSocket clients with timeouts, pub/sub probes.

Like Nova's ``nova_test_req``, :func:`nova_request` builds the request a Nova-style
controller or security function receives, so they can be unit-tested as plain functions:

```python
def test_show():
    req = nova_request("GET", "/api/users/1", bindings={"id": "1"})
    assert api_controller.show(req) == ("json", {"id": 1, "name": "Alice"})
```

:func:`connect` opens a WebSocket to an ASGI app in memory, and :func:`run_handler` runs one
handler class without an app. Every receive has a timeout, so a handler that never answers
fails the test with ``TimeoutError`` instead of hanging it. :func:`subscribe` joins a pub/sub
channel as a probe and receives what members would. They are ``async`` (use them in
``@pytest.mark.anyio`` tests) and run on the test's own event loop.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Message
from starlette.websockets import WebSocket

from fastapi_nova.pid import Pid, spawn
from fastapi_nova.request import NovaRequest
from fastapi_nova.websocket import NovaWebSocket, WebSocketOptions, serve_websocket

__all__ = [
    "DEFAULT_TIMEOUT",
    "PubSubProbe",
    "WebSocketClient",
    "WebSocketRefused",
    "connect",
    "nova_request",
    "run_handler",
    "subscribe",
]

#: Seconds a helper waits for an expected message before it raises ``TimeoutError``.
DEFAULT_TIMEOUT = 5.0

_UNSET: Any = object()


def nova_request(
    method: str = "GET",
    path: str = "/",
    *,
    bindings: Mapping[str, str] | None = None,
    query: str | Mapping[str, str] = "",
    headers: Mapping[str, str] | None = None,
    json: Any = _UNSET,
    body: bytes = b"",
    params: Mapping[str, Any] | None = None,
    auth_data: Any = None,
    status_code: int | None = None,
    pathinfo: list[str] | None = None,
) -> NovaRequest:
    """A NovaRequest as a controller would receive it, built without a server.

    ``json=`` also sets the body (encoded) and a JSON content type; ``query`` is a raw query
    string or a dict.
    """
    header_map = {k.lower(): v for k, v in (headers or {}).items()}
    if json is not _UNSET:
        body = jsonlib.dumps(json).encode()
        header_map.setdefault("content-type", "application/json")
    if body:
        header_map.setdefault("content-length", str(len(body)))
    query_string = query if isinstance(query, str) else urlencode(dict(query))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query_string.encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in header_map.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "path_params": dict(bindings or {}),
        "state": {},
    }
    return NovaRequest(
        Request(scope),
        bindings=bindings,
        body=body,
        json=None if json is _UNSET else json,
        params=params,
        auth_data=auth_data,
        status_code=status_code,
        pathinfo=pathinfo,
    )


class WebSocketRefused(Exception):
    """The app refused the upgrade; ``status`` and ``headers`` of its denial response."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(f"WebSocket upgrade refused with HTTP {status}")
        self.status, self.headers, self.body = status, headers, body


@dataclass
class WebSocketClient:
    """The client end of an in-memory WebSocket; every receive times out after ``timeout``."""

    timeout: float = DEFAULT_TIMEOUT
    _to_app: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    _from_app: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    #: ``(code, reason)`` once the app closed the connection.
    closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        """Send a text frame."""
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        await self._to_app.put({"type": "websocket.receive", "bytes": data})

    async def receive(self) -> tuple[Any, ...]:
        """The next frame: ``("text", s)``, ``("binary", b)`` or ``("close", code, reason)``."""
        if self.closed is not None:
            raise ConnectionError(f"the app already closed the connection: {self.closed}")
        message = await asyncio.wait_for(self._from_app.get(), self.timeout)
        if message["type"] == "websocket.close":
            self.closed = (int(message.get("code", 1000)), str(message.get("reason") or ""))
            return ("close", *self.closed)
        if message.get("text") is not None:
            return ("text", message["text"])
        return ("binary", message.get("bytes") or b"")

    async def receive_text(self) -> str:
        """The next frame, which must be text."""
        frame = await self.receive()
        if frame[0] != "text":
            raise AssertionError(f"expected a text frame, got {frame!r}")
        return str(frame[1])

    async def receive_bytes(self) -> bytes:
        """The next frame, which must be binary."""
        frame = await self.receive()
        if frame[0] != "binary":
            raise AssertionError(f"expected a binary frame, got {frame!r}")
        return bytes(frame[1])

    async def expect_close(self) -> tuple[int, str]:
        """The next frame, which must be the app closing: ``(code, reason)``."""
        frame = await self.receive()
        if frame[0] != "close":
            raise AssertionError(f"expected the connection to close, got {frame!r}")
        return int(frame[1]), str(frame[2])

    async def close(self, code: int = 1000) -> None:
        """Close from the client side (the handler sees ``("remote", code)``)."""
        await self._to_app.put({"type": "websocket.disconnect", "code": code})


@asynccontextmanager
async def connect(
    app: ASGIApp,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    query: str = "",
    timeout: float = DEFAULT_TIMEOUT,
) -> AsyncIterator[WebSocketClient]:
    """Open a WebSocket to ``app`` in memory; raise :class:`WebSocketRefused` if denied.

    ```python
    async with connect(app, "/ws") as ws:
        await ws.send_text("hi")
        assert await ws.receive_text() == "Echo: hi"
    ```
    """
    client = WebSocketClient(timeout=timeout)
    header_map = {"host": "testserver", **{k.lower(): v for k, v in (headers or {}).items()}}
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in header_map.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "subprotocols": [],
        "state": {},
        "extensions": {"websocket.http.response": {}},
    }
    await client._to_app.put({"type": "websocket.connect"})

    async def receive() -> Message:
        return await client._to_app.get()

    async def send(message: Message) -> None:
        await client._from_app.put(message)

    task = asyncio.ensure_future(app(scope, receive, send))
    try:
        await _handshake(client, task, timeout)
        yield client
    finally:
        if not task.done():
            await client.close(1000)
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        elif not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _handshake(client: WebSocketClient, task: asyncio.Future[Any], timeout: float) -> None:
    first = await asyncio.wait_for(client._from_app.get(), timeout)
    if first["type"] == "websocket.accept":
        return
    if first["type"] == "websocket.close":
        raise WebSocketRefused(403, {}, b"")
    if first["type"] == "websocket.http.response.start":
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in first.get("headers", [])}
        body = b""
        for _ in range(10_000):  # bounded: a denial body arrives in a few messages
            message = await asyncio.wait_for(client._from_app.get(), timeout)
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        raise WebSocketRefused(int(first["status"]), headers, body)
    raise AssertionError(f"unexpected first message from the app: {first!r}")


@asynccontextmanager
async def run_handler(
    handler_cls: type[NovaWebSocket],
    *,
    state: Mapping[str, Any] | None = None,
    options: WebSocketOptions | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> AsyncIterator[WebSocketClient]:
    """Run one connection of ``handler_cls`` in memory, without an app or security.

    ``state`` is what ``init`` receives (a ``"req"`` NovaRequest is added if missing).
    """

    async def endpoint(websocket: WebSocket) -> None:
        initial = dict(state or {})
        initial.setdefault("req", NovaRequest(websocket))
        await serve_websocket(
            websocket, handler_cls, state=initial, options=options or WebSocketOptions()
        )

    app = WebSocketRoute("/", endpoint)
    async with connect(app, "/", headers=headers, timeout=timeout) as client:
        yield client


class _QueueInbox:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def deliver(self, message: Any) -> None:
        self.queue.put_nowait(message)


@dataclass
class PubSubProbe:
    """A pub/sub member for tests: what it receives is what a connection's ``websocket_info``
    would."""

    pid: Pid
    _inbox: _QueueInbox
    timeout: float = DEFAULT_TIMEOUT

    async def receive(self) -> Any:
        """The next message delivered to the probe, or ``TimeoutError``."""
        return await asyncio.wait_for(self._inbox.queue.get(), self.timeout)

    def pending(self) -> list[Any]:
        """Messages delivered and not yet received (without waiting)."""
        out: list[Any] = []
        while not self._inbox.queue.empty():
            out.append(self._inbox.queue.get_nowait())
        return out


@asynccontextmanager
async def subscribe(
    channel: str, *, timeout: float = DEFAULT_TIMEOUT
) -> AsyncIterator[PubSubProbe]:
    """Join ``channel`` as a probe member for the duration of the block.

    ```python
    async with subscribe("chat") as probe:
        await pubsub.broadcast("chat", "message", "hi")
        assert (await probe.receive()).payload == "hi"
    ```
    """
    from fastapi_nova import pubsub

    inbox = _QueueInbox()
    pid = spawn(inbox)
    await pubsub.join(channel, member=pid)
    try:
        yield PubSubProbe(pid, inbox, timeout)
    finally:
        pid.exit()
