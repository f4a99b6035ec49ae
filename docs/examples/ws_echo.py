"""The echo handler: every text frame comes back as "Echo: " + text."""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRouter, NovaWebSocket


class EchoHandler(NovaWebSocket):
    def init(self, state: dict[str, Any]) -> Any:
        return ("ok", state)  # accept the upgrade

    def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        match frame:
            case ("text", msg):
                return ("reply", ("text", "Echo: " + msg), state)
            case ("binary", data):
                return ("reply", ("binary", data[::-1]), state)
        return ("ok", state)

    def websocket_info(self, info: Any, state: dict[str, Any]) -> Any:
        return ("ok", state)


routes = [
    {"prefix": "", "security": False, "routes": [
        ("/ws", EchoHandler, {"protocol": "ws"}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
