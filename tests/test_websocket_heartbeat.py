"""The ``heartbeat`` WebSocket route option: the runtime answers the client's keep-alive.

A text frame exactly equal to the route's ``heartbeat`` string is echoed by the runtime, never
reaches ``websocket_handle``, and counts as client activity for ``idle_timeout``. Everything
else (other text, binary frames, the heartbeat string with the option off) is the handler's.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from fastapi_nova import NovaWebSocket, WebSocketOptions
from fastapi_nova.connection import _serve_websocket
from tests.support.ws import TestClient, connect, expect_close

HEARTBEAT = "__ping__"


class Frames(NovaWebSocket):
    """Echoes every frame it is given as ``handled: ...`` and records it."""

    seen: list[Any]
    lock = threading.Lock()

    def websocket_handle(self, frame: Any, state: Any) -> Any:
        with self.lock:
            type(self).seen.append(frame)
        match frame:
            case ("text", text):
                return ("reply", ("text", "handled: " + text), state)
            case ("binary", data):
                return ("reply", ("binary", b"handled: " + data), state)
        return ("ok", state)


def handler() -> type[Frames]:
    return type("RecordingFrames", (Frames,), {"seen": []})


def client(handler_cls: type[NovaWebSocket], **options: Any) -> TestClient:
    opts = WebSocketOptions(**options)

    async def endpoint(websocket: WebSocket) -> None:
        await _serve_websocket(websocket, handler_cls, state={}, options=opts)

    return TestClient(Starlette(routes=[WebSocketRoute("/ws", endpoint)]))


def test_heartbeat_is_echoed_and_never_reaches_the_handler() -> None:
    cls = handler()
    with connect(client(cls, heartbeat=HEARTBEAT), "/ws") as ws:
        ws.send_text(HEARTBEAT)
        assert ws.receive_text() == HEARTBEAT
        ws.send_text("hello")
        assert ws.receive_text() == "handled: hello"
        ws.send_bytes(HEARTBEAT.encode())  # binary is never a heartbeat
        assert ws.receive_bytes() == b"handled: " + HEARTBEAT.encode()
        ws.send_text(HEARTBEAT + " ")  # only the exact string is
        assert ws.receive_text() == "handled: " + HEARTBEAT + " "
    assert cls.seen == [("text", "hello"), ("binary", b"__ping__"), ("text", "__ping__ ")]


def test_without_the_option_the_same_text_is_an_ordinary_frame() -> None:
    cls = handler()
    with connect(client(cls), "/ws") as ws:
        ws.send_text(HEARTBEAT)
        assert ws.receive_text() == "handled: " + HEARTBEAT
    assert cls.seen == [("text", HEARTBEAT)]


def test_heartbeats_keep_an_idle_reader_open_past_idle_timeout() -> None:
    idle = 0.5
    with connect(client(handler(), heartbeat=HEARTBEAT, idle_timeout=idle), "/ws") as ws:
        started = time.monotonic()
        for _ in range(8):  # 0.8 s of heartbeats only, one every 0.1 s: longer than idle
            ws.send_text(HEARTBEAT)
            assert ws.receive_text() == HEARTBEAT
            time.sleep(0.1)  # the gap between heartbeats is the thing under test
        assert time.monotonic() - started > idle
        ws.send_text("still here")
        assert ws.receive_text() == "handled: still here"
        # When the heartbeats stop, the idle timeout applies as before.
        assert expect_close(ws) == (1000, "idle timeout")


def test_heartbeat_option_defaults_to_off_and_is_validated() -> None:
    assert WebSocketOptions().heartbeat is None
    options = WebSocketOptions.from_route_options({"protocol": "ws", "heartbeat": "ping"})
    assert options.heartbeat == "ping"
    for bad in ("", 1, b"ping", ["ping"]):
        with pytest.raises(ValueError, match=r"heartbeat must be None or a non-empty str, got "):
            WebSocketOptions.from_route_options({"protocol": "ws", "heartbeat": bad})


@settings(
    max_examples=40, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=20), heartbeat=st.text(min_size=1, max_size=8))
def test_any_text_is_either_the_heartbeat_echo_or_the_handlers(text: str, heartbeat: str) -> None:
    cls = handler()
    with connect(client(cls, heartbeat=heartbeat), "/ws") as ws:
        ws.send_text(text)
        answer = ws.receive_text()
        ws.send_text(heartbeat)  # the connection is still up and still answers heartbeats
        assert ws.receive_text() == heartbeat
    if text == heartbeat:
        assert (answer, cls.seen) == (heartbeat, [])
    else:
        assert (answer, cls.seen) == ("handled: " + text, [("text", text)])
