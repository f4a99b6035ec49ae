"""WebSocket handlers: Nova's ``nova_websocket`` behaviour, one Erlang-like process per connection.

A handler is a :class:`NovaWebSocket` subclass; :func:`serve_websocket` runs one connection
(the router calls it for a ``(path, Handler, {"protocol": "ws", ...})`` route once the group's
security passed). Callbacks may be ``def`` or ``async def``; sync callbacks run on the event
loop, in order, so they must not block (use ``async def`` for I/O).

Sequence: origin check (HTTP 403 when refused), ``init(state)`` *before* the upgrade is accepted
(``("stop", state)`` refuses with HTTP 403; a raise or an invalid return answers HTTP 500 and is
logged), accept, frames that ``init`` replied, ``websocket_init(state)``, then incoming frames
(``websocket_handle``) and mailbox messages (``websocket_info``) one at a time: callbacks of one
connection never run concurrently. ``self.pid`` names the connection: ``fastapi_nova.send(pid,
msg)`` (any code, any thread) and ``self.send_after(seconds, msg)`` feed ``websocket_info``.

Callback returns: ``("ok", state)``, ``("ok", state, "hibernate")``, ``("reply", frames, state)``,
``("reply", frames, state, "hibernate")``, ``("stop", state)``, where ``frames`` is one frame or a
list. ``"hibernate"`` is accepted for Nova compatibility and means exactly what ``"ok"`` means.
Outgoing frames: ``("text", str)``, ``("binary", bytes)``, ``("close",)``, ``("close", code)``,
``("close", code, reason)``; frames after a close frame in the same reply are not sent.
Incoming frames are ``("text", str)`` and ``("binary", bytes)`` only: ASGI servers answer pings
themselves and deliver no ping/pong events, so unlike cowboy there are no ping/pong frames.

``terminate(reason, state)`` runs exactly once for every connection that was accepted (a refused
upgrade never calls it), with the latest state; an exception in it is logged. Afterwards
``self.pid.exit()`` runs however the connection ended, refused upgrades included, so pub/sub
memberships taken in ``init`` are always released. Reasons and the close code we send:

* ``"normal"``: we stopped (``("stop", state)`` returned: close 1000; or a close frame was
  replied: that frame).
* ``("remote", code)``: the client closed or vanished; ``code`` is what the server reports
  (uvicorn says 1005 for a TCP close without a close frame, 1012 on its own shutdown).
* ``("error", exc)``: a callback raised ``exc`` or returned an invalid value
  (:class:`InvalidCallbackReturn`): close 1011 (a ``CancelledError`` a callback raises while
  the connection itself is not cancelled counts as raising). A message over ``max_frame_size``
  (:class:`FrameTooLargeError`): close 1009. The task was cancelled
  (``asyncio.CancelledError``, e.g. a hard server shutdown): close 1001 if still possible.
* ``"timeout"``: no frame arrived for ``idle_timeout`` seconds: close 1000, as cowboy does.
  With the ``heartbeat`` option, a text frame equal to it is answered with itself here, counts
  as a frame, and never reaches ``websocket_handle`` (the browser client's keep-alive).
* ``"overflow"``: the mailbox was full under ``on_overflow="close"``: close 1013.

Refusals use the ASGI WebSocket denial response. A server without that extension gets a close
before accept instead, which ASGI servers must answer with HTTP 403 (so a refused ``init`` that
should be a 500 is a 403 there).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import reprlib
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

import anyio
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from fastapi_nova.errors import NovaError
from fastapi_nova.mailbox import OVERFLOW_POLICIES, Mailbox, OverflowPolicy, TimerRef
from fastapi_nova.pid import Pid, reset_current, set_current, spawn

__all__ = [
    "CallbackReturn",
    "FrameTooLargeError",
    "InFrame",
    "InvalidCallbackReturn",
    "NovaWebSocket",
    "OutFrame",
    "TerminateReason",
    "TimerRef",
    "WebSocketOptions",
    "deny_upgrade",
    "serve_websocket",
]

logger = logging.getLogger("fastapi_nova.websocket")

TextFrame: TypeAlias = tuple[Literal["text"], str]
BinaryFrame: TypeAlias = tuple[Literal["binary"], bytes]
CloseFrame: TypeAlias = (
    tuple[Literal["close"]] | tuple[Literal["close"], int] | tuple[Literal["close"], int, str]
)
#: A frame given to ``websocket_handle``.
InFrame: TypeAlias = TextFrame | BinaryFrame
#: A frame a callback may reply.
OutFrame: TypeAlias = TextFrame | BinaryFrame | CloseFrame
#: What a callback returns: ``("ok", state)``, ``("reply", frames, state)``, ``("stop", state)``...
CallbackReturn: TypeAlias = tuple[Any, ...]
#: The first argument of ``terminate``.
TerminateReason: TypeAlias = (
    Literal["normal", "timeout", "overflow"]
    | tuple[Literal["remote"], int]
    | tuple[Literal["error"], BaseException]
)

_RETURN_FORMS = (
    "('ok', state), ('ok', state, 'hibernate'), ('reply', frames, state), "
    "('reply', frames, state, 'hibernate') or ('stop', state)"
)
_FRAME_FORMS = "('text', str), ('binary', bytes) or ('close', code, reason)"
# Codes an endpoint may put in a close frame (RFC 6455 7.4; 1005/1006/1015 are reserved).
_SENDABLE_CODES = frozenset([*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)])
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
# How long terminate may still run after the connection's task was cancelled.
_CANCEL_GRACE = 5.0
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 120


class InvalidCallbackReturn(NovaError, TypeError):
    """A WebSocket callback returned something that is not one of the documented forms."""

    def __init__(self, handler: str, callback: str, value: Any, problem: str) -> None:
        self.handler, self.callback, self.value = handler, callback, value
        super().__init__(f"{handler}.{callback} returned {_repr.repr(value)}: {problem}")


class FrameTooLargeError(NovaError, ValueError):
    """A client sent a message larger than the route's ``max_frame_size``."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"received a {size}-byte message; max_frame_size is {limit} bytes")


@dataclass(frozen=True)
class WebSocketOptions:
    """Per-route WebSocket settings (the ``{"protocol": "ws", ...}`` route options)."""

    #: Seconds without an incoming frame before the connection closes (code 1000,
    #: ``terminate("timeout")``); ``math.inf`` disables it.
    idle_timeout: float = 60.0
    #: Bytes of one message after reassembly; larger closes with 1009.
    max_frame_size: int = 1024 * 1024
    #: Browser origins allowed to connect (a list or tuple of ``scheme://host[:port]``, stored
    #: normalized): None = the request's own host only, ``"*"`` = any. Non-browser clients
    #: send no Origin and are always allowed.
    allowed_origins: tuple[str, ...] | None = None
    #: Messages that may wait in the mailbox.
    mailbox_size: int = 1024
    #: What a full mailbox does with one more message.
    on_overflow: OverflowPolicy = "close"
    #: A text frame exactly equal to this is answered with the same frame by the runtime,
    #: never reaches ``websocket_handle``, and counts as activity for ``idle_timeout``
    #: (browsers cannot send pings; the shipped browser client sends this). None: off.
    heartbeat: str | None = None

    def __post_init__(self) -> None:
        timeout = self.idle_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(
                f"idle_timeout must be a positive number of seconds (int or float), got {timeout!r}"
            )
        for name in ("max_frame_size", "mailbox_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        beat = self.heartbeat
        if beat is not None and (not isinstance(beat, str) or not beat):
            raise ValueError(f"heartbeat must be None or a non-empty str, got {beat!r}")
        if self.on_overflow not in OVERFLOW_POLICIES:
            expected = ", ".join(repr(p) for p in OVERFLOW_POLICIES)
            raise ValueError(
                f"on_overflow must be one of {expected} (str), got {self.on_overflow!r}"
            )
        origins = self.allowed_origins
        if origins is None:
            return
        if not isinstance(origins, tuple | list) or not all(isinstance(o, str) for o in origins):
            raise ValueError(
                f"allowed_origins must be a list of str origins like 'https://example.com' "
                f"or '*', got {origins!r}"
            )
        normalized = []
        for origin in origins:
            norm = origin if origin == "*" else _normalize_origin(origin, strict=True)
            if norm is None:
                raise ValueError(
                    f"allowed_origins entries must be 'scheme://host[:port]' or '*' (str), "
                    f"got {origin!r}"
                )
            normalized.append(norm)
        object.__setattr__(self, "allowed_origins", tuple(normalized))

    @classmethod
    def from_route_options(cls, options: Mapping[str, Any]) -> WebSocketOptions:
        """Build and validate from a route's options map; ``ValueError`` names the bad option."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(key) for key in options if key not in known and key != "protocol")
        if unknown:
            raise ValueError(
                f"unknown WebSocket route option(s) {', '.join(map(repr, unknown))}: "
                f"expected 'protocol', {', '.join(map(repr, known))}"
            )
        # A route table writes allowed_origins as a list; __post_init__ stores a tuple.
        return cls(**{key: options[key] for key in known if key in options})


class NovaWebSocket:
    """Base class of WebSocket handlers; one instance per connection.

    Override what you need; the defaults accept the connection and ignore frames and messages::

        class EchoHandler(NovaWebSocket):
            def websocket_handle(self, frame, state):
                match frame:
                    case ("text", msg):
                        return ("reply", ("text", "Echo: " + msg), state)
                return ("ok", state)
    """

    _nova_pid: Pid | None = None
    _nova_mailbox: Mailbox | None = None

    @property
    def pid(self) -> Pid:
        """This connection's pid: ``fastapi_nova.send(pid, msg)`` reaches ``websocket_info``."""
        if self._nova_pid is None:
            raise RuntimeError(f"{type(self).__name__} is not running in a connection")
        return self._nova_pid

    def send_after(self, seconds: float, message: Any) -> TimerRef:
        """Deliver ``message`` to ``websocket_info`` after ``seconds`` (``erlang:send_after``)."""
        if self._nova_mailbox is None:
            raise RuntimeError(f"{type(self).__name__} is not running in a connection")
        return self._nova_mailbox.send_after(seconds, message)

    def init(self, state: Any) -> CallbackReturn | Awaitable[CallbackReturn]:
        """Decide on the upgrade, before it is accepted: ``("ok", state)`` accepts."""
        return ("ok", state)

    def websocket_init(self, state: Any) -> CallbackReturn | Awaitable[CallbackReturn]:
        """Run right after the connection is accepted; may reply."""
        return ("ok", state)

    def websocket_handle(
        self, frame: InFrame, state: Any
    ) -> CallbackReturn | Awaitable[CallbackReturn]:
        """Handle one incoming frame: ``("text", str)`` or ``("binary", bytes)``."""
        return ("ok", state)

    def websocket_info(self, info: Any, state: Any) -> CallbackReturn | Awaitable[CallbackReturn]:
        """Handle one message sent to ``self.pid`` (pub/sub, ``send``, timers)."""
        return ("ok", state)

    def terminate(self, reason: TerminateReason, state: Any) -> Awaitable[None] | None:
        """Run once when an accepted connection ends, whatever the reason."""
        return None


async def serve_websocket(
    websocket: WebSocket,
    handler_cls: type[NovaWebSocket],
    *,
    state: dict[str, Any],
    options: WebSocketOptions,
) -> None:
    """Run one WebSocket connection with ``handler_cls``, from the origin check to ``terminate``.

    Never raises for anything the client or the handler does (that is logged and answered);
    cancellation still runs ``terminate`` and ``pid.exit()`` and is re-raised.
    """
    await _Connection(websocket, handler_cls, options).run(state)


# ---------------------------------------------------------------------------------------------
# Return values


@dataclass
class _Action:
    kind: Literal["ok", "reply", "stop"]
    state: Any
    frames: list[tuple[str, Any, Any]]  # normalized: ("text", str, None) / ("close", code, reason)


@dataclass
class _End:
    reason: TerminateReason
    close: tuple[int, str] | None  # None: nothing to send (the client is gone, or we closed)


class _BadReturn(Exception):
    pass


def _parse_return(value: object) -> _Action:
    if not isinstance(value, tuple) or not value or not isinstance(value[0], str):
        raise _BadReturn(f"expected {_RETURN_FORMS}")
    tag, size = value[0], len(value)
    if tag == "ok" and size in (2, 3):
        if size == 3 and value[2] != "hibernate":
            raise _BadReturn(f"the third element of 'ok' must be 'hibernate', got {value[2]!r}")
        return _Action("ok", value[1], [])
    if tag == "reply" and size in (3, 4):
        if size == 4 and value[3] != "hibernate":
            raise _BadReturn(f"the fourth element of 'reply' must be 'hibernate', got {value[3]!r}")
        frames = value[1] if isinstance(value[1], list) else [value[1]]
        return _Action("reply", value[2], [_parse_frame(frame) for frame in frames])
    if tag == "stop" and size == 2:
        return _Action("stop", value[1], [])
    raise _BadReturn(f"expected {_RETURN_FORMS}")


def _parse_frame(frame: object) -> tuple[str, Any, Any]:
    if isinstance(frame, tuple) and frame and isinstance(frame[0], str):
        kind, size = frame[0], len(frame)
        if kind == "text" and size == 2 and isinstance(frame[1], str):
            return ("text", frame[1], None)
        if kind == "binary" and size == 2 and isinstance(frame[1], bytes | bytearray | memoryview):
            return ("binary", bytes(frame[1]), None)
        if kind == "close" and 1 <= size <= 3:
            code = frame[1] if size > 1 else 1000
            reason = frame[2] if size > 2 else ""
            if isinstance(code, bool) or not isinstance(code, int) or code not in _SENDABLE_CODES:
                raise _BadReturn(
                    f"invalid close code {code!r}: expected 1000-1003, 1007-1014 or 3000-4999"
                )
            if not isinstance(reason, str) or len(reason.encode()) > 123:
                raise _BadReturn(f"close reason must be a str of at most 123 bytes, got {reason!r}")
            return ("close", code, reason)
    raise _BadReturn(f"invalid frame {_repr.repr(frame)}: expected {_FRAME_FORMS}")


# ---------------------------------------------------------------------------------------------
# Origins


def _normalize_origin(origin: str, *, strict: bool = False) -> str | None:
    """``scheme://host[:port]`` lowercased without the default port; None if not an origin."""
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if strict and (parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _same_host(origin: str, host_header: str) -> bool:
    # A Host header carries no scheme. Without a port it means the default port of whatever
    # scheme the browser used, which keeps TLS-terminating proxies (Origin https://x, Host x)
    # working; an explicit port must match the origin's.
    parts = urlsplit(origin.strip().lower())
    host = urlsplit("//" + host_header.strip().lower())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or not host.hostname:
        return False
    try:
        origin_port = parts.port or _DEFAULT_PORTS[parts.scheme]
        host_port = host.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return False
    return parts.hostname == host.hostname and origin_port == host_port


def _origin_allowed(websocket: WebSocket, allowed: tuple[str, ...] | None) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser: Origin is the browsers' cross-site signal
        return True
    if allowed is None:
        host = websocket.headers.get("host")
        return host is not None and _same_host(origin, host)
    return "*" in allowed or _normalize_origin(origin) in allowed


def _cancelled(exc: BaseException) -> bool:
    # True when exc is our task being cancelled. A callback that awaits a task someone else
    # cancelled raises CancelledError although nobody cancelled us: that is a crash of the
    # callback (close 1011), and re-raising it would end the ASGI app with a bogus cancel.
    task = asyncio.current_task()
    return isinstance(exc, asyncio.CancelledError) and (task is None or task.cancelling() > 0)


def _too_large(message: Mapping[str, Any], limit: int) -> int | None:
    """The size in bytes of a received message when it exceeds ``limit``, else None."""
    text = message.get("text")
    if text is not None:
        # len(text) bounds the UTF-8 size from below and 4 * len(text) from above, so most
        # messages are judged without encoding them.
        if len(text) <= limit and 4 * len(text) <= limit:
            return None
        size = len(text.encode("utf-8", "surrogatepass"))
    else:
        size = len(message.get("bytes") or b"")
    return size if size > limit else None


# ---------------------------------------------------------------------------------------------
# The connection


class _Connection:
    def __init__(
        self, websocket: WebSocket, handler_cls: type[NovaWebSocket], options: WebSocketOptions
    ) -> None:
        self.ws = websocket
        self.handler_cls = handler_cls
        self.options = options
        self.name = f"{handler_cls.__module__}.{handler_cls.__qualname__}"
        self.state: Any = None
        self.recv: asyncio.Task[Any] | None = None

    async def run(self, state: dict[str, Any]) -> None:
        if not _origin_allowed(self.ws, self.options.allowed_origins):
            logger.info(
                "%s: refused WebSocket upgrade from origin %r (host %r, allowed_origins %r)",
                self.name, self.ws.headers.get("origin"), self.ws.headers.get("host"),
                self.options.allowed_origins,
            )
            await self._deny(403)
            return
        self.mailbox = Mailbox(self.options.mailbox_size, self.options.on_overflow, name=self.name)
        self.pid = spawn(self.mailbox)
        try:
            await self._run(state)
        finally:
            self.mailbox.close()
            self.pid.exit()

    async def _run(self, state: dict[str, Any]) -> None:
        self.state = state
        try:
            self.handler = self.handler_cls()
        except Exception:
            logger.exception("%s: creating the handler failed; refusing with 500", self.name)
            await self._deny(500)
            return
        self.handler._nova_pid, self.handler._nova_mailbox = self.pid, self.mailbox
        first = await self._invoke("init", state)
        if isinstance(first, _End):
            await self._deny(500)
            return
        self.state = first.state
        if first.kind == "stop":
            await self._deny(403)
            return
        try:
            await self.ws.accept()
        except (OSError, WebSocketDisconnect):  # the client left during init
            return
        try:
            end = await self._converse(first)
        except asyncio.CancelledError as exc:
            await self._after_cancel(("error", exc), (1001, ""))
            raise
        except Exception as exc:  # a fault of ours or the server's: still end cleanly
            logger.exception("%s: connection loop failed; closing with 1011", self.name)
            end = _End(("error", exc), (1011, ""))
        try:
            await self._close(end.close)
        except asyncio.CancelledError:
            await self._after_cancel(end.reason, None)
            raise
        await self._terminate(end.reason)

    async def _converse(self, first: _Action) -> _End:
        end = await self._apply(first)
        if end is None:
            end = await self._dispatch("websocket_init", self.state)
        if end is None:
            end = await self._loop()
        return end

    async def _loop(self) -> _End:
        loop = asyncio.get_running_loop()
        idle = self.options.idle_timeout
        recv = self.recv = asyncio.ensure_future(self.ws.receive())
        since = loop.time()  # the idle clock runs only while we wait for the socket
        try:
            while True:  # one connection's lifetime; every branch consumes or ends
                if self.mailbox.overflowed:
                    logger.warning(
                        "%s: mailbox overflow (%d messages); closing with 1013",
                        self.name, self.options.mailbox_size,
                    )
                    return _End("overflow", (1013, "mailbox overflow"))
                if recv.done():
                    end = await self._on_receive(recv)
                    if end is not None:
                        return end
                    recv = self.recv = asyncio.ensure_future(self.ws.receive())
                    since = loop.time()
                    continue
                remaining = since + idle - loop.time()
                if remaining <= 0:
                    return _End("timeout", (1000, "idle timeout"))
                if self.mailbox:
                    end = await self._dispatch("websocket_info", self.mailbox.pop(), self.state)
                    if end is not None:
                        return end
                    continue
                await asyncio.wait(
                    (recv, self.mailbox.wait()),
                    timeout=None if math.isinf(remaining) else remaining,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            if not recv.done():
                recv.cancel()

    async def _on_receive(self, recv: asyncio.Task[Any]) -> _End | None:
        message = recv.result()
        if message["type"] == "websocket.disconnect":
            return _End(("remote", int(message.get("code") or 1005)), None)
        size = _too_large(message, self.options.max_frame_size)
        if size is not None:
            error = FrameTooLargeError(size, self.options.max_frame_size)
            logger.warning("%s: %s; closing with 1009", self.name, error)
            return _End(("error", error), (1009, "message too big"))
        text = message.get("text")
        if text is not None and text == self.options.heartbeat:
            # Answered here, not by the handler: the client's keep-alive (see heartbeat).
            try:
                await self.ws.send({"type": "websocket.send", "text": text})
            except WebSocketDisconnect as exc:
                return _End(("remote", self._remote_code(exc.code)), None)
            return None
        frame: InFrame = ("text", text) if text is not None else ("binary", message["bytes"])
        return await self._dispatch("websocket_handle", frame, self.state)

    async def _dispatch(self, callback: str, *args: Any) -> _End | None:
        action = await self._invoke(callback, *args)
        if isinstance(action, _End):
            return action
        return await self._apply(action)

    async def _invoke(self, callback: str, *args: Any) -> _Action | _End:
        """Call one callback with this connection's pid current; failures become an _End."""
        token = set_current(self.pid)
        try:
            result = getattr(self.handler, callback)(*args)
            if inspect.isawaitable(result):
                result = await result
        except (Exception, asyncio.CancelledError) as exc:
            if _cancelled(exc):
                raise
            logger.exception("%s.%s raised %r; closing with 1011", self.name, callback, exc)
            return _End(("error", exc), (1011, ""))
        finally:
            reset_current(token)
        try:
            return _parse_return(result)
        except _BadReturn as bad:
            error = InvalidCallbackReturn(self.name, callback, result, str(bad))
            logger.error("%s; closing with 1011", error)
            return _End(("error", error), (1011, ""))

    async def _apply(self, action: _Action) -> _End | None:
        self.state = action.state
        for kind, payload, reason in action.frames:
            try:
                if kind == "close":
                    await self.ws.close(payload, reason)
                    return _End("normal", None)
                key = "text" if kind == "text" else "bytes"
                await self.ws.send({"type": "websocket.send", key: payload})
            except WebSocketDisconnect as exc:  # Starlette's form of a send to a lost client
                return _End(("remote", self._remote_code(exc.code)), None)
        if action.kind == "stop":
            return _End("normal", (1000, ""))
        return None

    def _remote_code(self, fallback: int) -> int:
        # The disconnect event, when it already arrived, says how the client left.
        recv = self.recv
        if recv is not None and recv.done() and not recv.cancelled() and not recv.exception():
            message = recv.result()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code") or 1005)
        return fallback

    async def _close(self, close: tuple[int, str] | None) -> None:
        if close is None or self.ws.application_state != WebSocketState.CONNECTED:
            return
        try:
            await self.ws.close(*close)
        except Exception:  # the client is already gone; nothing left to tell it
            logger.debug("%s: sending close %r failed", self.name, close, exc_info=True)

    async def _terminate(self, reason: TerminateReason) -> None:
        token = set_current(self.pid)
        try:
            result = self.handler.terminate(reason, self.state)
            if inspect.isawaitable(result):
                await result
        except (Exception, asyncio.CancelledError) as exc:
            if _cancelled(exc):
                raise
            logger.exception("%s.terminate(%r) raised; ignored", self.name, reason)
        finally:
            reset_current(token)

    async def _after_cancel(self, reason: TerminateReason, close: tuple[int, str] | None) -> None:
        # The server (or a test client) cancelled us. Shielded and bounded, so an async
        # terminate still runs under anyio's repeated cancellation but cannot stall shutdown.
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + _CANCEL_GRACE
            await self._close(close)
            await self._terminate(reason)

    async def _deny(self, status: int) -> None:
        await deny_upgrade(self.ws, Response(status_code=status))


async def deny_upgrade(websocket: WebSocket, response: Response) -> None:
    """Refuse a WebSocket upgrade with ``response`` (the ASGI WebSocket denial response).

    A server without that extension gets a close before accept, which it answers with 403.
    """
    try:
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(response)
            # uvicorn's websockets-sansio protocol marks the handshake complete only in
            # connection_lost, which its transport.close() schedules with call_soon; returning
            # before that runs makes it log "ASGI callable returned without completing
            # handshake" at ERROR for every denial (Kludex/uvicorn PR #3138). One turn of the
            # loop lets it run first; on other servers it costs nothing.
            await asyncio.sleep(0)
        else:
            # ASGI: a close before accept is answered with HTTP 403 by the server.
            await websocket.close(1008)
    except OSError:
        logger.debug("the client left before the upgrade was refused", exc_info=True)
