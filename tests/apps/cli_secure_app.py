"""An app the CLI audit finds nothing to warn about (``audit --strict`` exits 0)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, WebSocket
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket

api_key = APIKeyHeader(name="x-api-key")


def token(req: NovaRequest) -> Any:
    """Nova-style security: a bearer token."""
    return req.headers.get("authorization") == "Bearer secret"


def basic(credentials: Annotated[HTTPBasicCredentials, Depends(HTTPBasic())]) -> Any:
    """FastAPI-style security."""
    return credentials.password == "secret"


def show(req: NovaRequest) -> Any:
    return ("json", {"id": req.bindings["id"]})


def create(req: NovaRequest) -> Any:
    return ("json", req.json)


def home(req: NovaRequest) -> Any:
    return ("status", 200)


class Feed(NovaWebSocket):
    pass


def routes(environment: str) -> list[dict[str, Any]]:
    return [
        {"prefix": "", "security": False, "routes": [("/", home, {"methods": ["get"]})]},
        {
            "prefix": "/api",
            "security": token,
            "routes": [
                ("/items/:id", show, {"methods": ["get", "delete"]}),
                ("/items", create, {"methods": ["post", "put", "patch"]}),
                ("/feed", Feed, {"protocol": "ws"}),
            ],
        },
        {"prefix": "/admin", "security": basic, "routes": [("/any", home)]},
    ]


app = FastAPI()
app.include_router(NovaRouter(routes))


@app.post("/plain")
def plain_post(key: Annotated[str, Depends(api_key)]) -> dict[str, str]:
    return {"ok": key}


@app.websocket("/plain-ws")
async def plain_ws(websocket: WebSocket, key: Annotated[str, Depends(api_key)]) -> None:
    await websocket.close()
