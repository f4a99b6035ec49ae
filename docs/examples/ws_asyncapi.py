"""Serve the AsyncAPI document of the WebSocket routes at /asyncapi.json."""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import CallbackReturn, NovaRouter, NovaWebSocket, get_asyncapi


class Room(NovaWebSocket):
    """A chat room: every text frame is echoed back with the room's name."""

    def init(self, state: Any) -> CallbackReturn:
        return ("ok", {**state, "room": state["req"].bindings["room"]})

    def websocket_handle(self, frame: Any, state: Any) -> CallbackReturn:
        return ("reply", [("text", f"{state['room']}: {frame[1]}")], state)


app = FastAPI(title="Chat", version="1.0")
app.include_router(NovaRouter([
    {"prefix": "/rooms", "routes": [("/:room", Room, {"protocol": "ws"})]},
]))


@app.get("/asyncapi.json", include_in_schema=False)
def asyncapi() -> dict[str, Any]:
    return get_asyncapi(app)
