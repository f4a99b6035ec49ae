"""An echo WebSocket app for live tests; ``GET /endings`` reports how connections ended.

Serve it with ``uvicorn tests.apps.ws_app:app``. ``/echo`` uses the default options, so only
same-host browser origins may connect. ``/feed-close`` and ``/feed-timeout`` receive a paced
feed (one 64 KiB message every 2 ms from a task outside the connection, as pub/sub does) for
tests with a client that stops reading: the first under ``on_overflow="close"`` with a small
mailbox, the second under ``"drop_oldest"`` with ``send_timeout=1``.
``/endings?count=N`` waits (bounded by ``timeout``) until
N events were recorded: ``{"event": "terminate", "reason": repr}`` and ``{"event": "exit"}``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from fastapi_nova.connection import _serve_websocket
from fastapi_nova.pid import Pid, send
from fastapi_nova.websocket import NovaWebSocket, WebSocketOptions

# Give our loggers a root handler with levels, so the server log shows any ERROR we emit
# (uvicorn configures only its own loggers).
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logger = logging.getLogger(__name__)

ENDINGS: list[dict[str, Any]] = []
_waiters: set[asyncio.Future[None]] = set()


def _record(event: dict[str, Any]) -> None:
    ENDINGS.append(event)
    logger.info("%s", event)
    for waiter in _waiters:
        if not waiter.done():
            waiter.set_result(None)


class Echo(NovaWebSocket):
    """Echoes every frame; records terminate and the pid's exit."""

    def init(self, state: Any) -> Any:
        self.pid.monitor(lambda pid: _record({"event": "exit", "pid": pid.id}))
        return ("ok", state)

    def websocket_handle(self, frame: Any, state: Any) -> Any:
        return ("reply", frame, state)

    def terminate(self, reason: Any, state: Any) -> None:
        _record({"event": "terminate", "reason": repr(reason), "pid": self.pid.id})


async def echo(websocket: WebSocket) -> None:
    await _serve_websocket(websocket, Echo, state={"req": None}, options=WebSocketOptions())


#: Pids of the feed connections; the feeder task sends to each of them every FEED_PERIOD.
FEEDERS: set[Pid] = set()
FEED_PERIOD = 0.002
FEED_MESSAGE = "x" * 65536
_feeder: list[asyncio.Task[None]] = []


async def _feed() -> None:
    while FEEDERS:  # bounded: stops when the last feed connection ended
        for pid in list(FEEDERS):
            send(pid, FEED_MESSAGE)
        await asyncio.sleep(FEED_PERIOD)  # the pace of the feed is the thing under test
    _feeder.clear()


class Feed(Echo):
    """Replies every message it is sent to the client: a live feed."""

    def init(self, state: Any) -> Any:
        FEEDERS.add(self.pid)
        self.pid.monitor(FEEDERS.discard)
        if not _feeder:
            _feeder.append(asyncio.get_running_loop().create_task(_feed()))
        return super().init(state)

    def websocket_info(self, info: Any, state: Any) -> Any:
        return ("reply", ("text", info), state)


async def feed_close(websocket: WebSocket) -> None:
    options = WebSocketOptions(mailbox_size=32, on_overflow="close", send_timeout=math.inf)
    await _serve_websocket(websocket, Feed, state={"req": None}, options=options)


async def feed_timeout(websocket: WebSocket) -> None:
    options = WebSocketOptions(mailbox_size=32, on_overflow="drop_oldest", send_timeout=1.0)
    await _serve_websocket(websocket, Feed, state={"req": None}, options=options)


async def endings(request: Request) -> JSONResponse:
    count = int(request.query_params.get("count", "0"))
    timeout = min(float(request.query_params.get("timeout", "5")), 30.0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(ENDINGS) < count and loop.time() < deadline:
        waiter: asyncio.Future[None] = loop.create_future()
        _waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, deadline - loop.time())
        except TimeoutError:
            break
        finally:
            _waiters.discard(waiter)
    return JSONResponse(ENDINGS)


app = Starlette(
    routes=[
        WebSocketRoute("/echo", echo),
        WebSocketRoute("/feed-close", feed_close),
        WebSocketRoute("/feed-timeout", feed_timeout),
        Route("/endings", endings),
    ]
)
