"""FastAPI habits on Nova routes, for the live test (``uvicorn tests.apps.citizens_app:app``).

A Nova-style security function that declares its scheme and raises ``HTTPException``, a
``response_model`` route, a Server-Sent Events route, a WebSocket route behind the same
security, and the AsyncAPI document served at ``/asyncapi.json``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.security import HTTPBearer
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket, get_asyncapi, security_scheme


class UserOut(BaseModel):
    id: int
    name: str


class Tick(BaseModel):
    n: int


class Whoami(NovaWebSocket):
    """Replies to every text frame with who security let in."""

    def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        return ("reply", ("text", state["auth_data"]["user"]), state)


@security_scheme(HTTPBearer())
def bearer(req: NovaRequest) -> Any:
    header = req.headers.get("authorization") or ""
    if not header and "token" in req.parsed_qs:  # browsers cannot set headers on sockets
        header = f"Bearer {req.parsed_qs['token']}"
    if not header.startswith("Bearer "):
        return (False, {"www-authenticate": "Bearer"})
    if header != "Bearer good":
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    return (True, {"user": "ann"})


def show(req: NovaRequest) -> Any:
    return ("json", {"id": 1, "name": "ann", "password_hash": "x"})


async def ticks(count: int = 2) -> AsyncIterable[Tick]:
    for n in range(count):
        yield Tick(n=n)


app = FastAPI(title="citizens")
app.include_router(
    NovaRouter(
        [
            {
                "security": bearer,
                "routes": [
                    ("/me", show, {"methods": ["get"], "response_model": UserOut}),
                    ("/ticks", ticks, {"methods": ["get"], "response_class": EventSourceResponse}),
                    ("/ws", Whoami, {"protocol": "ws"}),
                ],
            }
        ]
    )
)


@app.get("/asyncapi.json", include_in_schema=False)
def asyncapi() -> dict[str, Any]:
    return get_asyncapi(app)
