"""An app mixing what the routes CLI must show: several NovaRouters, prefixes, wildcards,
routes without ``methods``, static directories, status pages, plain FastAPI routes, a mount."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, WebSocket
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi.staticfiles import StaticFiles

from fastapi_nova import NovaRequest, NovaRouter

HERE = Path(__file__).parent
api_key = APIKeyHeader(name="x-api-key")


def files(req: NovaRequest) -> Any:
    return ("json", req.pathinfo)


def anything(req: NovaRequest) -> Any:
    return ("status", 204)


def server_error(req: NovaRequest) -> Any:
    return ("json", 500, {}, {"error": "oops"})


def not_found(req: NovaRequest) -> Any:
    return ("json", 404, {}, {"error": "nope"})


first = NovaRouter(
    [
        {
            "prefix": "",
            "security": False,
            "routes": [
                ("/files/[...]", files, {"methods": ["get"]}),
                ("/any", anything),
                ("/assets", HERE / "alt_templates"),
                (500, server_error, {}),
                (404, not_found, {}),
            ],
        }
    ]
)
second = NovaRouter(
    [{"prefix": "", "security": False, "routes": [("/hook", anything, {"methods": ["post"]})]}]
)
third = NovaRouter(
    [{"prefix": "", "security": False, "routes": [("/ping", anything, {"methods": ["get"]})]}]
)

app = FastAPI()
app.include_router(first, prefix="/v1")
# The inclusion's HTTP Bearer scheme secures the otherwise public /hook.
app.include_router(second, dependencies=[Depends(HTTPBearer())])
app.include_router(third)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.delete("/items/{item_id}")
def delete_item(item_id: int, key: Annotated[str, Depends(api_key)]) -> None:
    return None


@app.websocket("/plain-ws")
async def plain_ws(websocket: WebSocket) -> None:
    await websocket.close()


app.mount("/media", StaticFiles(directory=HERE / "templates"), name="media")
