"""Test helpers: requests without a server, WebSocket clients with timeouts, pub/sub probes.

Like Nova's `nova_test_req`, [`nova_request`][fastapi_nova.testing.nova_request] builds the request
a Nova-style controller or security function receives, so they can be unit-tested as plain
functions:

```python
def test_show():
    req = nova_request("GET", "/api/users/1", bindings={"id": "1"})
    assert api_controller.show(req) == ("json", {"id": 1, "name": "Alice"})
```

[`connect`][fastapi_nova.testing.connect] opens a WebSocket to an ASGI app in memory (the app's
security, `init` and origin checks all run), and [`run_handler`][fastapi_nova.testing.run_handler]
runs one handler class without an app. Every receive has a timeout, so a handler that never answers
fails the test with `TimeoutError` instead of hanging it, and an app that crashes fails it with the
app's own exception. Leaving the block closes the connection (the handler's `terminate` gets
`("remote", 1000)`) and waits for the handler to end; one that does not end within the
timeout is cancelled, so no task outlives the test. [`subscribe`][fastapi_nova.testing.subscribe]
joins a pub/sub channel as a probe and receives what members would.

The helpers are `async` (use them in `@pytest.mark.anyio` tests on the asyncio backend)
and run on the test's own event loop: no thread, no portal, no lifespan needed (pub/sub
connects lazily).

```python
@pytest.mark.anyio
async def test_chat():
    async with subscribe("chat") as probe, connect(app, "/chat") as ws:
        await ws.send_text("hi")
        assert await ws.receive_text() == "hi"
        assert (await probe.receive()).payload == "hi"
```
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from fastapi_nova import pubsub
from fastapi_nova.connection import _serve_websocket
from fastapi_nova.errors import WebSocketRefused
from fastapi_nova.pid import Pid, _spawn
from fastapi_nova.request import _SCOPE_KEY, _WILDCARD_PARAM, NovaRequest
from fastapi_nova.websocket import NovaWebSocket, WebSocketOptions

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

DEFAULT_TIMEOUT = 5.0
"""Seconds a helper waits for an expected message before it raises `TimeoutError`."""

_UNSET: Any = object()


def _split_query(path: str, query: str | Mapping[str, str]) -> tuple[str, str]:
    path, mark, in_path = path.partition("?")
    given = query if isinstance(query, str) else urlencode(dict(query))
    if mark and given:
        raise ValueError(f"give the query string in the path or in query=, not both: {path!r}")
    return path, in_path if mark else given


def _raw_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


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
    """A NovaRequest as a controller or security function would receive it, without a server.

    `path` may carry a query string (`"/search?q=nova"`), or pass `query` as a raw
    string or a dict. `json=` sets `req.json` and also the body (encoded) and a JSON
    content type; `body` is the raw body otherwise (`req.request.body()` returns it too).
    `params` is the decoded form (`req.params`). `bindings` and `pathinfo` are what the
    route's `:name` bindings and trailing `[...]` would have matched; `auth_data` is what
    the group's security returned; `status_code` is set for status-page controllers.
    """
    path, query_string = _split_query(path, query)
    header_map = {k.lower(): v for k, v in (headers or {}).items()}
    if json is not _UNSET:
        if body:
            raise ValueError("give json= or body=, not both")
        body = jsonlib.dumps(json).encode()
        header_map.setdefault("content-type", "application/json")
    if body:
        header_map.setdefault("content-length", str(len(body)))
    path_params: dict[str, str] = dict(bindings or {})
    if pathinfo:
        path_params[_WILDCARD_PARAM] = "/".join(pathinfo)
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query_string.encode("latin-1"),
        "headers": _raw_headers({"host": "testserver", **header_map}),
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "path_params": path_params,
        "state": {},
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    nreq = NovaRequest(
        Request(scope, receive),
        bindings=bindings,
        body=body,
        json=None if json is _UNSET else json,
        params=params,
        auth_data=auth_data,
        status_code=status_code,
        pathinfo=pathinfo,
    )
    # As on a served request: code that looks the request up from its scope finds this one.
    scope[_SCOPE_KEY] = {"nova_request": nreq, "auth_data": auth_data}
    return nreq


class WebSocketClient:
    """The client end of an in-memory WebSocket; every receive times out after `timeout`."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        #: Seconds each receive waits before raising `TimeoutError`.
        self.timeout = timeout
        #: `(code, reason)` once the app closed the connection.
        self.closed: tuple[int, str] | None = None
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._app: asyncio.Future[None] | None = None
        self._client_closed = False

    async def send_text(self, text: str) -> None:
        """Send a text frame."""
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        await self._to_app.put({"type": "websocket.receive", "bytes": data})

    async def send_json(self, data: Any) -> None:
        """Send `data` as JSON in a text frame."""
        await self.send_text(jsonlib.dumps(data))

    async def receive(self) -> tuple[Any, ...]:
        """The next frame: `("text", s)`, `("binary", b)` or `("close", code, reason)`.

        Raises `TimeoutError` when nothing comes within `timeout`, the app's exception
        if it crashed, and `ConnectionError` once the connection is over.
        """
        if self.closed is not None:
            raise ConnectionError(f"the app already closed the connection: {self.closed}")
        message = await self._next("frame")
        if message["type"] == "websocket.close":
            self.closed = (int(message.get("code") or 1000), str(message.get("reason") or ""))
            return ("close", *self.closed)
        if message["type"] != "websocket.send":
            raise AssertionError(f"unexpected message from the app: {message!r}")
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

    async def receive_json(self) -> Any:
        """The next frame, which must be text holding JSON, decoded."""
        return jsonlib.loads(await self.receive_text())

    async def expect_close(self) -> tuple[int, str]:
        """The next frame, which must be the app closing: `(code, reason)`."""
        frame = await self.receive()
        if frame[0] != "close":
            raise AssertionError(f"expected the connection to close, got {frame!r}")
        return int(frame[1]), str(frame[2])

    async def close(self, code: int = 1000) -> None:
        """Close from the client side (the handler sees `("remote", code)`)."""
        self._client_closed = True
        await self._to_app.put({"type": "websocket.disconnect", "code": code})

    async def _next(self, what: str) -> Message:
        """The next ASGI message from the app, bounded by the timeout and the app's life."""
        if not self._from_app.empty():
            return self._from_app.get_nowait()
        getter = asyncio.ensure_future(self._from_app.get())
        waiting: set[asyncio.Future[Any]] = {getter}
        if self._app is not None:
            waiting.add(self._app)
        try:
            await asyncio.wait(waiting, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        app = self._app
        if app is not None and app.done():
            error = None if app.cancelled() else app.exception()
            if error is not None:
                raise error
            raise ConnectionError(f"the app returned without sending a {what} or closing")
        raise TimeoutError(f"no {what} from the app within {self.timeout:g} s")


@asynccontextmanager
async def connect(
    app: ASGIApp,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    query: str | Mapping[str, str] = "",
    timeout: float = DEFAULT_TIMEOUT,
) -> AsyncIterator[WebSocketClient]:
    """Open a WebSocket to `app` in memory; raise `WebSocketRefused` if denied.

    ```python
    async with connect(app, "/ws") as ws:
        await ws.send_text("hi")
        assert await ws.receive_text() == "Echo: hi"
    ```

    `headers` go with the upgrade request (`host` defaults to `testserver`, so the
    default same-host origin check passes; add `origin` to test it). The query string can
    be in `path` or in `query`. `timeout` bounds every receive, the handshake and the
    wait for the handler to end when the block is left.
    """
    path, query_string = _split_query(path, query)
    client = WebSocketClient(timeout=timeout)
    header_map = {"host": "testserver", **{k.lower(): v for k, v in (headers or {}).items()}}
    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query_string.encode("latin-1"),
        "headers": _raw_headers(header_map),
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "subprotocols": [],
        "state": {},
        "extensions": {"websocket.http.response": {}},
    }
    client._to_app.put_nowait({"type": "websocket.connect"})

    async def receive() -> Message:
        return await client._to_app.get()

    async def send(message: Message) -> None:
        await client._from_app.put(message)

    task = client._app = asyncio.ensure_future(app(scope, receive, send))
    try:
        await _handshake(client)
        yield client
    except BaseException:
        await _stop(client, task)
        raise
    await _stop(client, task)
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def _handshake(client: WebSocketClient) -> None:
    first = await client._next("accept or denial")
    if first["type"] == "websocket.accept":
        return
    if first["type"] == "websocket.close":
        raise WebSocketRefused(403, {}, b"")
    if first["type"] == "websocket.http.response.start":
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in first.get("headers", [])}
        body = b""
        more = True
        while more:
            message = await client._next("denial body")
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
        raise WebSocketRefused(int(first["status"]), headers, body)
    raise AssertionError(f"unexpected first message from the app: {first!r}")


async def _stop(client: WebSocketClient, task: asyncio.Future[None]) -> None:
    """Close from the client side and wait for the app; cancel it if it does not end."""
    if not task.done():
        if not client._client_closed:
            await client.close(1000)
        await asyncio.wait({task}, timeout=client.timeout)
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: asyncio must not log it as never retrieved


@asynccontextmanager
async def run_handler(
    handler_cls: type[NovaWebSocket],
    *,
    state: Mapping[str, Any] | None = None,
    options: WebSocketOptions | Mapping[str, Any] | None = None,
    path: str = "/",
    bindings: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> AsyncIterator[WebSocketClient]:
    """Run one connection of `handler_cls` in memory, without an app or security.

    `state` is what `init` receives (a copy; a `"req"` NovaRequest with `bindings` is
    added if missing). `options` is a [`WebSocketOptions`][fastapi_nova.WebSocketOptions] or the
    route's options dict (`{"idle_timeout": 0.1}`). Raises
    [`WebSocketRefused`][fastapi_nova.testing.WebSocketRefused] when `init` refuses.

    ```python
    async with run_handler(RoomHandler, bindings={"room": "lobby"}) as ws:
        await ws.send_text("hi")
    ```
    """
    if options is None:
        ws_options = WebSocketOptions()
    elif isinstance(options, WebSocketOptions):
        ws_options = options
    else:
        ws_options = WebSocketOptions.from_route_options(options)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        initial = dict(state or {})
        initial.setdefault("req", NovaRequest(websocket, bindings=bindings))
        await _serve_websocket(websocket, handler_cls, state=initial, options=ws_options)

    async with connect(app, path, headers=headers, timeout=timeout) as client:
        yield client


class _QueueInbox:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def deliver(self, message: Any) -> None:
        self.queue.put_nowait(message)


class PubSubProbe:
    """A pub/sub member for tests: it receives what a connection's `websocket_info` would.

    Broadcasts arrive as [`PubSubMessage`][fastapi_nova.pubsub.PubSubMessage]; anything sent to
    `pid` with [`send`][fastapi_nova.send] arrives as is.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        #: Seconds `receive` waits before raising `TimeoutError`.
        self.timeout = timeout
        self._inbox = _QueueInbox()
        #: The probe's pid, the member that joined.
        self.pid: Pid = _spawn(self._inbox)

    async def receive(self) -> Any:
        """The next message delivered to the probe; `TimeoutError` after `timeout`."""
        try:
            return await asyncio.wait_for(self._inbox.queue.get(), self.timeout)
        except TimeoutError:
            raise TimeoutError(f"no message for the probe within {self.timeout:g} s") from None

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
    """Join `channel` as a probe member for the duration of the block.

    The channel is subscribed when the block starts, and the probe has left it (its
    membership gone, the subscription released if it was the last member) when it ends.

    ```python
    async with subscribe("chat") as probe:
        await pubsub.broadcast("chat", "message", "hi")
        assert (await probe.receive()).payload == "hi"
    ```
    """
    probe = PubSubProbe(timeout)
    try:
        await pubsub.join(channel, member=probe.pid)
        yield probe
        await pubsub.leave(channel, member=probe.pid)
    finally:
        probe.pid.exit()  # also leaves, without waiting, when the block raised
