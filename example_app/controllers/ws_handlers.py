"""The guide's WebSocket handlers: an echo, and a chat over ``nova_pubsub``."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi_nova import NovaRequest, NovaWebSocket, PubSubUnavailable, pubsub

logger = logging.getLogger("example_app.chat")

State = dict[str, Any]


class EchoHandler(NovaWebSocket):
    """``/ws``: answers every text frame with ``"Echo: " + msg``."""

    def websocket_handle(self, frame: Any, state: State) -> Any:
        match frame:
            case ("text", msg):
                return ("reply", ("text", "Echo: " + msg), state)
        return ("ok", state)


class ChatHandler(NovaWebSocket):
    """``/chat``: every text frame goes to everyone in the ``chat`` channel, on every node."""

    async def init(self, state: State) -> Any:
        await pubsub.join("chat")
        return ("ok", state)

    async def websocket_handle(self, frame: Any, state: State) -> Any:
        match frame:
            case ("text", msg):
                try:
                    await pubsub.broadcast("chat", "message", msg)
                except PubSubUnavailable:
                    # Redis is away: say so and keep the connection; the next message may pass.
                    logger.warning("chat message not sent: pub/sub is unavailable")
                    return ("reply", ("text", "* not sent: chat is unavailable, try again"), state)
        return ("ok", state)

    def websocket_info(self, info: Any, state: State) -> Any:
        match info:
            case ("nova_pubsub", "chat", _sender, "message", msg):
                return ("reply", ("text", msg), state)
        return ("ok", state)


def chat_members(req: NovaRequest) -> tuple[Literal["json"], dict[str, Any]]:
    """``GET /chat/members``: the chat's members on every node (``pubsub.get_members``)."""
    members = pubsub.get_members("chat")
    local = pubsub.get_local_members("chat")
    return (
        "json",
        {
            "members": sorted(f"{pid.node}/{pid.id}" for pid in members),
            "local": len(local),
        },
    )
