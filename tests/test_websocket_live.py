"""fastapi_nova.websocket against a real uvicorn on 127.0.0.1 (``tests/apps/ws_app.py``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.servers import Server, open_raw_websocket, uvicorn_server

pytestmark = pytest.mark.slow

TIMEOUT = 5.0


# The connection reads and writes the ASGI channels itself (_fastapi_compat.websocket_channels),
# so both of uvicorn's WebSocket protocols are served: the default and wsproto.
@pytest.fixture(scope="module", params=["websockets-sansio", "wsproto"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    tmp_path: Path = tmp_path_factory.mktemp("ws-live")
    args = ("--ws", request.param)
    with uvicorn_server("tests.apps.ws_app:app", tmp_path, args=args) as running:
        yield running


def endings(server: Server, count: int) -> list[dict[str, Any]]:
    """The server's recorded endings once there are ``count`` (long-poll, bounded)."""
    response = httpx.get(
        f"{server.url}/endings", params={"count": count, "timeout": TIMEOUT}, timeout=TIMEOUT + 5
    )
    events: list[dict[str, Any]] = response.json()
    assert len(events) >= count, events
    return events


def ws_connect(server: Server, **kwargs: Any) -> Any:
    return connect(
        f"{server.ws_url}/echo", open_timeout=TIMEOUT, close_timeout=TIMEOUT, proxy=None, **kwargs
    )


def test_echo(server: Server) -> None:
    before = len(endings(server, 0))
    same_host = f"http://127.0.0.1:{server.port}"
    with ws_connect(server, origin=same_host) as ws:
        ws.send("hello")
        assert ws.recv(timeout=TIMEOUT) == "hello"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01"
    events = endings(server, before + 2)[before:]
    assert [e["event"] for e in events] == ["terminate", "exit"]
    assert events[0]["reason"] == "('remote', 1000)"


def test_abrupt_disconnect_terminates_and_exits(server: Server) -> None:
    before = len(endings(server, 0))
    sock = open_raw_websocket(server.port, "/echo", TIMEOUT)
    sock.shutdown(socket.SHUT_RDWR)  # TCP close, no close frame
    sock.close()
    events = endings(server, before + 2)[before:]
    assert [e["event"] for e in events] == ["terminate", "exit"]
    # uvicorn reports a connection lost without a close frame as 1005 (its sansio and wsproto
    # protocols; uvicorn PR #1753); its legacy "websockets" protocol says 1006.
    assert events[0]["reason"] in ("('remote', 1005)", "('remote', 1006)")
    assert "Traceback" not in server.log()


def test_foreign_origin_is_refused_with_403_quietly(server: Server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        with ws_connect(server, origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    log = server.log()
    assert '"WebSocket /echo" 403' in log
    assert "ERROR" not in log and "Traceback" not in log


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        # The mailbox overflows while the task is blocked sending: acted on at once.
        ("/feed-close", "'overflow'"),
        # Nothing overflows (drop_oldest), but the send makes no progress for send_timeout.
        ("/feed-timeout", "('error', SendTimeoutError("),
    ],
)
def test_a_reader_that_stops_reading_a_paced_feed_is_cut_off(
    server: Server, path: str, reason: str
) -> None:
    before = len(endings(server, 0))
    sock = open_raw_websocket(server.port, path, TIMEOUT)
    try:
        # Never read: the server's buffers fill and its send blocks. Before issue 8 item 2 the
        # connection stayed blocked as long as the client liked, with a full mailbox.
        events = endings(server, before + 2)[before:]
    finally:
        sock.close()
    assert [e["event"] for e in events] == ["terminate", "exit"], events
    assert events[0]["reason"].startswith(reason), events
    assert "Traceback" not in server.log()
