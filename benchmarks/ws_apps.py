"""The server apps ``bench_ws.py`` runs under uvicorn, side by side; one module so they match.

Each app serves ``/fan`` (a WebSocket that receives the fan-out), ``/echo`` (a WebSocket that
answers every text frame with itself), ``POST /publish`` (stamps ``time.monotonic()`` into
one message and fans it out to every ``/fan`` socket; answers when the publish call returned)
and ``GET /gc`` (collections and the time spent in them since the previous ``GET /gc``, via
``gc.callbacks``).

* ``bare``: plain Starlette; ``/publish`` is the bare send loop
  ``for ws in sockets: await ws.send_text(msg)``; ``/echo`` is ``receive_text``/``send_text``.
* ``fastapi_plain``: the same bare loop and echo as FastAPI WebSocket routes.
* ``broadcaster``: plain Starlette and broadcaster's ``memory://`` with one subscription per
  socket, read by a task per socket (broadcaster's own chat example).
* ``nova``: a ``NovaRouter`` app: ``/fan`` is a ``NovaWebSocket`` that joins the channel in
  ``init`` and replies each pub/sub message's payload; ``/publish`` calls
  ``pubsub.broadcast``. The pub/sub URL comes from ``$NOVA_PUBSUB_URL`` (memory:// or redis://).
  ``nova_frozen`` is the same app calling ``gc.freeze()`` at the end of start-up.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from broadcaster import Broadcast
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fastapi_nova import NovaRouter, NovaWebSocket, pubsub

CHANNEL = "bench"
#: A long idle_timeout keeps the idle timer in play without closing a quiet benchmark socket.
IDLE_TIMEOUT = 3600

_gc = {"collections": 0, "gen2": 0, "seconds": 0.0, "max": 0.0}
_gc_started = [0.0]


def _gc_timer(phase: str, info: dict[str, Any]) -> None:
    # Garbage collection pauses everything; these totals tell whether p99 stalls are GC.
    if phase == "start":
        _gc_started[0] = time.perf_counter()
        return
    spent = time.perf_counter() - _gc_started[0]
    _gc["collections"] += 1
    _gc["gen2"] += info["generation"] == 2
    _gc["seconds"] += spent
    _gc["max"] = max(_gc["max"], spent)


gc.callbacks.append(_gc_timer)


async def gc_stats(request: Request) -> JSONResponse:
    """The collections since the previous call (which the benchmark makes before publishing)."""
    stats = dict(_gc)
    _gc.update(collections=0, gen2=0, seconds=0.0, max=0.0)
    return JSONResponse(stats)


def _stamp() -> str:
    return f"{time.monotonic():.6f}"


# -- bare Starlette ------------------------------------------------------------------------

_bare_sockets: set[WebSocket] = set()


async def _bare_fan(websocket: WebSocket) -> None:
    await websocket.accept()
    _bare_sockets.add(websocket)
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        _bare_sockets.discard(websocket)


async def _plain_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


async def _bare_publish(request: Request) -> Response:
    message = _stamp()
    for websocket in list(_bare_sockets):
        try:
            await websocket.send_text(message)
        except WebSocketDisconnect:
            pass
    return Response("ok")


bare = Starlette(
    routes=[
        WebSocketRoute("/fan", _bare_fan),
        WebSocketRoute("/echo", _plain_echo),
        Route("/publish", _bare_publish, methods=["POST"]),
        Route("/gc", gc_stats),
    ]
)


# -- plain FastAPI: the bare loop on FastAPI's WebSocket routes (NovaRouter's ws routes are
# FastAPI routes, so this row separates FastAPI's own cost per socket from ours) ----------------

fastapi_plain = FastAPI()
fastapi_plain.add_api_websocket_route("/fan", _bare_fan)
fastapi_plain.add_api_websocket_route("/echo", _plain_echo)
fastapi_plain.add_route("/publish", _bare_publish, methods=["POST"])
fastapi_plain.add_route("/gc", gc_stats)


# -- broadcaster, one subscription per socket --------------------------------------------------

_broadcast = Broadcast("memory://")


async def _bc_fan(websocket: WebSocket) -> None:
    await websocket.accept()
    async with _broadcast.subscribe(CHANNEL) as subscriber:

        async def pump() -> None:
            async for event in subscriber:  # type: ignore[union-attr]
                await websocket.send_text(event.message)

        task = asyncio.create_task(pump())
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            task.cancel()


async def _bc_publish(request: Request) -> Response:
    await _broadcast.publish(CHANNEL, _stamp())
    return Response("ok")


@asynccontextmanager
async def _bc_lifespan(app: Any) -> AsyncIterator[None]:
    await _broadcast.connect()
    try:
        yield
    finally:
        await _broadcast.disconnect()


broadcaster = Starlette(
    routes=[
        WebSocketRoute("/fan", _bc_fan),
        WebSocketRoute("/echo", _plain_echo),
        Route("/publish", _bc_publish, methods=["POST"]),
        Route("/gc", gc_stats),
    ],
    lifespan=_bc_lifespan,
)


# -- fastapi-nova --------------------------------------------------------------------------------


class Fan(NovaWebSocket):
    """Joins the channel; sends each message's payload to the client."""

    async def init(self, state: Any) -> Any:
        await pubsub.join(CHANNEL)
        return ("ok", state)

    def websocket_info(self, info: Any, state: Any) -> Any:
        return ("reply", ("text", info.payload), state)


class Echo(NovaWebSocket):
    """Answers every frame with itself."""

    def websocket_handle(self, frame: Any, state: Any) -> Any:
        return ("reply", frame, state)


_NOVA_ROUTES: Any = [
    {
        "prefix": "",
        "routes": [
            ("/fan", Fan, {"protocol": "ws", "idle_timeout": IDLE_TIMEOUT}),
            ("/echo", Echo, {"protocol": "ws", "idle_timeout": IDLE_TIMEOUT}),
        ],
    }
]


async def _nova_publish(request: Request) -> Response:
    await pubsub.broadcast(CHANNEL, "tick", _stamp())
    return Response("ok")


@asynccontextmanager
async def _freeze_after_start_up(app: Any) -> AsyncIterator[None]:
    # Everything imported and built so far lives as long as the process: move it out of the
    # collector's sight, so a full collection scans only what connections and messages made.
    gc.freeze()
    yield


def _nova_app(**fastapi_kwargs: Any) -> FastAPI:
    app = FastAPI(**fastapi_kwargs)
    app.include_router(NovaRouter(_NOVA_ROUTES))
    app.add_route("/publish", _nova_publish, methods=["POST"])
    app.add_route("/gc", gc_stats)
    return app


def _nova_app_without_policy(**fastapi_kwargs: Any) -> FastAPI:
    app = FastAPI(**fastapi_kwargs)
    try:
        app.include_router(NovaRouter(_NOVA_ROUTES, gc_policy=False))
    except TypeError:  # a --baseline checkout from before the policy: it has none to turn off
        app.include_router(NovaRouter(_NOVA_ROUTES))
    app.add_route("/publish", _nova_publish, methods=["POST"])
    app.add_route("/gc", gc_stats)
    return app


nova = _nova_app()
#: NovaRouter's garbage-collector policy off, and ``gc.freeze()`` at the end of start-up
#: instead (the remedy issue 11 suggested): the collector's thresholds stay CPython's.
nova_frozen = _nova_app_without_policy(lifespan=_freeze_after_start_up)
#: The same app with NovaRouter's garbage-collector policy turned off.
nova_no_gc_policy = _nova_app_without_policy()
