"""The connection runtime: one WebSocket connection run as an Erlang-like process.

`_serve_websocket` takes a connection from the origin check to `terminate`; the
contract (callback order, reasons, close codes) is in `fastapi_nova.websocket`.

How it runs, and why it is built this way (issue 11: the cost per message is what a fan-out to
thousands of sockets pays thousands of times, and what an echo pays per frame):

* One task per connection. It awaits the ASGI receive itself (below Starlette's `WebSocket`,
  whose state it keeps), so a frame costs one task switch, as in a plain Starlette endpoint,
  and one coroutine less. Every receive implementation we run under (uvicorn's
  websockets-sansio and wsproto protocols, Starlette's and our test clients) is a queue get,
  safe to cancel: that is how the connection is ended from outside (below), and a frame it
  could lose then is one the ending connection would not have handled anyway.
* Callbacks of one connection never overlap: whoever runs one holds the connection's `busy`
  flag. The connection task holds it from a frame until the mailbox is drained again.
* A mailbox message for an idle connection (not busy: its task waits in receive) runs at once,
  in the deliverer's turn of the loop (`_arrived`): the deliverer drives the coroutine that
  runs `websocket_info` and sends its reply, step by step, until it either finishes (the
  usual case: the socket was writable, so nothing suspended) or suspends (a send held back
  by the client, a callback that awaits). Only then is the rest of it continued in a task. A
  pub/sub fan-out to K idle sockets thus runs K callbacks and K sends in one turn, like a
  bare send loop, with no task, future or wake-up per member. This eager run is used only for
  a sync `websocket_info` (an `async def` one may use task-bound helpers such as
  `asyncio.timeout`, which a run started in the deliverer's task would break), and only one
  level deep: a callback that itself delivers to idle connections starts tasks for them, so
  no call stack grows with a chain of fan-outs. A run's callbacks see the connection's pid as
  `fastapi_nova.self()`, as the task's callbacks do.
* Messages that arrive while busy wait in the mailbox (that is what `mailbox_size` bounds)
  and are drained, in order, by whoever holds `busy` when its callback returns. A frame
  that arrives while a mailbox run holds `busy` waits for it on a future; the run hands `busy`
  over between two messages, so a stream of messages cannot starve the socket.
* Ending from outside the task (`idle_timeout`, `send_timeout`, `on_overflow="close"`, a
  mailbox callback that crashed or returned stop) sets the reason and cancels the task
  wherever it waits (receive, a send, its turn), and the run if it is blocked in a send; the
  task then ends the connection as always: close frame, `terminate` exactly once,
  `pid.exit()`.
* `idle_timeout` and `send_timeout` are each one lazily re-armed timer per connection: a
  timer that fires early (the clock was reset since it was armed) re-arms itself for the new
  deadline, so neither a frame nor a send touches the timer heap.
* A send that cannot make progress (the client stopped reading, the server's buffers are full)
  and a mailbox overflow under `on_overflow="close"` are acted on when they happen: the
  sender is interrupted inside the blocked send and the connection is dropped without a close
  frame (the socket would not take one). Then the mailbox, the memberships and the task are
  released; the server closes the TCP connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import math
from collections.abc import Awaitable, Coroutine, Generator, Mapping
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from fastapi_nova._fastapi_compat import websocket_channels
from fastapi_nova.errors import (
    FrameTooLargeError,
    InvalidCallbackReturn,
    SendTimeoutError,
    _InvalidReturn,
)
from fastapi_nova.mailbox import _Mailbox
from fastapi_nova.origin import _origin_allowed
from fastapi_nova.pid import _current, _reset_current, _set_current, _spawn
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


#: What a connection that is ending leaves in `_abort`, so that nothing interrupts it later
#: and no mailbox run hands `busy` back (see `_release`).
_ENDED = _End("normal", None)


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


_FACTS: dict[type[NovaWebSocket], tuple[str, bool]] = {}


def _handler_facts(handler_cls: type[NovaWebSocket]) -> tuple[str, bool]:
    """The handler's name for logs, and whether its mailbox runs may start eagerly."""
    # Once per handler class, not once per connection.
    facts = _FACTS.get(handler_cls)
    if facts is None:
        name = f"{handler_cls.__module__}.{handler_cls.__qualname__}"
        eager = not inspect.iscoroutinefunction(handler_cls.websocket_info)
        facts = _FACTS[handler_cls] = (name, eager)
    return facts


#: True while a mailbox run is being driven eagerly on this loop's thread: a run it causes
#: (its callback delivers to another idle connection) starts as a task instead, so the
#: depth of nested runs is one, whatever the chain of fan-outs.
_eager_running = False


async def _resume(run: Coroutine[Any, Any, None], step: Any) -> None:
    """Continue, as a task's coroutine, a mailbox run that suspended while driven eagerly."""
    await _Resumed(run, step)


class _Resumed:
    """An awaitable that hands a task the future a suspended coroutine yielded, then keeps
    driving that coroutine: the task sleeps on that future (it carries
    `_asyncio_future_blocking`), and cancellation is thrown into the coroutine."""

    __slots__ = ("run", "step")

    def __init__(self, run: Coroutine[Any, Any, None], step: Any) -> None:
        self.run = run
        self.step = step

    def __await__(self) -> Generator[Any, Any, None]:
        run, step = self.run, self.step
        self.step = None
        while True:
            try:
                value = yield step
            except BaseException as exc:  # thrown in by the task: a cancellation
                try:
                    step = run.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    step = run.send(value)
                except StopIteration:
                    return


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
        "_context",
        "_idle_due",
        "_idle_timer",
        "_runner",
        "_receive",
        "_send",
        "_send_timer",
        "_sending",
        "_task",
        "_turn",
        "busy",
        "eager",
        "handler",
        "handler_cls",
        "loop",
        "mailbox",
        "name",
        "options",
        "pid",
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
        self.name, self.eager = _handler_facts(handler_cls)
        self.state: Any = None
        #: True while a callback of this connection runs (or the connection ends): a message
        #: that arrives then waits in the mailbox for whoever holds it.
        self.busy = True
        #: The task continuing a mailbox run that suspended (or a run started as a task).
        self._runner: asyncio.Task[None] | None = None
        #: Completed by a mailbox run when it is done: the frame the task holds may run.
        self._turn: asyncio.Future[None] | None = None
        #: Set when a timer, the mailbox or a mailbox run decided that the connection ends;
        #: the task is then cancelled wherever it waits and ends with this.
        self._abort: _End | None = None
        #: loop.time() when the send in progress started; None while not sending.
        self._sending: float | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        #: The idle timer fired while a mailbox run held `busy`: it is checked on release.
        self._idle_due = False
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
            on_message=self._arrived,
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
            # The ASGI channels themselves, below Starlette's WebSocket: one coroutine less per
            # frame and per send, and one frame less kept per waiting connection (issue 11);
            # _on_frame and _apply keep the WebSocket's state as its own methods would.
            self._receive, self._send = websocket_channels(self.ws) or (
                self.ws.receive,
                self.ws.send,
            )
            try:
                end = await self._apply(first)
                if end is None:
                    end = await self._act(
                        "websocket_init", self._call("websocket_init", self.state)
                    )
                if end is None:
                    end = await self._loop()
            except asyncio.CancelledError as exc:
                self.busy = True  # nothing starts any more
                abort = self._abort
                task = self._task
                if abort is None or task is None or task.uncancel() > 0:
                    if abort is None:  # a mailbox run we end now must not hand busy back
                        self._abort = _ENDED
                    await self._after_cancel(("error", exc), (1001, ""))
                    raise
                end = abort  # our own interruption (see _interrupt): not a cancellation
            except Exception as exc:  # a fault of ours or the server's: still end cleanly
                _logger.exception("%s: connection loop failed; closing with 1011", self.name)
                end = _End(("error", exc), (1011, ""))
            finally:
                self.busy = True
                if self._abort is None:  # so that no timer or run can interrupt us now
                    self._abort = _ENDED
                self._stop_timers()
            try:
                await self._settle()
                await self._close(end.close)
            except asyncio.CancelledError:
                await self._after_cancel(end.reason, None)
                raise
            await self._terminate(end.reason)
        finally:
            self.busy = True
            self._stop_timers()
            self.mailbox.close()
            self.pid.exit()

    async def _loop(self) -> _End:
        receive = self._receive
        idle = self.options.idle_timeout
        loop = self.loop
        mailbox = self.mailbox
        waiting = mailbox.waiting
        # The context mailbox runs start from (see _arrived): the connection's own, with what
        # init and websocket_init set, as one Erlang process's dictionary would be.
        self._context = contextvars.copy_context()
        self.since = loop.time()
        while True:  # one connection's lifetime; we hold busy at the top of each turn
            took_mail = bool(waiting) or mailbox.overflowed
            if took_mail:
                end = await self._take_mail()
                if end is not None:
                    return end
            if idle != math.inf:
                self._idle_due = False
                # `since` was read just now unless mailbox callbacks ran in between.
                if took_mail and loop.time() >= self.since + idle:
                    return _End("timeout", (1000, "idle timeout"))
                if self._idle_timer is None:
                    self._arm_idle(self.since + idle)
            self.busy = False  # from here a message runs at once (see _arrived)
            message = await receive()
            if self.busy:  # a mailbox run holds it: the frame waits until the run is done
                turn = self._turn = loop.create_future()
                await turn
            else:
                self.busy = True
            action = self._on_frame(message)
            if not isinstance(action, tuple):
                end = await self._act("websocket_handle", action)
            elif action[2] or action[0] == "stop":
                end = await self._apply(action)
            else:
                end, self.state = None, action[1]  # ("ok", state): no coroutine at all
            if end is not None:
                return end
            self.since = loop.time()

    async def _take_mail(self) -> _End | None:
        """Run `websocket_info` for the waiting messages, in order, while holding busy."""
        mailbox = self.mailbox
        waiting = mailbox.waiting
        while True:
            if mailbox.overflowed:
                return self._overflow_end((1013, "mailbox overflow"))
            if not waiting or self._turn is not None:  # empty, or a frame waits its turn
                return None
            action = self._call("websocket_info", mailbox.pop(), self.state)
            if not isinstance(action, tuple):
                end = await self._act("websocket_info", action)
            elif action[2] or action[0] == "stop":
                end = await self._apply(action)
            else:
                end, self.state = None, action[1]  # ("ok", state): no coroutine at all
            if end is not None:
                return end

    # -- mailbox runs: a message for an idle connection runs at once ------------------------

    def _arrived(self) -> None:
        # The mailbox's on_message hook, on the loop, after a message was queued.
        if self.busy:
            return  # whoever holds busy drains the mailbox before letting go
        self.busy = True
        global _eager_running
        # The run gets a context of its own: a copy of the connection's (as its callbacks left
        # it by the end of websocket_init), never the deliverer's. What the run sets never
        # reaches the deliverer, and its continuation keeps it.
        context = self._context.copy()
        run = self._run()
        if _eager_running or not self.eager:
            self._runner = self.loop.create_task(run, context=context)
            return
        _eager_running = True
        try:
            step = context.run(run.send, None)
        except StopIteration:
            return  # done within this turn: no task, no loop turn
        finally:
            _eager_running = False
        self._runner = self.loop.create_task(_resume(run, step), context=context)

    async def _run(self) -> None:
        # Drain the mailbox for an idle connection, then let go of busy. Never raises: the
        # deliverer must not see a callback's failure, only this connection ends.
        try:
            end = await self._take_mail()
        except asyncio.CancelledError:
            end = None  # interrupted (see _interrupt): the connection task ends it
        except Exception as exc:  # a fault of ours: the connection ends, nothing else
            _logger.exception("%s: mailbox run failed; closing with 1011", self.name)
            end = _End(("error", exc), (1011, ""))
        self._runner = None
        if end is not None:
            self._interrupt(end)
        self._release()

    def _release(self) -> None:
        if self._abort is not None:
            return  # the connection ends: busy stays set, nothing more starts
        turn = self._turn
        if turn is not None:  # a frame waits: busy passes to the connection task
            self._turn = None
            turn.set_result(None)
            return
        self.busy = False
        if self._idle_due:
            self._idle_due = False
            if self._idle_timer is None:
                self._idle_fired()

    async def _settle(self) -> None:
        # A mailbox run still going (interrupted in a send, or we are being shut down) ends
        # before close and terminate: callbacks never overlap, terminate included.
        runner = self._runner
        if runner is not None:
            runner.cancel()
            await asyncio.wait((runner,))

    # -- timers: one per connection each, re-armed lazily ----------------------------------

    def _arm_idle(self, when: float) -> None:
        self._idle_timer = self.loop.call_at(when, self._idle_fired, context=_TIMER_CONTEXT)

    def _idle_fired(self) -> None:
        self._idle_timer = None
        deadline = self.since + self.options.idle_timeout
        if self.loop.time() < deadline:
            self._arm_idle(deadline)
        elif self.busy:
            # A callback runs: the connection task checks the clock before it reads again,
            # and a mailbox run checks this flag when it lets go of busy.
            self._idle_due = True
        else:
            self._interrupt(_End("timeout", (1000, "idle timeout")))

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
        # Called by the mailbox the moment it overflows. A sender blocked in a send would only
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
        # End the connection from outside its task: wherever the task waits (receive, a send,
        # its turn) it is cancelled and ends with `end`; a mailbox run blocked in a send is
        # cancelled too. A run calling this finishes its turn first (it does not await).
        if self._abort is None and self._task is not None:
            self._abort = end
            self.busy = True
            self._task.cancel()
            runner = self._runner
            if runner is not None and runner is not asyncio.current_task():
                runner.cancel()

    def _stop_timers(self) -> None:
        for timer in (self._idle_timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._send_timer = None
        self._sending = None

    # -- callbacks ---------------------------------------------------------------------------

    def _on_frame(self, message: Mapping[str, Any]) -> _Action | _End | Awaitable[Any]:
        """What one received message asks for: websocket_handle's call, or an end."""
        kind = message["type"]
        if kind != "websocket.receive":
            if kind != "websocket.disconnect":  # what Starlette's WebSocket.receive refuses
                raise RuntimeError(f"unexpected ASGI message {kind!r} on a connected WebSocket")
            self.ws.client_state = WebSocketState.DISCONNECTED
            return _End(("remote", int(message.get("code") or 1005)), None)
        text = message.get("text")
        # len(text) bounds the UTF-8 size from below and 4 * len(text) from above: most text
        # frames are judged here without a call.
        if text is None or 4 * len(text) > self.options.max_frame_size:
            size = _too_large(message, self.options.max_frame_size)
            if size is not None:
                error = FrameTooLargeError(size, self.options.max_frame_size)
                _logger.warning("%s: %s; closing with 1009", self.name, error)
                return _End(("error", error), (1009, "message too big"))
        if text is not None and text == self.options.heartbeat:
            # Answered here, not by the handler: the client's keep-alive (see heartbeat).
            return ("ok", self.state, (("text", text),))
        frame: _InFrame = ("text", text) if text is not None else ("binary", message["bytes"])
        return self._call("websocket_handle", frame, self.state)

    async def _act(self, callback: str, action: _Action | _End | Awaitable[Any]) -> _End | None:
        """Carry out what `_call` gave for `callback`: await it, send replies, or end."""
        # The per-message paths (_loop, _take_mail) call this only for an awaitable or an end:
        # ("ok", state) costs them no coroutine and a reply only _apply's. Every coroutine
        # object is an allocation the collector tracks, and a fan-out makes thousands at once.
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
        """Call one callback; failures become an _End."""
        action = self._call(callback, *args)
        if isinstance(action, _End | tuple):
            return action
        return await self._finish(callback, action)

    def _call(self, callback: str, *args: Any) -> _Action | _End | Awaitable[Any]:
        """Run a callback's synchronous part: its parsed return, an _End, or its awaitable."""
        # The pid is made current around each callback, not once for the task's life: a
        # context variable set for good costs every connection ~300 bytes. A mailbox run has
        # its own context (see _arrived), where _call sets it like anywhere else.
        # The ContextVar's own methods, not pid's wrappers: this runs for every message.
        token = _current.set(self.pid) if _current.get() is not self.pid else None
        try:
            result = getattr(self.handler, callback)(*args)
        except (Exception, asyncio.CancelledError) as exc:
            if _cancelled(exc):
                raise
            return self._crashed(callback, exc)
        finally:
            if token is not None:
                _current.reset(token)
        if not isinstance(result, tuple) and inspect.isawaitable(result):
            return result
        return self._parse(callback, result)

    async def _finish(self, callback: str, awaitable: Awaitable[Any]) -> _Action | _End:
        """Await an `async def` callback's awaitable with this connection's pid current."""
        token = _current.set(self.pid) if _current.get() is not self.pid else None
        try:
            result = await awaitable
        except (Exception, asyncio.CancelledError) as exc:
            if _cancelled(exc):
                raise
            return self._crashed(callback, exc)
        finally:
            if token is not None:
                _current.reset(token)
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
        for frame in frames:
            # Data frames go to the ASGI send directly; a close through the WebSocket, which
            # records that the application closed.
            send: Send
            if frame[0] == "close":
                send = self.ws.send
                message = {"type": "websocket.close", "code": frame[1], "reason": frame[2]}
            elif frame[0] == "text":
                send = self._send
                message = {"type": "websocket.send", "text": frame[1]}
            else:
                send = self._send
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
                return _End(("remote", exc.code), None)
            except OSError:  # the server's (uvicorn: ClientDisconnected), as Starlette maps it
                self.ws.application_state = WebSocketState.DISCONNECTED
                return _End(("remote", 1006), None)
            finally:
                self._sending = None
            if frame[0] == "close":
                return _End("normal", None)
        if kind == "stop":
            return _End("normal", (1000, ""))
        return None

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
            await self._settle()
            await self._close(close)
            await self._terminate(reason)

    async def _deny(self, status: int) -> None:
        await _deny_upgrade(self.ws, Response(status_code=status))
