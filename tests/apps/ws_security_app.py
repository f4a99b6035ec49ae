"""A NovaRouter with WebSocket routes behind both styles of security, for live log checks.

Serve it with ``uvicorn tests.apps.ws_security_app:app``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.security import APIKeyQuery, HTTPBasic, HTTPBasicCredentials

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket

# A root handler, so any ERROR of ours reaches the server log (uvicorn configures only its own).
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


class Whoami(NovaWebSocket):
    """Replies to every text frame with what security put in the state."""

    def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        return ("reply", ("text", repr(state.get("auth_data"))), state)


def nova_token(req: NovaRequest) -> Any:
    token = req.parsed_qs.get("token")
    return (True, {"token": token}) if token == "good" else (False, 401, {"x-denied": "nova"})


api_key = APIKeyQuery(name="key", auto_error=False)


def fastapi_key(key: Annotated[str | None, Depends(api_key)]) -> Any:
    return (True, {"key": key}) if key == "good" else (False, 403, {})


basic = HTTPBasic()  # auto_error: no credentials -> FastAPI's own 401


def fastapi_basic(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> Any:
    return (True, credentials.username) if credentials.password == "pw" else False


app = FastAPI()
app.include_router(
    NovaRouter(
        [
            {
                "prefix": "/nova",
                "security": nova_token,
                "routes": [("/ws", Whoami, {"protocol": "ws"})],
            },
            {
                "prefix": "/key",
                "security": fastapi_key,
                "routes": [("/ws", Whoami, {"protocol": "ws"})],
            },
            {
                "prefix": "/basic",
                "security": fastapi_basic,
                "routes": [("/ws", Whoami, {"protocol": "ws"})],
            },
        ]
    )
)
