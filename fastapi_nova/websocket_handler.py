"""The WebSocket handler base class, the callback return forms, and their parser.

A handler is a `NovaWebSocket` subclass, Nova's `nova_websocket` behaviour: one
instance per connection, callbacks that return tuples. `_parse_return` turns what a
callback returned into an `_Action` the connection runtime applies, or raises
`_InvalidReturn` with what was expected (the runtime turns that
into `InvalidCallbackReturn` and a 1011 close).
"""

from __future__ import annotations

import reprlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from fastapi_nova.errors import _InvalidReturn

if TYPE_CHECKING:  # only annotations: the runtime sets these attributes
    from fastapi_nova.mailbox import TimerRef, _Mailbox
    from fastapi_nova.pid import Pid

__all__ = [
    "CallbackReturn",
    "NovaWebSocket",
]

_TextFrame: TypeAlias = tuple[Literal["text"], str]
_BinaryFrame: TypeAlias = tuple[Literal["binary"], bytes]
_CloseFrame: TypeAlias = (
    tuple[Literal["close"]] | tuple[Literal["close"], int] | tuple[Literal["close"], int, str]
)
#: A frame given to `websocket_handle`.
_InFrame: TypeAlias = _TextFrame | _BinaryFrame
#: A frame a callback may reply.
_OutFrame: TypeAlias = _TextFrame | _BinaryFrame | _CloseFrame
CallbackReturn: TypeAlias = tuple[Any, ...]
"""What a callback returns: `("ok", state)`, `("reply", frames, state)`, `("stop", state)`..."""
#: The first argument of `terminate`.
_TerminateReason: TypeAlias = (
    Literal["normal", "timeout", "overflow"]
    | tuple[Literal["remote"], int]
    | tuple[Literal["error"], BaseException]
)
#: A parsed return: `(kind, state, frames)`; frames are `("text", str)`,
#: `("binary", bytes)` or `("close", code, reason)`. A plain tuple: one is built per message.
_Action: TypeAlias = tuple[Literal["ok", "reply", "stop"], Any, tuple[tuple[Any, ...], ...]]

_RETURN_FORMS = (
    "('ok', state), ('ok', state, 'hibernate'), ('reply', frames, state), "
    "('reply', frames, state, 'hibernate') or ('stop', state)"
)
_FRAME_FORMS = "('text', str), ('binary', bytes) or ('close', code, reason)"
# Codes an endpoint may put in a close frame (RFC 6455 7.4; 1005/1006/1015 are reserved).
_SENDABLE_CODES = frozenset([*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)])
_NO_FRAMES: tuple[tuple[Any, ...], ...] = ()
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 120


class NovaWebSocket:
    """Base class of WebSocket handlers; one instance per connection.

    Override what you need; the defaults accept the connection and ignore frames and messages:

    ```python
    class EchoHandler(NovaWebSocket):
        def websocket_handle(self, frame, state):
            match frame:
                case ("text", msg):
                    return ("reply", ("text", "Echo: " + msg), state)
            return ("ok", state)
    ```
    """

    _nova_pid: Pid | None = None
    _nova_mailbox: _Mailbox | None = None

    @property
    def pid(self) -> Pid:
        """This connection's pid: `fastapi_nova.send(pid, msg)` reaches `websocket_info`."""
        if self._nova_pid is None:
            raise RuntimeError(f"{type(self).__name__} is not running in a connection")
        return self._nova_pid

    def send_after(self, seconds: float, message: Any) -> TimerRef:
        """Deliver `message` to `websocket_info` after `seconds` (`erlang:send_after`)."""
        if self._nova_mailbox is None:
            raise RuntimeError(f"{type(self).__name__} is not running in a connection")
        return self._nova_mailbox.send_after(seconds, message)

    def init(self, state: Any) -> CallbackReturn | Awaitable[CallbackReturn]:
        """Decide on the upgrade, before it is accepted: `("ok", state)` accepts."""
        return ("ok", state)

    def websocket_init(self, state: Any) -> CallbackReturn | Awaitable[CallbackReturn]:
        """Run right after the connection is accepted; may reply."""
        return ("ok", state)

    def websocket_handle(
        self, frame: _InFrame, state: Any
    ) -> CallbackReturn | Awaitable[CallbackReturn]:
        """Handle one incoming frame: `("text", str)` or `("binary", bytes)`."""
        return ("ok", state)

    def websocket_info(self, info: Any, state: Any) -> CallbackReturn | Awaitable[CallbackReturn]:
        """Handle one message sent to `self.pid` (pub/sub, `send`, timers)."""
        return ("ok", state)

    def terminate(self, reason: _TerminateReason, state: Any) -> Awaitable[None] | None:
        """Run once when an accepted connection ends, whatever the reason."""
        return None


def _parse_return(value: object) -> _Action:
    """Check one callback return and normalize it (`_InvalidReturn` when it is not valid)."""
    if type(value) is tuple and len(value) == 2 and value[0] == "ok":
        return ("ok", value[1], _NO_FRAMES)  # the common case first
    if type(value) is tuple and len(value) == 3 and value[0] == "reply":
        frame = value[1]  # the next most common: one text frame (an echo, a fan-out)
        if type(frame) is tuple and len(frame) == 2 and frame[0] == "text":
            if type(frame[1]) is str:
                return ("reply", value[2], (frame,))
    return _parse_any_return(value)


def _parse_any_return(value: object) -> _Action:
    if not isinstance(value, tuple) or not value or not isinstance(value[0], str):
        raise _InvalidReturn(f"expected {_RETURN_FORMS}")
    tag, size = value[0], len(value)
    if tag == "ok" and size == 3:
        if value[2] != "hibernate":
            raise _InvalidReturn(f"the third element of 'ok' must be 'hibernate', got {value[2]!r}")
        return ("ok", value[1], _NO_FRAMES)
    if tag == "reply" and size in (3, 4):
        if size == 4 and value[3] != "hibernate":
            raise _InvalidReturn(
                f"the fourth element of 'reply' must be 'hibernate', got {value[3]!r}"
            )
        frames = value[1]
        if isinstance(frames, list):
            return ("reply", value[2], tuple([_parse_frame(frame) for frame in frames]))
        return ("reply", value[2], (_parse_frame(frames),))
    if tag == "stop" and size == 2:
        return ("stop", value[1], _NO_FRAMES)
    raise _InvalidReturn(f"expected {_RETURN_FORMS}")


def _parse_frame(frame: object) -> tuple[Any, ...]:
    if isinstance(frame, tuple) and frame and isinstance(frame[0], str):
        kind, size = frame[0], len(frame)
        if kind == "text" and size == 2 and isinstance(frame[1], str):
            return frame
        if kind == "binary" and size == 2 and isinstance(frame[1], bytes | bytearray | memoryview):
            return frame if type(frame[1]) is bytes else ("binary", bytes(frame[1]))
        if kind == "close" and 1 <= size <= 3:
            code = frame[1] if size > 1 else 1000
            reason = frame[2] if size > 2 else ""
            if isinstance(code, bool) or not isinstance(code, int) or code not in _SENDABLE_CODES:
                raise _InvalidReturn(
                    f"invalid close code {code!r}: expected 1000-1003, 1007-1014 or 3000-4999"
                )
            if not isinstance(reason, str) or len(reason.encode()) > 123:
                raise _InvalidReturn(
                    f"close reason must be a str of at most 123 bytes, got {reason!r}"
                )
            return ("close", code, reason)
    raise _InvalidReturn(f"invalid frame {_repr.repr(frame)}: expected {_FRAME_FORMS}")
