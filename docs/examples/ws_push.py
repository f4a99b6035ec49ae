"""Pushing to a connection from anywhere: its pid, and fastapi_nova.send."""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket, Pid, send

# Who is connected, by name. A plain dict is enough: callbacks run on the
# event loop.
online: dict[str, Pid] = {}


class InboxHandler(NovaWebSocket):
    def init(self, state: dict[str, Any]) -> Any:
        online[state["req"].bindings["user"]] = self.pid
        return ("ok", state)

    def websocket_info(self, info: Any, state: dict[str, Any]) -> Any:
        match info:
            case ("notify", text):
                return ("reply", ("text", text), state)
        return ("ok", state)

    def terminate(self, reason: Any, state: dict[str, Any]) -> None:
        online.pop(state["req"].bindings["user"], None)


def notify(req: NovaRequest) -> Any:
    pid = online.get(req.bindings["user"])
    if pid is None:
        return ("status", 404, {}, {"error": "not connected"})
    match req.json:  # a body of another shape is a 400, never a 500
        case {"text": str(text)}:
            # Plain and non-blocking, like Erlang's !
            send(pid, ("notify", text))
            return ("status", 202)
    return ("status", 400, {}, {"error": 'expected a JSON body {"text": ...}'})


routes = [
    {"prefix": "", "routes": [
        ("/inbox/:user", InboxHandler, {"protocol": "ws"}),
        ("/notify/:user", notify, {"methods": ["post"]}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
