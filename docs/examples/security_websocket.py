"""Security on a WebSocket route: it runs on the upgrade request, before the
handler exists.
"""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket


def ticket(req: NovaRequest) -> Any:
    name = req.parsed_qs.get("ticket")
    if not name:
        return False  # the upgrade is refused with HTTP 401
    return (True, {"user": name})


class GreetHandler(NovaWebSocket):
    def websocket_init(self, state: dict[str, Any]) -> Any:
        # What security returned is in state["auth_data"].
        return ("reply", ("text", f"hello {state['auth_data']['user']}"), state)


routes = [
    {"prefix": "", "security": ticket, "routes": [
        ("/greet", GreetHandler, {"protocol": "ws"}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
