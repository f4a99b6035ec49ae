"""The guide's WebSocket handlers: an echo, and a chat over ``nova_pubsub``."""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Literal

from fastapi_nova import NovaRequest, NovaWebSocket, PubSubUnavailable, pubsub

logger = logging.getLogger("example_app.chat")

State = dict[str, Any]

#: What the chat page's NovaSocket sends to stay inside idle_timeout; the runtime answers it
#: (the route's ``heartbeat`` option), so ChatHandler never sees it.
CHAT_HEARTBEAT = "nova:heartbeat"


def _idle_timeout() -> float:
    raw = os.environ.get("NOVA_CHAT_IDLE_TIMEOUT", "60")
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(
            f"NOVA_CHAT_IDLE_TIMEOUT must be a positive number of seconds, got {raw!r}"
        )
    return value


#: Seconds a chat connection may stay silent (``$NOVA_CHAT_IDLE_TIMEOUT``, default 60; the
#: browser tests make it short). The page's heartbeat interval is a third of it.
CHAT_IDLE_TIMEOUT = _idle_timeout()

# An author name: 1-32 letters, digits, spaces, '-', '_' or '.' (no ':', which separates
# the author from the text in a chat line).
_NAME = re.compile(r"[\w .-]{1,32}")


class EchoHandler(NovaWebSocket):
    """``/ws``: answers every text frame with ``"Echo: " + msg``."""

    def websocket_handle(self, frame: Any, state: State) -> Any:
        match frame:
            case ("text", msg):
                return ("reply", ("text", "Echo: " + msg), state)
        return ("ok", state)


class ChatHandler(NovaWebSocket):
    """``/chat?name=ann``: every text frame goes to everyone in the ``chat`` channel, on every node.

    With a ``name`` the line is ``"ann: text"``; without one, the text as sent. A name that is
    not 1-32 letters, digits, spaces, ``-``, ``_`` or ``.`` refuses the upgrade (403).
    """

    async def init(self, state: State) -> Any:
        name = state["req"].parsed_qs.get("name", "").strip()
        if name and not _NAME.fullmatch(name):
            logger.info("chat: refused the name %r", name[:40])
            return ("stop", state)
        await pubsub.join("chat")
        return ("ok", {**state, "name": name})

    async def websocket_handle(self, frame: Any, state: State) -> Any:
        match frame:
            case ("text", msg):
                line = f"{state['name']}: {msg}" if state["name"] else msg
                try:
                    await pubsub.broadcast("chat", "message", line)
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
