"""WebSocket route options, and what a fault in a handler does."""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRouter, NovaWebSocket

terminated: list[Any] = []  # terminate reasons, read by the tests


class Recording(NovaWebSocket):
    def terminate(self, reason: Any, state: Any) -> None:
        terminated.append(reason)


class UploadHandler(Recording):
    def websocket_handle(self, frame: Any, state: Any) -> Any:
        return ("reply", ("text", f"got {len(frame[1])} bytes"), state)


class BuggyHandler(Recording):
    def websocket_handle(self, frame: Any, state: Any) -> Any:
        if frame == ("text", "crash"):
            # Closes with 1011 and calls terminate(("error", exc), state).
            raise ValueError("a bug")
        if frame == ("text", "bad return"):
            return "ok"  # not a callback return: also 1011
        return ("reply", ("text", "fine"), state)


routes = [
    {"prefix": "", "routes": [
        ("/upload", UploadHandler, {
            "protocol": "ws",
            # Seconds without a frame (default 60).
            "idle_timeout": 30,
            # Bytes of one message (default 1 MiB); larger closes with 1009.
            "max_frame_size": 64 * 1024,
            # Browser origins allowed (default: the request's own host).
            "allowed_origins": ["https://app.example.com"],
            # Messages waiting for websocket_info (default 1024).
            "mailbox_size": 100,
            # When full: "close" (default, 1013), "drop_oldest", "drop_newest".
            "on_overflow": "drop_oldest",
            # Seconds one send may stall (default 30); then dropped.
            "send_timeout": 10,
        }),
        ("/buggy", BuggyHandler, {"protocol": "ws", "idle_timeout": 0.2}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
