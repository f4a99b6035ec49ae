"""An app for tests/test_hardening.py's real-uvicorn checks (sendfile of length 0)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket

#: A file of 10 bytes, written when the app is imported (in the uvicorn child).
DATA = Path(tempfile.mkdtemp(prefix="nova-hardening-")) / "data.bin"
DATA.write_bytes(b"0123456789")


def empty(req: NovaRequest) -> Any:
    return ("sendfile", 200, {}, (3, 0, str(DATA)), "application/octet-stream")


def a_slice(req: NovaRequest) -> Any:
    return ("sendfile", 200, {}, (2, 3, str(DATA)), "application/octet-stream")


class Echo(NovaWebSocket):
    """Echoes every frame (the raw-socket WebSocket fuzz test's peer)."""

    def websocket_handle(self, frame: Any, state: Any) -> Any:
        match frame:
            case ("text", "raise"):
                raise ValueError("raise")
            case ("text" | "binary", _):
                return ("reply", frame, state)
        return ("ok", state)


#: The largest message /ws accepts (small, so the fuzz test reaches it cheaply).
FRAME_LIMIT = 1024

app = FastAPI()
ROUTES = [
    ("/empty", empty),
    ("/slice", a_slice),
    ("/ws", Echo, {"protocol": "ws", "max_frame_size": FRAME_LIMIT}),
]
app.include_router(NovaRouter([{"routes": ROUTES}]))
