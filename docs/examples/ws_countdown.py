"""State, timers and terminate: a countdown that ticks with send_after."""

import logging
from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRouter, NovaWebSocket

logger = logging.getLogger("docs.countdown")
ended: list[Any] = []  # terminate reasons, read by the tests


class CountdownHandler(NovaWebSocket):
    def init(self, state: dict[str, Any]) -> Any:
        start = state["req"].bindings["start"]  # "/countdown/:start"
        if not start.isdigit():
            return ("stop", state)  # refuse the upgrade: HTTP 403
        return ("ok", {**state, "left": int(start), "timer": None})

    def websocket_init(self, state: dict[str, Any]) -> Any:
        # Runs right after the connection is accepted; it may reply.
        state["timer"] = self.send_after(0.01, "tick")
        return ("reply", ("text", f"starting at {state['left']}"), state)

    def websocket_info(self, info: Any, state: dict[str, Any]) -> Any:
        if info != "tick":
            return ("ok", state)
        state["left"] -= 1
        if state["left"] == 0:
            frames = [("text", "liftoff"), ("close", 1000, "done")]
            return ("reply", frames, state)
        state["timer"] = self.send_after(0.01, "tick")
        return ("reply", ("text", str(state["left"])), state)

    def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        if frame == ("text", "abort") and state["timer"] is not None:
            state["timer"].cancel()  # the pending tick is never delivered
            return ("stop", state)  # close 1000
        return ("ok", state)

    def terminate(self, reason: Any, state: dict[str, Any]) -> None:
        logger.info("countdown ended: %r with %d left", reason, state["left"])
        ended.append(reason)


routes = [
    {"prefix": "", "routes": [
        ("/countdown/:start", CountdownHandler, {"protocol": "ws"}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
