"""WebSocket handlers: Nova's `nova_websocket` behaviour, one Erlang-like process per connection.

This module is the contract and the front of four modules with one concept each:
`fastapi_nova.websocket_handler` (the base class and its return forms),
`fastapi_nova.websocket_options` (route options), `fastapi_nova.origin` (the Origin
check) and `fastapi_nova.connection` (the runtime that runs one connection).

A handler is a `NovaWebSocket` subclass; `_serve_websocket` runs one connection
(the router calls it for a `(path, Handler, {"protocol": "ws", ...})` route once the group's
security passed). Callbacks may be `def` or `async def`; sync callbacks run on the event
loop, in order, so they must not block (use `async def` for I/O).

Sequence: origin check (HTTP 403 when refused), `init(state)` *before* the upgrade is accepted
(`("stop", state)` refuses with HTTP 403; a raise or an invalid return answers HTTP 500 and is
logged), accept, frames that `init` replied, `websocket_init(state)`, then incoming frames
(`websocket_handle`) and mailbox messages (`websocket_info`) one at a time: callbacks of one
connection never run concurrently. `self.pid` names the connection:
`fastapi_nova.send(pid, msg)` (any code, any thread) and `self.send_after(seconds, msg)` feed
`websocket_info`.

Callback returns: `("ok", state)`, `("ok", state, "hibernate")`, `("reply", frames, state)`,
`("reply", frames, state, "hibernate")`, `("stop", state)`, where `frames` is one frame or a
list. `"hibernate"` is accepted for Nova compatibility and means exactly what `"ok"` means.
Outgoing frames: `("text", str)`, `("binary", bytes)`, `("close",)`, `("close", code)`,
`("close", code, reason)`; frames after a close frame in the same reply are not sent.
Incoming frames are `("text", str)` and `("binary", bytes)` only: ASGI servers answer pings
themselves and deliver no ping/pong events, so unlike cowboy there are no ping/pong frames.

`terminate(reason, state)` runs exactly once for every connection that was accepted (a refused
upgrade never calls it), with the latest state; an exception in it is logged. Afterwards
`self.pid.exit()` runs however the connection ended, refused upgrades included, so pub/sub
memberships taken in `init` are always released. Reasons and the close code we send:

* `"normal"`: we stopped (`("stop", state)` returned: close 1000; or a close frame was
  replied: that frame).
* `("remote", code)`: the client closed or vanished; `code` is what the server reports
  (uvicorn says 1005 for a TCP close without a close frame, 1012 on its own shutdown).
* `("error", exc)`: a callback raised `exc` or returned an invalid value
  (`InvalidCallbackReturn`): close 1011 (a `CancelledError` a callback raises while
  the connection itself is not cancelled counts as raising). A message over `max_frame_size`
  (`FrameTooLargeError`): close 1009. The task was cancelled
  (`asyncio.CancelledError`, e.g. a hard server shutdown): close 1001 if still possible.
* `"timeout"`: no frame arrived for `idle_timeout` seconds: close 1000, as cowboy does.
  With the `heartbeat` option, a text frame equal to it is answered with itself here, counts
  as a frame, and never reaches `websocket_handle` (the browser client's keep-alive).
* `"overflow"`: the mailbox was full under `on_overflow="close"`: close 1013; when the
  connection was blocked sending to a client that stopped reading, it is dropped at once
  without a close frame (the socket would not take one).
* `("error", SendTimeoutError)`: one send made no progress for `send_timeout` seconds
  (the client stopped reading): the connection is dropped without a close frame.

Refusals use the ASGI WebSocket denial response. A server without that extension gets a close
before accept instead, which ASGI servers must answer with HTTP 403 (so a refused `init` that
should be a 500 is a 403 there).
"""

from __future__ import annotations

from fastapi_nova.errors import FrameTooLargeError, InvalidCallbackReturn, SendTimeoutError
from fastapi_nova.mailbox import TimerRef
from fastapi_nova.websocket_handler import CallbackReturn, NovaWebSocket
from fastapi_nova.websocket_options import WebSocketOptions

__all__ = [
    "CallbackReturn",
    "FrameTooLargeError",
    "InvalidCallbackReturn",
    "NovaWebSocket",
    "SendTimeoutError",
    "TimerRef",
    "WebSocketOptions",
]
