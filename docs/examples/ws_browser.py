"""A socket browsers keep open: a heartbeat and the shipped client."""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRouter, NovaWebSocket, browser_client_path

HEARTBEAT = "nova:heartbeat"  # any text your handler never needs to see


class Shout(NovaWebSocket):
    def websocket_handle(self, frame: Any, state: Any) -> Any:
        match frame:  # the heartbeat never gets here: the runtime answers it
            case ("text", text):
                return ("reply", ("text", text.upper()), state)
        return ("ok", state)


routes = [
    {"prefix": "", "security": False, "routes": [
        ("/", "ws_browser.html"),  # the page below
        # The client, shipped in the package:
        ("/js/nova-socket.js", browser_client_path()),
        ("/shout", Shout, {
            "protocol": "ws",
            "heartbeat": HEARTBEAT,  # echoed by the runtime; counts as activity
            "idle_timeout": 60,      # the page sends a heartbeat every 20 s
        }),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
