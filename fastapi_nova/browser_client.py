"""The browser client shipped with the package: `nova-socket.js`, served by a static route.

`nova-socket.js` is plain JavaScript (no build step) defining `NovaSocket`: a WebSocket
that sends the route's `heartbeat` below its `idle_timeout`, reconnects with backoff and
jitter, queues what is sent while disconnected, and has `onopen` / `onclose` /
`onmessage` hooks. It lives in `fastapi_nova/client/` and ships in the wheel.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["browser_client_path"]

#: Where the script lives inside the installed package.
_CLIENT = Path(__file__).resolve().parent / "client" / "nova-socket.js"


def browser_client_path() -> Path:
    """The path of `nova-socket.js`, for a static route in your route table.

    ```python
    {"prefix": "", "security": False, "routes": [
        ("/js/nova-socket.js", fastapi_nova.browser_client_path()),
    ]}
    ```

    The page then loads `<script src="/js/nova-socket.js"></script>` and opens
    `new NovaSocket("/chat", {heartbeat: "..."})` with the route's `heartbeat` string.
    """
    return _CLIENT
