"""Tests of fastapi_nova.testing: requests without a server, in-memory WebSockets, probes.

The helpers are what users test their own apps with, so they are tested on the example app's
echo and chat sockets and on small inline apps for the edges: refusals, close codes,
timeouts, crashes and cleanup. Unit tests of the example app's own controllers and security
functions live in tests/test_example_routes.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from example_app.main import app as example_app
from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket, WebSocketOptions, pubsub, send
from fastapi_nova.pubsub import PubSubMessage
from fastapi_nova.request import _build_nova_request
from fastapi_nova.testing import (
    DEFAULT_TIMEOUT,
    WebSocketRefused,
    connect,
    nova_request,
    run_handler,
    subscribe,
)

#: Seconds a test waits for what must come (well above the time it takes).
TIMEOUT = 2.0
#: A timeout meant to expire: the tests that use it check it does so promptly.
SHORT = 0.05


@pytest.fixture(autouse=True)
def _no_leftover_pids() -> Iterator[None]:
    # Every connection and probe a test opened must have exited when its block ended.
    from fastapi_nova import pid as pid_module

    before = set(pid_module._registry)
    yield
    leaked = set(pid_module._registry) - before
    assert not leaked, f"pids still registered after the test: {leaked}"


@pytest.fixture
async def memory_pubsub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """In-process pub/sub (``memory://``), disconnected after the test."""
    monkeypatch.delenv("NOVA_PUBSUB_URL", raising=False)
    yield
    await pubsub.shutdown()


def other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}


# ---------------------------------------------------------------------------------------------
# nova_request


def test_nova_request_defaults() -> None:
    req = nova_request()
    assert isinstance(req, NovaRequest)
    assert (req.method, req.path, req.qs, req.parsed_qs) == ("GET", "/", "", {})
    assert (req.bindings, req.pathinfo, req.params) == ({}, [], {})
    assert (req.body, req.json, req.auth_data, req.status_code) == (b"", None, None, None)
    assert req.headers["host"] == "testserver"


def test_nova_request_every_argument() -> None:
    req = nova_request(
        "delete",
        "/rooms/lobby/files/a/b",
        bindings={"room": "lobby"},
        pathinfo=["a", "b"],
        query={"q": "nova", "page": "2"},
        headers={"X-Token": "t", "Cookie": "session=abc"},
        params={"name": "ada"},
        auth_data={"user": "ada"},
        status_code=404,
    )
    assert (req.method, req.path) == ("DELETE", "/rooms/lobby/files/a/b")
    assert (req.bindings, req.pathinfo) == ({"room": "lobby"}, ["a", "b"])
    assert (req.qs, req.parsed_qs) == ("q=nova&page=2", {"q": "nova", "page": "2"})
    assert req.headers["x-token"] == req.headers["X-TOKEN"] == "t"
    assert req.cookies == {"session": "abc"}
    assert req.params == {"name": "ada"}
    assert (req.auth_data, req.status_code) == ({"user": "ada"}, 404)
    assert req.request.path_params == {"room": "lobby", "pathinfo": "a/b"}


def test_nova_request_query_in_the_path() -> None:
    req = nova_request("GET", "/search?q=nova&q=erlang&empty=")
    assert (req.path, req.qs) == ("/search", "q=nova&q=erlang&empty=")
    assert req.parsed_qs == {"q": "erlang", "empty": ""}
    assert nova_request(query="a=1").qs == "a=1"
    with pytest.raises(ValueError, match="not both"):
        nova_request("GET", "/search?q=1", query={"q": "2"})


def test_nova_request_json_sets_the_body_and_content_type() -> None:
    req = nova_request("POST", "/api/users", json={"name": "Ada", "tags": [1, 2]})
    assert req.json == {"name": "Ada", "tags": [1, 2]}
    assert req.body == b'{"name": "Ada", "tags": [1, 2]}'
    assert req.headers["content-type"] == "application/json"
    assert req.headers["content-length"] == str(len(req.body))
    # JSON null is a value too; a content type given by the test wins.
    null = nova_request("POST", json=None, headers={"Content-Type": "application/merge+json"})
    assert (null.json, null.body) == (None, b"null")
    assert null.headers["content-type"] == "application/merge+json"
    with pytest.raises(ValueError, match="json= or body="):
        nova_request("POST", json={}, body=b"{}")


@pytest.mark.anyio
async def test_nova_request_body_is_readable_from_the_starlette_request() -> None:
    req = nova_request("PUT", body=b"raw bytes", headers={"content-type": "text/plain"})
    assert req.body == b"raw bytes"
    assert isinstance(req.request, Request)
    assert await req.request.body() == b"raw bytes"
    assert req.headers["content-length"] == "9"


@pytest.mark.anyio
async def test_nova_request_is_the_request_of_its_scope() -> None:
    # Code that finds the request from the ASGI scope (as the framework does) gets this one.
    req = nova_request(auth_data={"user": "ada"})
    assert await _build_nova_request(req.request) is req


# ---------------------------------------------------------------------------------------------
# connect

terminations: list[Any] = []


class Echo(NovaWebSocket):
    """Echoes text and binary; ``"bye"`` closes with 4000; ``"stop"`` stops; ``"qs"`` tells."""

    def websocket_handle(self, frame: Any, state: Any) -> Any:
        match frame:
            case ("text", "bye"):
                return ("reply", ("close", 4000, "bye"), state)
            case ("text", "stop"):
                return ("stop", state)
            case ("text", "qs"):
                return ("reply", ("text", state["req"].qs), state)
            case ("text", "boom"):
                raise RuntimeError("boom")
            case ("text", msg):
                return ("reply", [("text", msg), ("text", msg.upper())], state)
            case ("binary", data):
                return ("reply", ("binary", data[::-1]), state)
        return ("ok", state)

    def terminate(self, reason: Any, state: Any) -> None:
        terminations.append(reason)


class Refuse(NovaWebSocket):
    def init(self, state: Any) -> Any:
        return ("stop", state)


class Silent(NovaWebSocket):
    """Accepts and never answers."""


def token(req: NovaRequest) -> Any:
    if req.headers.get("authorization") == "Bearer secret":
        return (True, {"user": "ada"})
    return (False, 401, {"www-authenticate": "Bearer"}, {"error": "who are you?"})


class WhoAmI(NovaWebSocket):
    def websocket_init(self, state: Any) -> Any:
        return ("reply", ("text", state["auth_data"]["user"]), state)


def ws_app() -> FastAPI:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "prefix": "",
                    "security": False,
                    "routes": [
                        ("/echo", Echo, {"protocol": "ws"}),
                        ("/refuse", Refuse, {"protocol": "ws"}),
                        ("/silent", Silent, {"protocol": "ws"}),
                    ],
                },
                {
                    "prefix": "/private",
                    "security": token,
                    "routes": [("/whoami", WhoAmI, {"protocol": "ws"})],
                },
            ]
        )
    )
    return app


@pytest.fixture
def app() -> FastAPI:
    terminations.clear()
    return ws_app()


@pytest.mark.anyio
async def test_connect_to_the_example_echo_socket() -> None:
    async with connect(example_app, "/ws", timeout=TIMEOUT) as ws:
        await ws.send_text("hi")
        assert await ws.receive_text() == "Echo: hi"
        await ws.send_text("again")
        assert await ws.receive() == ("text", "Echo: again")


@pytest.mark.anyio
async def test_frames_both_ways(app: FastAPI) -> None:
    async with connect(app, "/echo", timeout=TIMEOUT) as ws:
        await ws.send_text("hi")
        assert [await ws.receive_text(), await ws.receive_text()] == ["hi", "HI"]
        await ws.send_bytes(b"\x00\x01\x02")
        assert await ws.receive_bytes() == b"\x02\x01\x00"
        await ws.send_json({"a": [1, 2]})
        assert await ws.receive_json() == {"a": [1, 2]}
        assert await ws.receive_text() == '{"A": [1, 2]}'


@pytest.mark.anyio
async def test_receive_text_and_bytes_check_the_frame_type(app: FastAPI) -> None:
    async with connect(app, "/echo", timeout=TIMEOUT) as ws:
        await ws.send_bytes(b"ab")
        with pytest.raises(AssertionError, match=r"expected a text frame, got \('binary'"):
            await ws.receive_text()
        await ws.send_text("x")
        with pytest.raises(AssertionError, match=r"expected a binary frame, got \('text', 'x'\)"):
            await ws.receive_bytes()
        with pytest.raises(AssertionError, match="expected the connection to close"):
            await ws.expect_close()


@pytest.mark.anyio
async def test_query_string_in_the_path_or_as_an_argument(app: FastAPI) -> None:
    async with connect(app, "/echo?room=lobby", timeout=TIMEOUT) as ws:
        await ws.send_text("qs")
        assert await ws.receive_text() == "room=lobby"
    async with connect(app, "/echo", query={"a": "1"}, timeout=TIMEOUT) as ws:
        await ws.send_text("qs")
        assert await ws.receive_text() == "a=1"


@pytest.mark.anyio
async def test_expect_close_returns_the_code_and_reason(app: FastAPI) -> None:
    async with connect(app, "/echo", timeout=TIMEOUT) as ws:
        await ws.send_text("bye")
        assert await ws.expect_close() == (4000, "bye")
        assert ws.closed == (4000, "bye")
        with pytest.raises(ConnectionError, match="already closed"):
            await ws.receive()
    assert terminations == ["normal"]


@pytest.mark.anyio
async def test_stop_closes_with_1000_and_a_crash_with_1011(app: FastAPI) -> None:
    async with connect(app, "/echo", timeout=TIMEOUT) as ws:
        await ws.send_text("stop")
        assert await ws.expect_close() == (1000, "")
    async with connect(app, "/echo", timeout=TIMEOUT) as ws:
        await ws.send_text("boom")
        assert await ws.expect_close() == (1011, "")
    assert terminations[0] == "normal"
    assert terminations[1][0] == "error" and str(terminations[1][1]) == "boom"


@pytest.mark.anyio
async def test_leaving_the_block_closes_from_the_client_side(app: FastAPI) -> None:
    async with connect(app, "/echo", timeout=TIMEOUT) as ws:
        await ws.send_text("hi")
        await ws.receive_text()
    assert terminations == [("remote", 1000)]
    async with connect(app, "/echo", timeout=TIMEOUT) as ws:
        await ws.close(4001)
    assert terminations[1] == ("remote", 4001)


@pytest.mark.anyio
async def test_init_refusing_raises_websocket_refused_403(app: FastAPI) -> None:
    with pytest.raises(WebSocketRefused) as refused:
        async with connect(app, "/refuse", timeout=TIMEOUT):
            pytest.fail("the upgrade was refused: the block must not run")
    assert refused.value.status == 403
    assert str(refused.value) == "WebSocket upgrade refused with HTTP 403"


@pytest.mark.anyio
async def test_security_denial_gives_its_status_headers_and_body(app: FastAPI) -> None:
    with pytest.raises(WebSocketRefused) as refused:
        async with connect(app, "/private/whoami", timeout=TIMEOUT):
            pytest.fail("the upgrade was refused: the block must not run")
    assert refused.value.status == 401
    assert refused.value.headers["www-authenticate"] == "Bearer"
    assert refused.value.body == b'{"error":"who are you?"}'
    headers = {"Authorization": "Bearer secret"}
    async with connect(app, "/private/whoami", headers=headers, timeout=TIMEOUT) as ws:
        assert await ws.receive_text() == "ada"


@pytest.mark.anyio
async def test_foreign_origin_and_unknown_path_are_refused(app: FastAPI) -> None:
    with pytest.raises(WebSocketRefused) as refused:
        async with connect(app, "/echo", headers={"Origin": "https://evil.example"}):
            pass
    assert refused.value.status == 403
    async with connect(app, "/echo", headers={"Origin": "http://testserver"}) as ws:
        await ws.send_text("ok")
        assert await ws.receive_text() == "ok"
    with pytest.raises(WebSocketRefused) as refused:
        async with connect(app, "/no/such/socket", timeout=TIMEOUT):
            pass
    assert refused.value.status == 403


@pytest.mark.anyio
async def test_a_handler_that_never_answers_times_out_quickly(app: FastAPI) -> None:
    start = time.monotonic()
    async with connect(app, "/silent", timeout=SHORT) as ws:
        with pytest.raises(TimeoutError, match="no frame from the app within 0.05 s"):
            await ws.receive()
    assert time.monotonic() - start < 1.0


@pytest.mark.anyio
async def test_an_app_that_never_accepts_times_out_on_connect() -> None:
    never = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await never.wait()

    before = other_tasks()
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="no accept or denial from the app within 0.05 s"):
        async with connect(app, "/", timeout=SHORT):
            pass
    assert time.monotonic() - start < 1.0
    assert other_tasks() == before


@pytest.mark.anyio
async def test_cleanup_cancels_an_app_that_ignores_the_close() -> None:
    cancelled = asyncio.Event()

    async def stubborn(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await asyncio.Event().wait()  # never reads the client's disconnect
        finally:
            cancelled.set()

    before = other_tasks()
    start = time.monotonic()
    async with connect(stubborn, "/", timeout=SHORT):
        pass
    assert cancelled.is_set()
    assert time.monotonic() - start < 1.0
    assert other_tasks() == before


@pytest.mark.anyio
async def test_cleanup_leaves_no_task_running(app: FastAPI) -> None:
    before = other_tasks()
    async with connect(app, "/echo", timeout=TIMEOUT) as ws:
        await ws.send_text("hi")
        await ws.receive_text()
        assert len(other_tasks() - before) >= 1  # the connection runs meanwhile
    assert other_tasks() == before
    # Also when the test body fails: its error comes out, and nothing is left behind.
    with pytest.raises(KeyError, match="from the test"):
        async with connect(app, "/echo", timeout=TIMEOUT) as ws:
            raise KeyError("from the test")
    assert other_tasks() == before
    assert terminations == [("remote", 1000), ("remote", 1000)]


@pytest.mark.anyio
async def test_an_app_crash_fails_the_receive_with_the_apps_error() -> None:
    async def crashing(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise RuntimeError("the app crashed")

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="the app crashed"):
        async with connect(crashing, "/", timeout=TIMEOUT) as ws:
            await ws.send_text("hi")
            await ws.receive()
    assert time.monotonic() - start < TIMEOUT  # at once, not after the timeout
    # Not received in the block: it comes out when the block ends.
    with pytest.raises(RuntimeError, match="the app crashed"):
        async with connect(crashing, "/", timeout=TIMEOUT) as ws:
            await ws.send_text("hi")


@pytest.mark.anyio
async def test_an_app_that_returns_without_closing() -> None:
    async def quitter(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})

    async with connect(quitter, "/", timeout=TIMEOUT) as ws:
        with pytest.raises(ConnectionError, match="returned without sending a frame"):
            await ws.receive()


def test_default_timeout_is_bounded() -> None:
    assert 0 < DEFAULT_TIMEOUT <= 10


# ---------------------------------------------------------------------------------------------
# run_handler


class Greeter(NovaWebSocket):
    seen: list[Any] = []

    def init(self, state: Any) -> Any:
        Greeter.seen.append(dict(state))
        state["greeted"] = 0
        return ("ok", state)

    def websocket_init(self, state: Any) -> Any:
        req = state["req"]
        return ("reply", ("text", f"{state['greeting']} {req.bindings.get('room')}"), state)

    def websocket_handle(self, frame: Any, state: Any) -> Any:
        state["greeted"] += 1
        return ("reply", ("text", str(state["greeted"])), state)


@pytest.mark.anyio
async def test_run_handler_passes_state_to_init() -> None:
    Greeter.seen.clear()
    state = {"greeting": "hello", "auth_data": {"user": "ada"}}
    async with run_handler(Greeter, state=state, bindings={"room": "lobby"}, timeout=TIMEOUT) as ws:
        assert await ws.receive_text() == "hello lobby"
        await ws.send_text("x")
        assert await ws.receive_text() == "1"
    [seen] = Greeter.seen
    assert (seen["greeting"], seen["auth_data"]) == ("hello", {"user": "ada"})
    assert isinstance(seen["req"], NovaRequest) and seen["req"].bindings == {"room": "lobby"}
    assert state == {"greeting": "hello", "auth_data": {"user": "ada"}}  # the test's copy


@pytest.mark.anyio
async def test_run_handler_keeps_a_given_request() -> None:
    Greeter.seen.clear()
    req = nova_request("GET", "/rooms/hall", bindings={"room": "hall"})
    async with run_handler(Greeter, state={"req": req, "greeting": "hi"}) as ws:
        assert await ws.receive_text() == "hi hall"
    assert Greeter.seen[0]["req"] is req


@pytest.mark.anyio
@pytest.mark.parametrize(
    "options",
    [WebSocketOptions(idle_timeout=SHORT), {"protocol": "ws", "idle_timeout": SHORT}],
    ids=["WebSocketOptions", "route-options"],
)
async def test_run_handler_honours_options(options: Any) -> None:
    start = time.monotonic()
    async with run_handler(Silent, options=options, timeout=TIMEOUT) as ws:
        assert await ws.expect_close() == (1000, "idle timeout")
    assert time.monotonic() - start < 1.0
    async with run_handler(Echo, options={"max_frame_size": 4}, timeout=TIMEOUT) as ws:
        await ws.send_text("12345")
        assert await ws.expect_close() == (1009, "message too big")
    with pytest.raises(ValueError, match="unknown WebSocket route option"):
        async with run_handler(Echo, options={"idle": 1}):
            pass


@pytest.mark.anyio
async def test_run_handler_refusals_and_origin() -> None:
    with pytest.raises(WebSocketRefused) as refused:
        async with run_handler(Refuse, timeout=TIMEOUT):
            pass
    assert refused.value.status == 403
    with pytest.raises(WebSocketRefused):
        async with run_handler(Echo, headers={"origin": "https://evil.example"}):
            pass
    allowed = {"allowed_origins": ["https://app.example"]}
    headers = {"origin": "https://app.example"}
    async with run_handler(Echo, options=allowed, headers=headers, timeout=TIMEOUT) as ws:
        await ws.send_text("ok")
        assert await ws.receive_text() == "ok"


@pytest.mark.anyio
async def test_run_handler_timeout() -> None:
    async with run_handler(Silent, timeout=SHORT) as ws:
        with pytest.raises(TimeoutError):
            await ws.receive()


# ---------------------------------------------------------------------------------------------
# subscribe


@pytest.mark.anyio
async def test_probe_receives_broadcasts_with_sender_none_from_outside(
    memory_pubsub: None,
) -> None:
    async with subscribe("room", timeout=TIMEOUT) as probe:
        await pubsub.broadcast("room", "message", {"text": "hi"})
        message = await probe.receive()
        assert isinstance(message, PubSubMessage)
        assert (message.channel, message.sender, message.topic) == ("room", None, "message")
        assert message == ("nova_pubsub", "room", None, "message", {"text": "hi"})
        await pubsub.local_broadcast("room", "other", 1)
        assert (await probe.receive()).payload == 1


@pytest.mark.anyio
async def test_probe_sees_the_sending_connection_of_the_example_chat(
    memory_pubsub: None,
) -> None:
    async with (
        subscribe("chat", timeout=TIMEOUT) as probe,
        connect(example_app, "/chat", timeout=TIMEOUT) as ws,
    ):
        await ws.send_text("hello")
        assert await ws.receive_text() == "hello"  # the chat sends it back to its members
        message = await probe.receive()
        assert (message.topic, message.payload) == ("message", "hello")
        assert message.sender is not None and message.sender.alive
        assert message.sender in pubsub.get_local_members("chat")
        assert message.sender != probe.pid


@pytest.mark.anyio
async def test_probe_membership_ends_with_the_block(memory_pubsub: None) -> None:
    async with subscribe("room", timeout=TIMEOUT) as probe:
        assert pubsub.get_local_members("room") == [probe.pid]
        assert probe.pid.alive
    assert pubsub.get_local_members("room") == []
    assert not probe.pid.alive
    with pytest.raises(KeyError):
        async with subscribe("room", timeout=TIMEOUT) as probe:
            raise KeyError("the test failed")
    assert pubsub.get_local_members("room") == []


@pytest.mark.anyio
async def test_probe_receive_times_out_and_pending_does_not_wait(memory_pubsub: None) -> None:
    async with subscribe("room", timeout=SHORT) as probe:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="no message for the probe within 0.05 s"):
            await probe.receive()
        assert time.monotonic() - start < 1.0
        assert probe.pending() == []
        send(probe.pid, ("direct", 1))
        await pubsub.local_broadcast("room", "t", "p")
        assert probe.pending() == [("direct", 1), ("nova_pubsub", "room", None, "t", "p")]
        assert probe.pending() == []
