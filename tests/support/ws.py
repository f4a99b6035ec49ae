"""Drive Starlette's TestClient WebSocket sessions with a timeout on every receive.

``WebSocketTestSession.receive()`` waits forever, so a handler bug would hang the suite, and
``__enter__``, ``receive_text()`` and the denial parsing all go through it. :func:`connect`
returns a session whose ``receive`` reads the same stream (``_send_rx``) inside
``anyio.fail_after`` on the session's portal: a missing message fails with ``TimeoutError``.
"""

from __future__ import annotations

import warnings
from typing import Any

import anyio
from starlette.exceptions import StarletteDeprecationWarning
from starlette.types import Message

with warnings.catch_warnings():
    # Starlette 1.x warns at import time when it finds httpx instead of httpx2; pytest turns
    # warnings into errors, and the warning is about the test client's transport, not us.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession

__all__ = [
    "TIMEOUT",
    "TestClient",
    "TimeoutSession",
    "WebSocketDenialResponse",
    "connect",
    "denied_status",
    "expect_close",
]

#: Seconds any single expected message may take before the test fails.
TIMEOUT = 5.0


class TimeoutSession(WebSocketTestSession):
    """A TestClient WebSocket session whose every receive gives up after ``timeout`` seconds."""

    timeout: float = TIMEOUT

    def receive(self) -> Message:
        """The next ASGI message the app sent, or ``TimeoutError``."""
        timeout = self.timeout

        async def _receive() -> Message:
            with anyio.fail_after(timeout):
                return await self._send_rx.receive()

        return self.portal.call(_receive)


def connect(
    client: TestClient, path: str, *, timeout: float = TIMEOUT, **kwargs: Any
) -> TimeoutSession:
    """``client.websocket_connect(path, **kwargs)`` with a timeout on every receive."""
    plain = client.websocket_connect(path, **kwargs)
    session = TimeoutSession(plain.app, plain.scope, plain.portal_factory)
    session.timeout = timeout
    return session


def expect_close(session: WebSocketTestSession) -> tuple[int, str]:
    """The next message, which must be the app's close: ``(code, reason)``."""
    message = session.receive()
    assert message["type"] == "websocket.close", message
    return int(message.get("code", 1000)), str(message.get("reason") or "")


def denied_status(client: TestClient, path: str, **kwargs: Any) -> int:
    """Open ``path`` expecting a refused upgrade; the HTTP status of the denial response."""
    try:
        with connect(client, path, **kwargs):
            pass
    except WebSocketDenialResponse as denial:
        return int(denial.status_code)
    raise AssertionError(f"the upgrade of {path} was accepted")
