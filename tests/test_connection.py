"""Tests of fastapi_nova.connection's runtime: one task per connection, mailbox runs.

The connection is driven in this test's loop over a Starlette `WebSocket` whose receive and
send are queues we control, so each test can stop the world at the moment that matters (a
frame taken off the socket while a mailbox callback runs, a send that blocks) and look.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from starlette.websockets import WebSocket

from fastapi_nova.connection import _serve_websocket
from fastapi_nova.errors import SendTimeoutError
from fastapi_nova.pid import Pid, _self_pid, send
from fastapi_nova.websocket import NovaWebSocket, WebSocketOptions
from tests.support.ws import TIMEOUT

pytestmark = pytest.mark.anyio

#: A context variable the tests set in senders and receivers.
_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("_VAR", default="unset")


class Socket:
    """The server side of one WebSocket, in this loop: `incoming` feeds receive, `taken` is set
    each time the app took a message off it, and every message the app sends lands in `sent`
    (a send waits while `hold` is set to an unset event: the client stopped reading)."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming.put_nowait({"type": "websocket.connect"})
        self.taken = asyncio.Event()
        self.sent: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.hold: asyncio.Event | None = None
        scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}
        self.websocket = WebSocket(scope, self._receive, self._send)

    async def _receive(self) -> dict[str, Any]:
        message = await self.incoming.get()
        self.taken.set()
        return message

    async def _send(self, message: dict[str, Any]) -> None:
        if self.hold is not None:
            await self.hold.wait()
        self.sent.append(message)
        self.changed.set()

    def texts(self) -> list[str]:
        return [m["text"] for m in self.sent if m["type"] == "websocket.send"]

    def frame(self, text: str) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": text})

    async def until(self, count: int) -> list[str]:
        """The texts sent, once there are `count` of them."""
        with anyio.fail_after(TIMEOUT):
            while len(self.texts()) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.texts()


class Probe:
    """Records callbacks entering and leaving, and how many ran at once."""

    def __init__(self) -> None:
        self.trace: list[str] = []
        self.active = 0
        self.most = 0
        self.release = asyncio.Event()
        self.pids: list[Pid] = []
        self.terminations: list[Any] = []
        self._entered: dict[str, asyncio.Event] = {}

    def enter(self, name: str) -> None:
        self.active += 1
        self.most = max(self.most, self.active)
        self.trace.append(f"enter {name}")
        self.entered(name).set()

    def exit(self, name: str) -> None:
        self.active -= 1
        self.trace.append(f"exit {name}")

    def entered(self, name: str) -> asyncio.Event:
        return self._entered.setdefault(name, asyncio.Event())


def handler(probe: Probe, **callbacks: Any) -> type[NovaWebSocket]:
    """A handler reporting to `probe`, with the given callbacks."""

    def init(self: NovaWebSocket, state: Any) -> Any:
        probe.pids.append(self.pid)
        return ("ok", state)

    def terminate(self: NovaWebSocket, reason: Any, state: Any) -> None:
        probe.terminations.append(reason)
        probe.trace.append("terminate")

    return type("Probed", (NovaWebSocket,), {"init": init, "terminate": terminate, **callbacks})


def traced_echo(probe: Probe) -> Any:
    """A `websocket_info` that records entering and leaving in `probe` and replies with the
    message."""

    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        probe.enter(info)
        probe.exit(info)
        return ("reply", ("text", info), state)

    return websocket_info


async def start(
    handler_cls: type[NovaWebSocket], **options: Any
) -> tuple[Socket, asyncio.Task[None]]:
    socket = Socket()
    task = asyncio.create_task(
        _serve_websocket(
            socket.websocket, handler_cls, state={}, options=WebSocketOptions(**options)
        )
    )
    with anyio.fail_after(TIMEOUT):
        while not socket.sent:  # the accept
            socket.changed.clear()
            await socket.changed.wait()
    return socket, task


async def finish(socket: Socket, task: asyncio.Task[None]) -> None:
    socket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    with anyio.fail_after(TIMEOUT):
        await task


@pytest.fixture
def probe() -> Iterator[Probe]:
    yield Probe()


async def test_a_frame_taken_during_a_mailbox_callback_waits_for_it(probe: Probe) -> None:
    async def websocket_info(self: Any, info: Any, state: Any) -> Any:
        probe.enter("info")
        await probe.release.wait()
        probe.exit("info")
        return ("reply", ("text", "info"), state)

    def websocket_handle(self: Any, frame: Any, state: Any) -> Any:
        probe.enter("frame")
        probe.exit("frame")
        return ("reply", frame, state)

    socket, task = await start(
        handler(probe, websocket_info=websocket_info, websocket_handle=websocket_handle)
    )
    send(probe.pids[0], "m")
    with anyio.fail_after(TIMEOUT):
        await probe.entered("info").wait()
    socket.taken.clear()
    socket.frame("f")
    with anyio.fail_after(TIMEOUT):
        await socket.taken.wait()
    # The connection task took the frame in an earlier turn than ours: a runtime that ran
    # it at once would have entered websocket_handle by now.
    assert probe.trace == ["enter info"]
    probe.release.set()
    assert await socket.until(2) == ["info", "f"]
    assert probe.trace == ["enter info", "exit info", "enter frame", "exit frame"]
    await finish(socket, task)
    assert probe.most == 1 and probe.terminations == [("remote", 1000)]


async def test_a_message_during_a_frame_callback_waits_for_it(probe: Probe) -> None:
    async def websocket_handle(self: Any, frame: Any, state: Any) -> Any:
        probe.enter("frame")
        await probe.release.wait()
        probe.exit("frame")
        return ("reply", frame, state)

    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        probe.enter("info")
        probe.exit("info")
        return ("reply", ("text", info), state)

    socket, task = await start(
        handler(probe, websocket_info=websocket_info, websocket_handle=websocket_handle)
    )
    socket.frame("f")
    with anyio.fail_after(TIMEOUT):
        await probe.entered("frame").wait()
    send(probe.pids[0], "m")  # an idle connection would run it right here, in our turn
    assert probe.trace == ["enter frame"]
    probe.release.set()
    assert await socket.until(2) == ["f", "m"]
    assert probe.trace == ["enter frame", "exit frame", "enter info", "exit info"]
    await finish(socket, task)
    assert probe.most == 1


async def test_a_sync_websocket_info_runs_and_replies_in_the_senders_turn(probe: Probe) -> None:
    seen: list[Pid | None] = []

    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        seen.append(_self_pid())
        return ("reply", ("text", info), state)

    socket, task = await start(handler(probe, websocket_info=websocket_info))
    pid = probe.pids[0]
    send(pid, "now")
    # No await in between: the callback ran and its reply went out inside send().
    assert socket.texts() == ["now"] and seen == [pid]
    assert _self_pid() is None  # the sender's own context is untouched
    await finish(socket, task)


async def test_an_async_websocket_info_runs_in_a_task_of_its_own(probe: Probe) -> None:
    tasks: list[asyncio.Task[Any] | None] = []

    async def websocket_info(self: Any, info: Any, state: Any) -> Any:
        tasks.append(asyncio.current_task())
        return ("reply", ("text", info), state)

    socket, task = await start(handler(probe, websocket_info=websocket_info))
    send(probe.pids[0], "later")
    assert socket.texts() == []  # not driven in our turn: it may use task-bound helpers
    assert await socket.until(1) == ["later"]
    assert tasks[0] is not asyncio.current_task() and tasks[0] is not task
    await finish(socket, task)


async def test_a_blocked_send_continues_in_a_task_and_later_messages_keep_their_order(
    probe: Probe,
) -> None:
    socket, task = await start(handler(probe, websocket_info=traced_echo(probe)))
    socket.hold = asyncio.Event()  # the client stops reading
    pid = probe.pids[0]
    send(pid, "1")  # runs at once and blocks in its send: the rest goes on in a task
    send(pid, "2")
    send(pid, "3")
    assert probe.trace == ["enter 1", "exit 1"] and socket.texts() == []
    socket.hold.set()
    assert await socket.until(3) == ["1", "2", "3"]
    await finish(socket, task)
    assert probe.most == 1


async def test_a_run_that_delivers_to_idle_connections_starts_them_as_tasks(
    probe: Probe,
) -> None:
    # Eager runs are one level deep: a chain of fan-outs must not grow the call stack.
    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        if info == "relay":
            probe.trace.append("A start")
            send(probe.pids[1], "leaf")
            probe.trace.append("A end")
        else:
            probe.trace.append("B")
        return ("reply", ("text", info), state)

    cls = handler(probe, websocket_info=websocket_info)
    (a, a_task), (b, b_task) = await start(cls), await start(cls)
    send(probe.pids[0], "relay")
    assert probe.trace == ["A start", "A end"]  # B was not run inside A's callback
    assert await b.until(1) == ["leaf"]
    assert probe.trace == ["A start", "A end", "B"]
    await finish(a, a_task)
    await finish(b, b_task)


async def test_a_crash_in_a_mailbox_run_closes_that_connection_only(probe: Probe) -> None:
    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        if info == "boom":
            raise RuntimeError("boom")
        return ("reply", ("text", info), state)

    cls = handler(probe, websocket_info=websocket_info)
    (bad, bad_task), (good, good_task) = await start(cls), await start(cls)
    send(probe.pids[0], "boom")  # the sender sees nothing of the crash
    with anyio.fail_after(TIMEOUT):
        await bad_task
    assert bad.sent[-1] == {"type": "websocket.close", "code": 1011, "reason": ""}
    assert [type(reason[1]) for reason in probe.terminations] == [RuntimeError]
    assert not probe.pids[0].alive
    send(probe.pids[1], "still here")
    assert good.texts() == ["still here"]
    await finish(good, good_task)


async def test_send_timeout_interrupts_a_mailbox_run_blocked_in_a_send(probe: Probe) -> None:
    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        return ("reply", ("text", info), state)

    socket, task = await start(handler(probe, websocket_info=websocket_info), send_timeout=0.05)
    socket.hold = asyncio.Event()  # never set: the client never reads again
    send(probe.pids[0], "stuck")
    with anyio.fail_after(TIMEOUT):
        await task
    (reason,) = probe.terminations
    assert reason[0] == "error" and isinstance(reason[1], SendTimeoutError)
    assert socket.sent == [{"type": "websocket.accept", "subprotocol": None, "headers": []}]


async def test_cancelling_the_connection_ends_a_running_mailbox_callback_first(
    probe: Probe,
) -> None:
    async def websocket_info(self: Any, info: Any, state: Any) -> Any:
        probe.enter("info")
        try:
            await probe.release.wait()  # never set
        finally:
            probe.exit("info")
        return ("ok", state)

    socket, task = await start(handler(probe, websocket_info=websocket_info))
    send(probe.pids[0], "m")
    with anyio.fail_after(TIMEOUT):
        await probe.entered("info").wait()
    task.cancel()  # the server shuts down
    with pytest.raises(asyncio.CancelledError), anyio.fail_after(TIMEOUT):
        await task
    # terminate ran once, after the callback was over: callbacks never overlap.
    assert probe.trace == ["enter info", "exit info", "terminate"]
    assert not probe.pids[0].alive


async def test_overflow_close_interrupts_a_mailbox_run_blocked_in_a_send(probe: Probe) -> None:
    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        return ("reply", ("text", info), state)

    socket, task = await start(handler(probe, websocket_info=websocket_info), mailbox_size=2)
    socket.hold = asyncio.Event()  # never set: the client never reads again
    pid = probe.pids[0]
    for i in range(4):  # the first blocks in its send, two wait, the fourth overflows
        send(pid, str(i))
    with anyio.fail_after(TIMEOUT):
        await task
    assert probe.terminations == ["overflow"]
    assert [m["type"] for m in socket.sent] == ["websocket.accept"]  # no close frame
    assert not pid.alive


async def test_a_message_sent_while_terminate_runs_after_a_server_cancel_is_not_run(
    probe: Probe,
) -> None:
    # The server cancels while a mailbox run is in its callback: that run is ended first, and
    # it must not hand `busy` back, or a message arriving during terminate would run after it.
    async def websocket_info(self: Any, info: Any, state: Any) -> Any:
        probe.enter(f"info {info}")
        try:
            if info == "first":
                await probe.release.wait()  # never set
        finally:
            probe.exit(f"info {info}")
        return ("ok", state)

    in_terminate, go = asyncio.Event(), asyncio.Event()

    async def terminate(self: Any, reason: Any, state: Any) -> None:
        probe.trace.append("terminate")
        in_terminate.set()
        await go.wait()
        probe.trace.append("terminated")

    socket, task = await start(handler(probe, websocket_info=websocket_info, terminate=terminate))
    send(probe.pids[0], "first")
    with anyio.fail_after(TIMEOUT):
        await probe.entered("info first").wait()
    task.cancel()  # the server shuts down
    with anyio.fail_after(TIMEOUT):
        await in_terminate.wait()
    send(probe.pids[0], "late")  # the connection is ending: this must never run
    go.set()
    with pytest.raises(asyncio.CancelledError), anyio.fail_after(TIMEOUT):
        await task
    assert probe.trace == ["enter info first", "exit info first", "terminate", "terminated"]
    assert not probe.pids[0].alive


async def test_a_server_cancel_while_a_frame_waits_for_a_mailbox_run_ends_cleanly(
    probe: Probe,
) -> None:
    # The frame's turn was cancelled with the task; the run being ended must not complete it.
    async def websocket_info(self: Any, info: Any, state: Any) -> Any:
        probe.enter("info")
        try:
            await probe.release.wait()  # never set
        finally:
            probe.exit("info")
        return ("ok", state)

    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        socket, task = await start(handler(probe, websocket_info=websocket_info))
        send(probe.pids[0], "m")
        with anyio.fail_after(TIMEOUT):
            await probe.entered("info").wait()
        socket.taken.clear()
        socket.frame("f")
        with anyio.fail_after(TIMEOUT):
            await socket.taken.wait()  # the task holds the frame and waits for its turn
        task.cancel()  # the server shuts down
        with pytest.raises(asyncio.CancelledError), anyio.fail_after(TIMEOUT):
            await task
        del socket, task
        gc.collect()  # a failed task nobody looked at is reported when it is freed
    finally:
        loop.set_exception_handler(previous)
    assert errors == []
    assert probe.trace == ["enter info", "exit info", "terminate"]


async def test_a_mailbox_run_leaves_the_senders_context_variables_alone(probe: Probe) -> None:
    # Erlang's process dictionary is the process's own: what a receiver's callback sets
    # must not show up in the sender that delivered to it (an HTTP request, a connection).
    seen: list[str] = []

    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        seen.append(_VAR.get())
        _VAR.set("receiver")
        return ("reply", ("text", info), state)

    socket, task = await start(handler(probe, websocket_info=websocket_info))
    token = _VAR.set("sender")
    try:
        send(probe.pids[0], "m")  # runs at once, in our turn
        assert socket.texts() == ["m"] and len(seen) == 1
        assert _VAR.get() == "sender"
    finally:
        _VAR.reset(token)
    await finish(socket, task)


async def test_a_mailbox_run_sees_the_connections_context_not_the_senders(
    probe: Probe,
) -> None:
    # What init set (a request id for the logs, say) is the connection's, like a process
    # dictionary: websocket_info sees it whoever sent the message, whether it runs in the
    # sender's turn (sync) or in a task (async), and never sees the sender's value.
    seen: list[str] = []

    def init(self: Any, state: Any) -> Any:
        probe.pids.append(self.pid)
        _VAR.set("connection")
        return ("ok", state)

    def sync_info(self: Any, info: Any, state: Any) -> Any:
        seen.append(_VAR.get())
        return ("reply", ("text", info), state)

    async def async_info(self: Any, info: Any, state: Any) -> Any:
        seen.append(_VAR.get())
        return ("reply", ("text", info), state)

    for websocket_info in (sync_info, async_info):
        seen.clear()
        probe.pids.clear()
        socket, task = await start(handler(probe, init=init, websocket_info=websocket_info))
        token = _VAR.set("sender")
        try:
            send(probe.pids[0], "m")
        finally:
            _VAR.reset(token)
        assert await socket.until(1) == ["m"]
        assert seen == ["connection"], websocket_info.__name__
        await finish(socket, task)


async def test_a_blocked_mailbox_run_continues_with_what_its_callbacks_set(
    probe: Probe,
) -> None:
    # The eager part and the task that continues it are one run: one context.
    seen: list[str] = []

    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        seen.append(_VAR.get())
        _VAR.set(info)
        return ("reply", ("text", info), state)

    socket, task = await start(handler(probe, websocket_info=websocket_info))
    socket.hold = asyncio.Event()  # the first reply blocks: the run goes on in a task
    send(probe.pids[0], "1")
    send(probe.pids[0], "2")
    socket.hold.set()
    assert await socket.until(2) == ["1", "2"]
    assert seen == ["unset", "1"]
    assert _VAR.get() == "unset"
    await finish(socket, task)


async def test_sends_from_another_thread_run_on_the_loop_in_order(probe: Probe) -> None:
    ran: list[tuple[int, Pid | None]] = []

    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        ran.append((threading.get_ident(), _self_pid()))
        return ("reply", ("text", info), state)

    socket, task = await start(handler(probe, websocket_info=websocket_info))
    pid = probe.pids[0]

    def sender() -> None:
        for i in range(50):
            send(pid, str(i))

    await asyncio.to_thread(sender)
    assert await socket.until(50) == [str(i) for i in range(50)]
    assert ran == [(threading.get_ident(), pid)] * 50
    await finish(socket, task)


async def test_a_client_close_during_a_blocked_mailbox_run_leaves_no_task_behind(
    probe: Probe,
) -> None:
    before = asyncio.all_tasks()
    socket, task = await start(handler(probe, websocket_info=traced_echo(probe)))
    socket.hold = asyncio.Event()
    send(probe.pids[0], "1")  # blocks in its send: the run goes on in a task
    send(probe.pids[0], "2")
    socket.taken.clear()
    socket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1001})
    with anyio.fail_after(TIMEOUT):
        await socket.taken.wait()  # the close is taken while the run holds the connection
    socket.hold.set()
    with anyio.fail_after(TIMEOUT):
        await task
    # The run hands the connection to the waiting close after "1": "2" dies with it.
    assert socket.texts() == ["1"]
    assert probe.terminations == [("remote", 1001)]
    assert asyncio.all_tasks() - before == set()
    assert not probe.pids[0].alive


@pytest.mark.parametrize("behaviour", ["raise", "stop", "block"])
async def test_a_connection_that_sends_is_untouched_by_what_the_receiver_does(
    probe: Probe, behaviour: str
) -> None:
    # A's frame callback sends to idle B, whose websocket_info runs inside that send.
    def websocket_info(self: Any, info: Any, state: Any) -> Any:
        if behaviour == "raise":
            raise RuntimeError("receiver crashed")
        if behaviour == "stop":
            return ("stop", state)
        return ("reply", ("text", "x" * 100_000), state)  # "block": its client reads nothing

    after_send: list[tuple[Pid | None, str]] = []

    def websocket_handle(self: Any, frame: Any, state: Any) -> Any:
        _VAR.set("A")
        send(probe.pids[1], "go")
        after_send.append((_self_pid(), _VAR.get()))
        return ("reply", frame, {**state, "sent": True})

    cls = handler(probe, websocket_info=websocket_info, websocket_handle=websocket_handle)
    (a, a_task), (b, b_task) = await start(cls), await start(cls)
    if behaviour == "block":
        b.hold = asyncio.Event()  # B's client stops reading
    a.frame("hello")
    assert await a.until(1) == ["hello"]  # A's reply went out after its send returned
    assert after_send == [(probe.pids[0], "A")]
    assert probe.pids[0].alive
    if behaviour == "block":
        assert probe.pids[1].alive and not b_task.done()
        b.hold.set()
        assert len((await b.until(1))[0]) == 100_000
    else:
        with anyio.fail_after(TIMEOUT):
            await b_task
    await finish(a, a_task)
    if not b_task.done():
        await finish(b, b_task)
    assert probe.terminations[-1] == ("remote", 1000)
