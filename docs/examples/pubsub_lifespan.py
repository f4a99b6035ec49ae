"""Pub/sub in lifespan code: give the lifespan to the router.

The router runs it inside pub/sub: started before, stopped after.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRouter, NovaWebSocket, pubsub

#: Seconds between two ticks of the clock.
TICK = 0.05


async def clock() -> None:
    tick = 0
    while True:
        tick += 1
        await pubsub.broadcast("clock", "tick", tick)
        await asyncio.sleep(TICK)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Runs after the router has started pub/sub, and ends before it stops it.
    ticking = asyncio.create_task(clock())
    yield
    ticking.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticking
    await pubsub.broadcast("clock", "stopped", None)  # pub/sub is still up here


class ClockHandler(NovaWebSocket):
    async def init(self, state: dict[str, Any]) -> Any:
        await pubsub.join("clock")
        return ("ok", state)

    def websocket_info(self, info: Any, state: dict[str, Any]) -> Any:
        match info:
            case ("nova_pubsub", "clock", _sender, "tick", tick):
                return ("reply", ("text", f"tick {tick}"), state)
        return ("ok", state)


routes = [
    {"prefix": "", "routes": [("/clock", ClockHandler, {"protocol": "ws"})]},
]

app = FastAPI()
app.include_router(NovaRouter(routes, lifespan=lifespan))
