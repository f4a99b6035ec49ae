"""Outliving a pub/sub outage: catch PubSubUnavailable, fall back to this
process.
"""

import logging
from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRouter, NovaWebSocket, PubSubUnavailable, pubsub

logger = logging.getLogger("docs.outage")


class AlertsHandler(NovaWebSocket):
    async def init(self, state: dict[str, Any]) -> Any:
        await pubsub.join("alerts")
        return ("ok", state)

    async def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        if frame[0] != "text":
            return ("ok", state)
        try:
            await pubsub.broadcast("alerts", "alert", frame[1])
        except PubSubUnavailable:
            # The backend is away: other nodes miss this one, this process
            # still gets it.
            logger.warning(
                "pub/sub is unavailable; alert delivered on this node only"
            )
            await pubsub.local_broadcast("alerts", "alert", frame[1])
            return ("reply", ("text", "(delivered on this node only)"), state)
        return ("ok", state)

    def websocket_info(self, info: Any, state: dict[str, Any]) -> Any:
        match info:
            case ("nova_pubsub", "alerts", _sender, "alert", text):
                return ("reply", ("text", f"alert: {text}"), state)
        return ("ok", state)


routes = [
    {"prefix": "", "routes": [("/alerts", AlertsHandler, {"protocol": "ws"})]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
