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
            raise ValueError("a bug")  # close 1011, terminate(("error", exc), state)
        if frame == ("text", "bad return"):
            return "ok"  # not a callback return: also 1011
        return ("reply", ("text", "fine"), state)


routes = [
    {"prefix": "", "routes": [
        ("/upload", UploadHandler, {
            "protocol": "ws",
            "idle_timeout": 30,            # seconds without a frame (default 60)
            "max_frame_size": 64 * 1024,   # bytes of one message (default 1 MiB): 1009
            "allowed_origins": ["https://app.example.com"],  # default: the request's host
            "mailbox_size": 100,           # messages waiting for websocket_info (default 1024)
            "on_overflow": "drop_oldest",  # or "close" (default, 1013) or "drop_newest"
            "send_timeout": 10,            # seconds a send may stall (default 30): dropped
        }),
        ("/buggy", BuggyHandler, {"protocol": "ws", "idle_timeout": 0.2}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
