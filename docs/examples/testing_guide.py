"""Tests of the examples of these docs, written as an app's own tests would
be.
"""

import pytest
from fastapi.testclient import TestClient

import getting_started
import pubsub_rooms
import security_nova
import security_websocket
import ws_echo
from fastapi_nova.pubsub import PubSubMessage
from fastapi_nova.testing import (
    WebSocketRefused,
    connect,
    nova_request,
    run_handler,
    subscribe,
)


def test_show_user_is_a_plain_function() -> None:
    req = nova_request("GET", "/api/users/1", bindings={"id": "1"})
    alice = {"id": 1, "name": "Alice"}
    assert getting_started.show_user(req) == ("json", alice)


def test_token_auth_is_a_plain_function_too() -> None:
    good = nova_request("GET", "/api/whoami", headers={"x-token": "secret-bob"})
    assert security_nova.token_auth(good) == (True, {"user": "bob"})
    assert security_nova.token_auth(nova_request())[0] is False


def test_http_through_the_app() -> None:
    with TestClient(getting_started.app) as client:
        assert client.get("/api/users/2").json() == {"id": 2, "name": "Bob"}
        assert client.get("/api/users/3").status_code == 404


@pytest.mark.anyio
async def test_echo_through_the_app() -> None:
    async with connect(ws_echo.app, "/ws", timeout=2) as ws:
        await ws.send_text("hi")
        assert await ws.receive_text() == "Echo: hi"


@pytest.mark.anyio
async def test_echo_handler_alone() -> None:
    async with run_handler(ws_echo.EchoHandler, timeout=2) as ws:
        await ws.send_bytes(b"abc")
        assert await ws.receive_bytes() == b"cba"


@pytest.mark.anyio
async def test_an_upgrade_without_a_ticket_is_refused() -> None:
    with pytest.raises(WebSocketRefused) as refused:
        async with connect(security_websocket.app, "/greet"):
            pass
    assert refused.value.status == 401


@pytest.mark.anyio
async def test_announce_reaches_the_room() -> None:
    async with subscribe("room:lobby", timeout=2) as probe:
        req = nova_request(
            "POST",
            "/rooms/lobby/announce",
            bindings={"room": "lobby"},
            json={"text": "hi"},
        )
        assert await pubsub_rooms.announce(req) == ("status", 202)
        message = await probe.receive()
    assert message == PubSubMessage(
        "nova_pubsub", "room:lobby", None, "announce", "hi"
    )
