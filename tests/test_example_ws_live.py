"""The example app's WebSockets on a real uvicorn (``memory://`` pub/sub): echo and chat."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx2 as httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.servers import Server, eventually, open_raw_websocket, uvicorn_server

pytestmark = pytest.mark.slow

TIMEOUT = 5.0
T = TypeVar("T")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with uvicorn_server(
        "example_app.main:app",
        tmp_path_factory.mktemp("example-ws"),
        env={"NOVA_PUBSUB_URL": "memory://"},
    ) as running:
        yield running


def ws(server: Server, path: str) -> ClientConnection:
    url = f"{server.ws_url}{path}"
    return connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, proxy=None)


def members(server: Server) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{server.url}/chat/members", timeout=TIMEOUT).json()
    return result


def test_echo(server: Server) -> None:
    with ws(server, "/ws") as echo:
        echo.send("Hello Nova!")
        assert echo.recv(timeout=TIMEOUT) == "Echo: Hello Nova!"


def test_chat_among_three_clients(server: Server) -> None:
    with ws(server, "/chat") as a, ws(server, "/chat") as b, ws(server, "/chat") as c:
        assert eventually(lambda: members(server)["local"], lambda n: n == 3) == 3
        a.send("hi from a")
        for client in (a, b, c):  # the sender gets its own message too, as in Nova
            assert client.recv(timeout=TIMEOUT) == "hi from a"
        c.send("hi from c")
        for client in (a, b, c):
            assert client.recv(timeout=TIMEOUT) == "hi from c"
    assert eventually(lambda: members(server)["local"], lambda n: n == 0) == 0


def test_abrupt_disconnect_leaves_no_member_behind(server: Server) -> None:
    assert eventually(lambda: members(server)["local"], lambda n: n == 0) == 0
    sock = open_raw_websocket(server.port, "/chat", TIMEOUT)
    assert eventually(lambda: members(server)["local"], lambda n: n == 1) == 1
    sock.shutdown(socket.SHUT_RDWR)  # the TCP connection just goes: no close frame
    sock.close()
    assert eventually(lambda: members(server)["local"], lambda n: n == 0) == 0
    assert members(server)["members"] == []


def test_chat_page_is_served(server: Server) -> None:
    page = httpx.get(f"{server.url}/chat.html", timeout=TIMEOUT)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'new NovaSocket("/chat?name="' in page.text


def test_server_log_has_no_errors(server: Server, tmp_path: Path) -> None:
    with ws(server, "/chat") as client:
        client.send("one more")
        assert client.recv(timeout=TIMEOUT) == "one more"
    log = server.log()
    assert "Traceback" not in log and "ERROR" not in log, log
