"""Chat rooms over pub/sub: one channel per room, on one process or many."""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket, pubsub


class RoomHandler(NovaWebSocket):
    async def init(self, state: dict[str, Any]) -> Any:
        room = state["req"].bindings["room"]  # "/rooms/:room"
        state["channel"] = f"room:{room}"
        # This connection joins (joining twice is joining once).
        await pubsub.join(state["channel"])
        return ("ok", state)

    async def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        match frame:
            case ("text", "/leave"):
                await pubsub.leave(state["channel"])
                return ("reply", ("text", "left"), state)
            case ("text", text):
                # To every member on every node, this connection included.
                payload = {"text": text}
                await pubsub.broadcast(state["channel"], "say", payload)
        return ("ok", state)

    def websocket_info(self, info: Any, state: dict[str, Any]) -> Any:
        mine = state["channel"]
        match info:
            case ("nova_pubsub", ch, sender, "say", {"text": t}) if ch == mine:
                who = "me" if sender == self.pid else "someone"
                return ("reply", ("text", f"{who}: {t}"), state)
            case ("nova_pubsub", ch, None, "announce", t) if ch == mine:
                return ("reply", ("text", f"** {t}"), state)
        return ("ok", state)


async def announce(req: NovaRequest) -> Any:
    # From an HTTP controller: the sender is None. Nothing has checked the
    # body's shape yet (req.json is None for a form or no body): a bad one
    # is a 400, not a 500.
    match req.json:
        case {"text": str(text)}:
            channel = f"room:{req.bindings['room']}"
            await pubsub.broadcast(channel, "announce", text)
            return ("status", 202)
    return ("status", 400, {}, {"error": 'expected a JSON body {"text": ...}'})


def members(req: NovaRequest) -> Any:
    channel = f"room:{req.bindings['room']}"
    return ("json", {
        "everywhere": len(pubsub.get_members(channel)),
        "here": len(pubsub.get_local_members(channel)),
    })


routes = [
    {"prefix": "/rooms", "routes": [
        ("/:room", RoomHandler, {"protocol": "ws"}),
        ("/:room/announce", announce, {"methods": ["post"]}),
        ("/:room/members", members, {"methods": ["get"]}),
    ]},
]

app = FastAPI()
# The pub/sub URL comes from $NOVA_PUBSUB_URL, else memory://.
app.include_router(NovaRouter(routes))
