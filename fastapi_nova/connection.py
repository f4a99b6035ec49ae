"""The connection runtime: one WebSocket connection run as an Erlang-like process.

`_serve_websocket` takes a connection from the origin check to `terminate`; the
contract (callback order, reasons, close codes) is in `fastapi_nova.websocket`.

How it runs, and why it is built this way (issue 11: the cost per message is what a fan-out to
thousands of sockets pays thousands of times):

* One task per connection runs every callback, so callbacks of one connection never overlap.
* It sleeps on one future only, `Mailbox.wait`. A
  message completes it directly; the connection's one long-lived socket reader (a task for
  the connection's whole life, at most two messages ahead) completes the same future when it
  hands a frame over. There is no `asyncio.wait` per message, no task per frame, and no
  timer per message.
* `idle_timeout` and `send_timeout` are each one lazily re-armed timer per connection: a
  timer that fires early (the clock was reset since it was armed) re-arms itself for the new
  deadline, so neither a frame nor a send touches the timer heap.
* A send that cannot make progress (the client stopped reading, the server's buffers are full)
  and a mailbox overflow under `on_overflow="close"` are acted on when they happen: the task is
  interrupted inside the blocked send and the connection is dropped without a close frame (the
  socket would not take one). Then the mailbox, the memberships and the task are released; the
  server closes the TCP connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import math
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Any

import anyio
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from fastapi_nova.errors import (
    FrameTooLargeError,
    InvalidCallbackReturn,
    SendTimeoutError,
    _InvalidReturn,
)
from fastapi_nova.mailbox import _Mailbox
from fastapi_nova.origin import _origin_allowed
from fastapi_nova.pid import _reset_current, _set_current, _spawn
from fastapi_nova.websocket_handler import (
    NovaWebSocket,
    _Action,
    _InFrame,
    _parse_return,
    _TerminateReason,
)
from fastapi_nova.websocket_options import WebSocketOptions

_logger = logging.getLogger(__name__)

# How long terminate may still run after the connection's task was cancelled.
_CANCEL_GRACE = 5.0
# The context our timers run in: they only wake the connection's task (which has its own), so
# they need none of the caller's, and sharing one spares a context copy per connection.
_TIMER_CONTEXT = contextvars.Context()


class _End:
    """Why the connection ends, and the close frame to send (None: the client is gone, or we
    closed already, or the socket would not take one)."""

    __slots__ = ("close", "reason")

    def __init__(self, reason: _TerminateReason, close: tuple[int, str] | None) -> None:
        self.reason = reason
        self.close = close


def _serve_websocket(
    websocket: WebSocket,
    handler_cls: type[NovaWebSocket],
    *,
    state: dict[str, Any],
    options: WebSocketOptions,
) -> Coroutine[Any, Any, None]:
    """Run one WebSocket connection with `handler_cls`, from the origin check to `terminate`.

    Await it. Never raises for anything the client or the handler does (that is logged and
    answered); cancellation still runs `terminate` and `pid.exit()` and is re-raised.
    """
    # A plain function returning the connection's coroutine: no extra frame per connection.
    return _Connection(websocket, handler_cls, options).run(state)


async def _deny_upgrade(websocket: WebSocket, response: Response) -> None:
    """Refuse a WebSocket upgrade with `response` (the ASGI WebSocket denial response).

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
        _logger.debug("the client left before the upgrade was refused", exc_info=True)


_NAMES: dict[type[NovaWebSocket], str] = {}


def _handler_name(handler_cls: type[NovaWebSocket]) -> str:
    # One string per handler class, not one per connection.
    name = _NAMES.get(handler_cls)
    if name is None:
        name = _NAMES[handler_cls] = f"{handler_cls.__module__}.{handler_cls.__qualname__}"
    return name


def _cancelled(exc: BaseException) -> bool:
    # True when exc is our task being cancelled. A callback that awaits a task someone else
    # cancelled raises CancelledError although nobody cancelled us: that is a crash of the
    # callback (close 1011), and re-raising it would end the ASGI app with a bogus cancel.
    task = asyncio.current_task()
    return isinstance(exc, asyncio.CancelledError) and (task is None or task.cancelling() > 0)


def _too_large(message: Mapping[str, Any], limit: int) -> int | None:
    """The size in bytes of a received message when it exceeds `limit`, else None."""
    text = message.get("text")
    if text is not None:
        # len(text) bounds the UTF-8 size from below and 4 * len(text) from above, so most
        # messages are judged without encoding them.
        if 4 * len(text) <= limit:
            return None
        size = len(text.encode("utf-8", "surrogatepass"))
    else:
        size = len(message.get("bytes") or b"")
    return size if size > limit else None


class _Connection:
    # Slots: thousands of these live at once, and each attribute is read per message.
    __slots__ = (
        "_abort",
        "_idle_timer",
        "_send_timer",
        "_sending",
        "_task",
        "handler",
        "frame",
        "handler_cls",
        "loop",
        "mailbox",
        "name",
        "options",
        "pid",
        "reader",
        "resume",
        "since",
        "state",
        "ws",
    )

    def __init__(
        self, websocket: WebSocket, handler_cls: type[NovaWebSocket], options: WebSocketOptions
    ) -> None:
        self.ws = websocket
        self.handler_cls = handler_cls
        self.options = options
        self.name = _handler_name(handler_cls)
        self.state: Any = None
        #: The connection's one socket reader, for its whole life (see _reader).
        self.reader: asyncio.Task[None] | None = None
        #: The message the reader received and the connection has not taken yet.
        self.frame: Mapping[str, Any] | None = None
        #: Completed by the connection when it took `frame`: the reader may read the next.
        self.resume: asyncio.Future[None] | None = None
        #: Set when a timer or the mailbox decided that the connection ends while the task was
        #: blocked in a send; the task is then cancelled and ends with this.
        self._abort: _End | None = None
        #: loop.time() when the send in progress started; None while not sending.
        self._sending: float | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self.since = 0.0  # the idle clock runs only while we wait for the socket

    async def run(self, state: dict[str, Any]) -> None:
        # One coroutine from the origin check to terminate: every level of a suspended
        # connection's await chain is a frame kept in memory and resumed per message.
        if not _origin_allowed(self.ws, self.options.allowed_origins):
            _logger.info(
                "%s: refused WebSocket upgrade from origin %r (host %r, allowed_origins %r)",
                self.name,
                self.ws.headers.get("origin"),
                self.ws.headers.get("host"),
                self.options.allowed_origins,
            )
            await self._deny(403)
            return
        self.loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self.mailbox = _Mailbox(
            self.options.mailbox_size,
            self.options.on_overflow,
            name=self.name,
            on_close_overflow=self._on_close_overflow,
        )
        self.pid = _spawn(self.mailbox)
        try:
            self.state = state
            try:
                self.handler = self.handler_cls()
            except Exception:
                _logger.exception("%s: creating the handler failed; refusing with 500", self.name)
                await self._deny(500)
                return
            self.handler._nova_pid, self.handler._nova_mailbox = self.pid, self.mailbox
            first = await self._invoke("init", state)
            if isinstance(first, _End):
                await self._deny(500)
                return
            self.state = first[1]
            if first[0] == "stop":
                await self._deny(403)
                return
            try:
                await self.ws.accept()
            except (OSError, WebSocketDisconnect):  # the client left during init
                return
            try:
                end = await self._apply(first)
                if end is None:
                    end = await self._dispatch("websocket_init", self.state)
                if end is None:
                    end = await self._loop()
            except asyncio.CancelledError as exc:
                abort = self._abort
                task = self._task
                if abort is None or task is None or task.uncancel() > 0:
                    await self._after_cancel(("error", exc), (1001, ""))
                    raise
                end = abort  # our own interruption of a blocked send: not a cancellation
            except Exception as exc:  # a fault of ours or the server's: still end cleanly
                _logger.exception("%s: connection loop failed; closing with 1011", self.name)
                end = _End(("error", exc), (1011, ""))
            finally:
                self._stop_timers()
            try:
                await self._close(end.close)
            except asyncio.CancelledError:
                await self._after_cancel(end.reason, None)
                raise
            await self._terminate(end.reason)
        finally:
            self._stop_timers()
            self.mailbox.close()
            self.pid.exit()

    async def _reader(self) -> None:
        # One task reads the socket for the connection's whole life: it hands each message
        # over in `frame` and wakes the same future the mailbox does. While the connection has
        # not taken that one, it holds at most one more (and waits on `resume`): two messages
        # ahead of the running callback at most, so a client that sends faster than the
        # handler runs is held back by the socket. A task per message (and its done-callback
        # hop) cost echo a third of its speed (issue 11); this costs one loop turn per
        # message when the connection is idle.
        receive = self.ws.receive
        try:
            while True:
                message = await receive()
                if self.frame is not None:
                    resume = self.resume = self.loop.create_future()
                    await resume
                self.frame = message
                self.mailbox.wake()
                if message["type"] == "websocket.disconnect":
                    return
        finally:
            self.mailbox.wake()  # the last message, a failure, or our own cancel

    def _wake(self, _: object = None) -> None:
        self.mailbox.wake()

    async def _loop(self) -> _End:
        mailbox = self.mailbox
        idle = self.options.idle_timeout
        reader = self.reader = self.loop.create_task(self._reader())
        self.since = self.loop.time()
        try:
            while True:  # one connection's lifetime; every branch consumes or ends
                if mailbox.overflowed:
                    return self._overflow_end((1013, "mailbox overflow"))
                message = self.frame
                if message is not None:
                    self.frame = None
                    resume = self.resume
                    if resume is not None:  # the reader holds the next message: let it go
                        self.resume = None
                        resume.set_result(None)
                    end = await self._on_receive(message)
                    if end is not None:
                        return end
                    self.since = self.loop.time()
                    continue
                if reader.done():  # it failed (receive raised): a fault, not the client's
                    reader.result()
                    raise RuntimeError("the WebSocket reader ended without a disconnect")
                if mailbox:
                    end = await self._dispatch("websocket_info", mailbox.pop(), self.state)
                    if end is not None:
                        return end
                    continue
                if idle != math.inf:
                    if self.loop.time() >= self.since + idle:
                        return _End("timeout", (1000, "idle timeout"))
                    if self._idle_timer is None:
                        self._arm_idle(self.since + idle)
                await mailbox.wait()
        finally:
            if not reader.done():
                reader.cancel()

    # -- timers: one per connection each, re-armed lazily ----------------------------------

    def _arm_idle(self, when: float) -> None:
        self._idle_timer = self.loop.call_at(when, self._idle_fired, context=_TIMER_CONTEXT)

    def _idle_fired(self) -> None:
        self._idle_timer = None
        deadline = self.since + self.options.idle_timeout
        if self.loop.time() >= deadline:
            self._wake()  # the loop sees the deadline passed and ends with "timeout"
        else:
            self._arm_idle(deadline)

    def _send_fired(self) -> None:
        self._send_timer = None
        started = self._sending
        if started is None:
            return  # not sending now: the next send arms the timer again
        timeout = self.options.send_timeout
        if self.loop.time() >= started + timeout:
            error = SendTimeoutError(timeout)
            _logger.warning("%s: %s; dropping the connection", self.name, error)
            self._interrupt(_End(("error", error), None))
        else:
            self._send_timer = self.loop.call_at(
                started + timeout, self._send_fired, context=_TIMER_CONTEXT
            )

    def _on_close_overflow(self) -> None:
        # Called by the mailbox the moment it overflows. A task blocked in a send would only
        # notice after that send, which may be never: interrupt it.
        if self._sending is not None:
            self._interrupt(self._overflow_end(None))

    def _overflow_end(self, close: tuple[int, str] | None) -> _End:
        _logger.warning(
            "%s: mailbox overflow (%d messages); %s",
            self.name,
            self.options.mailbox_size,
            "closing with 1013" if close else "dropping the connection (the client reads nothing)",
        )
        return _End("overflow", close)

    def _interrupt(self, end: _End) -> None:
        if self._abort is None and self._task is not None:
            self._abort = end
            self._task.cancel()

    def _stop_timers(self) -> None:
        for timer in (self._idle_timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._send_timer = None
        self._sending = None

    # -- callbacks ---------------------------------------------------------------------------

    async def _on_receive(self, message: Mapping[str, Any]) -> _End | None:
        if message["type"] == "websocket.disconnect":
            return _End(("remote", int(message.get("code") or 1005)), None)
        size = _too_large(message, self.options.max_frame_size)
        if size is not None:
            error = FrameTooLargeError(size, self.options.max_frame_size)
            _logger.warning("%s: %s; closing with 1009", self.name, error)
            return _End(("error", error), (1009, "message too big"))
        text = message.get("text")
        if text is not None and text == self.options.heartbeat:
            # Answered here, not by the handler: the client's keep-alive (see heartbeat).
            return await self._apply(("ok", self.state, (("text", text),)))
        frame: _InFrame = ("text", text) if text is not None else ("binary", message["bytes"])
        return await self._dispatch("websocket_handle", frame, self.state)

    async def _dispatch(self, callback: str, *args: Any) -> _End | None:
        # The per-message path: a sync callback that returns ("ok", state) creates no coroutine
        # here at all, and a reply only _apply's. Every coroutine object is an allocation the
        # garbage collector tracks, and a fan-out makes thousands at once.
        action = self._call(callback, *args)
        if isinstance(action, _End):
            return action
        if not isinstance(action, tuple):
            action = await self._finish(callback, action)
            if isinstance(action, _End):
                return action
        if action[2] or action[0] == "stop":
            return await self._apply(action)
        self.state = action[1]
        return None

    async def _invoke(self, callback: str, *args: Any) -> _Action | _End:
        """Call one callback with this connection's pid current; failures become an _End."""
        action = self._call(callback, *args)
        if isinstance(action, _End | tuple):
            return action
        return await self._finish(callback, action)

    def _call(self, callback: str, *args: Any) -> _Action | _End | Awaitable[Any]:
        """Run a callback's synchronous part: its parsed return, an _End, or its awaitable."""
        token = _set_current(self.pid)
        try:
            result = getattr(self.handler, callback)(*args)
        except (Exception, asyncio.CancelledError) as exc:
            if _cancelled(exc):
                raise
            return self._crashed(callback, exc)
        finally:
            _reset_current(token)
        if not isinstance(result, tuple) and inspect.isawaitable(result):
            return result
        return self._parse(callback, result)

    async def _finish(self, callback: str, awaitable: Awaitable[Any]) -> _Action | _End:
        """Await an `async def` callback with this connection's pid current."""
        token = _set_current(self.pid)
        try:
            result = await awaitable
        except (Exception, asyncio.CancelledError) as exc:
            if _cancelled(exc):
                raise
            return self._crashed(callback, exc)
        finally:
            _reset_current(token)
        return self._parse(callback, result)

    def _crashed(self, callback: str, exc: BaseException) -> _End:
        _logger.exception(
            "%s.%s raised %r; closing with 1011", self.name, callback, exc, exc_info=exc
        )
        return _End(("error", exc), (1011, ""))

    def _parse(self, callback: str, result: object) -> _Action | _End:
        try:
            return _parse_return(result)
        except _InvalidReturn as bad:
            error = InvalidCallbackReturn(self.name, callback, result, str(bad))
            _logger.error("%s; closing with 1011", error)
            return _End(("error", error), (1011, ""))

    async def _apply(self, action: _Action) -> _End | None:
        kind, self.state, frames = action
        send = self.ws.send
        for frame in frames:
            if frame[0] == "close":
                message = {"type": "websocket.close", "code": frame[1], "reason": frame[2]}
            elif frame[0] == "text":
                message = {"type": "websocket.send", "text": frame[1]}
            else:
                message = {"type": "websocket.send", "bytes": frame[1]}
            # Each send is bounded by send_timeout: the timer (armed at most once per
            # send_timeout, not once per send) interrupts a send that started too long ago.
            if self._send_timer is None and self.options.send_timeout != math.inf:
                self._send_timer = self.loop.call_at(
                    self.loop.time() + self.options.send_timeout,
                    self._send_fired,
                    context=_TIMER_CONTEXT,
                )
            self._sending = self.loop.time()  # read by the timer only
            try:
                await send(message)
            except WebSocketDisconnect as exc:  # Starlette's form of a send to a lost client
                return _End(("remote", self._remote_code(exc.code)), None)
            finally:
                self._sending = None
            if frame[0] == "close":
                return _End("normal", None)
        if kind == "stop":
            return _End("normal", (1000, ""))
        return None

    def _remote_code(self, fallback: int) -> int:
        # The disconnect event, when it already arrived, says how the client left.
        message = self.frame
        if message is not None:
            if message["type"] == "websocket.disconnect":
                return int(message.get("code") or 1005)
        return fallback

    async def _close(self, close: tuple[int, str] | None) -> None:
        if close is None or self.ws.application_state != WebSocketState.CONNECTED:
            return
        timeout = self.options.send_timeout
        try:
            # A client that stopped reading would hold the close frame forever.
            with anyio.move_on_after(None if timeout == math.inf else timeout):
                await self.ws.close(*close)
        except Exception:  # the client is already gone; nothing left to tell it
            _logger.debug("%s: sending close %r failed", self.name, close, exc_info=True)

    async def _terminate(self, reason: _TerminateReason) -> None:
        token = _set_current(self.pid)
        try:
            result = self.handler.terminate(reason, self.state)
            if inspect.isawaitable(result):
                await result
        except (Exception, asyncio.CancelledError) as exc:
            if _cancelled(exc):
                raise
            _logger.exception("%s.terminate(%r) raised; ignored", self.name, reason)
        finally:
            _reset_current(token)

    async def _after_cancel(self, reason: _TerminateReason, close: tuple[int, str] | None) -> None:
        # The server (or a test client) cancelled us. Shielded and bounded, so an async
        # terminate still runs under anyio's repeated cancellation but cannot stall shutdown.
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + _CANCEL_GRACE
            await self._close(close)
            await self._terminate(reason)

    async def _deny(self, status: int) -> None:
        await _deny_upgrade(self.ws, Response(status_code=status))
