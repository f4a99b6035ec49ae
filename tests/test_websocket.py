"""Tests of fastapi_nova.websocket and its connection runtime: one connection per handler.

Each test builds a tiny Starlette app whose WebSocket endpoint calls ``_serve_websocket`` with a
fixed state, drives it with Starlette's TestClient through ``tests.support.ws.connect`` (every
receive has a timeout) and observes the handler through a :class:`Recorder`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from fastapi_nova import pubsub
from fastapi_nova.connection import _serve_websocket
from fastapi_nova.errors import NovaError
from fastapi_nova.mailbox import TimerRef
from fastapi_nova.pid import Pid, _self_pid, _whereis, send
from fastapi_nova.websocket import (
    FrameTooLargeError,
    InvalidCallbackReturn,
    NovaWebSocket,
    WebSocketOptions,
)
from tests.support.pubsub import fresh_state_fixture  # noqa: F401
from tests.support.ws import TIMEOUT, TestClient, connect, denied_status, expect_close

UPGRADE_STATE = {"req": "the upgrade request"}


class Recorder:
    """What handlers of one test did, readable from the test thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.handlers: list[NovaWebSocket] = []
        self.terminations: list[tuple[Any, Any]] = []
        self.exits: list[Pid] = []
        self.events: list[Any] = []

    def started(self, handler: NovaWebSocket) -> None:
        with self._cond:
            self.handlers.append(handler)
        handler.pid.monitor(self._exited)

    def _exited(self, pid: Pid) -> None:
        with self._cond:
            self.exits.append(pid)
            self._cond.notify_all()

    def terminated(self, reason: Any, state: Any) -> None:
        with self._cond:
            self.terminations.append((reason, state))

    def wait_exits(self, count: int = 1) -> None:
        """Block until ``count`` connections ran ``pid.exit()`` (which follows terminate)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.exits) >= count, TIMEOUT)
        assert ok, f"only {len(self.exits)} of {count} connections ended"

    @property
    def pid(self) -> Pid:
        return self.handlers[0].pid

    @property
    def reasons(self) -> list[Any]:
        return [reason for reason, _ in self.terminations]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def recording(recorder: Recorder) -> type[NovaWebSocket]:
    """A handler base class that reports to ``recorder``; state gets a counter ``n``."""

    class Recording(NovaWebSocket):
        def init(self, state: Any) -> Any:
            recorder.started(self)
            assert _self_pid() == self.pid
            return ("ok", {**state, "n": 0})

        def terminate(self, reason: Any, state: Any) -> None:
            recorder.terminated(reason, state)

    return Recording


def make_app(
    handler_cls: type[NovaWebSocket],
    options: WebSocketOptions | None = None,
    routes: list[Any] | None = None,
) -> Starlette:
    opts = options or WebSocketOptions()

    async def endpoint(websocket: WebSocket) -> None:
        await _serve_websocket(websocket, handler_cls, state=dict(UPGRADE_STATE), options=opts)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint), *(routes or [])])


def client_for(handler_cls: type[NovaWebSocket], **options: Any) -> TestClient:
    return TestClient(make_app(handler_cls, WebSocketOptions(**options)))


def both_styles(cls: type[NovaWebSocket]) -> type[NovaWebSocket]:
    """An async twin of a handler written with sync callbacks."""
    names = ("init", "websocket_init", "websocket_handle", "websocket_info", "terminate")

    def asyncify(fn: Callable[..., Any]) -> Callable[..., Any]:
        async def callback(self: NovaWebSocket, *args: Any) -> Any:
            await asyncio.sleep(0)  # a real suspension point
            return fn(self, *args)

        return callback

    body = {name: asyncify(getattr(cls, name)) for name in names}
    return type("Async" + cls.__name__, (cls,), body)


@pytest.fixture(params=["sync", "async"])
def style(request: pytest.FixtureRequest) -> Callable[[type[NovaWebSocket]], Any]:
    return (lambda cls: cls) if request.param == "sync" else both_styles


# ---------------------------------------------------------------------------------------------
# Callback return forms


def bump(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "n": state["n"] + 1}


RETURN_FORMS: dict[str, tuple[Callable[[Any], Any], list[Any], tuple[int, str] | None]] = {
    # name: (what websocket_handle returns for "go", frames the client gets, close or None)
    "ok": (lambda s: ("ok", bump(s)), [], None),
    "ok-hibernate": (lambda s: ("ok", bump(s), "hibernate"), [], None),
    "reply-text": (lambda s: ("reply", ("text", "a"), bump(s)), ["a"], None),
    "reply-binary": (lambda s: ("reply", ("binary", b"\x00\xff"), bump(s)), [b"\x00\xff"], None),
    "reply-list": (
        lambda s: ("reply", [("text", "a"), ("binary", bytearray(b"b"))], bump(s)),
        ["a", b"b"],
        None,
    ),
    "reply-empty-list": (lambda s: ("reply", [], bump(s)), [], None),
    "reply-hibernate": (lambda s: ("reply", [("text", "a")], bump(s), "hibernate"), ["a"], None),
    "reply-close": (lambda s: ("reply", ("close", 4000, "bye"), bump(s)), [], (4000, "bye")),
    "reply-close-code": (lambda s: ("reply", ("close", 4001), bump(s)), [], (4001, "")),
    "reply-then-close": (
        lambda s: ("reply", [("text", "last"), ("close",), ("text", "never")], bump(s)),
        ["last"],
        (1000, ""),
    ),
    "stop": (lambda s: ("stop", bump(s)), [], (1000, "")),
}


@pytest.mark.parametrize("form", list(RETURN_FORMS))
def test_every_return_form(rec: Recorder, style: Any, form: str) -> None:
    result, frames, close = RETURN_FORMS[form]

    class Handler(recording(rec)):  # type: ignore[misc]
        def websocket_handle(self, frame: Any, state: Any) -> Any:
            if frame == ("text", "go"):
                return result(state)
            return ("reply", ("text", f"marker n={state['n']}"), state)

    with connect(client_for(style(Handler)), "/ws") as ws:
        ws.send_text("go")
        for expected in frames:
            message = ws.receive()
            assert message.get("text", message.get("bytes")) == expected
        if close is None:
            ws.send_text("marker")  # state threaded through, nothing else was sent before it
            assert ws.receive_text() == "marker n=1"
            ws.close(1000)
            rec.wait_exits()
            assert rec.reasons == [("remote", 1000)]
        else:
            assert expect_close(ws) == close
            rec.wait_exits()
            assert rec.terminations == [("normal", {**UPGRADE_STATE, "n": 1})]


def test_echo_text_and_binary(rec: Recorder, style: Any) -> None:
    class Echo(recording(rec)):  # type: ignore[misc]
        def websocket_handle(self, frame: Any, state: Any) -> Any:
            match frame:
                case ("text", msg):
                    return ("reply", ("text", "Echo: " + msg), state)
                case ("binary", data):
                    return ("reply", ("binary", data[::-1]), state)
            return ("ok", state)

    with connect(client_for(style(Echo)), "/ws") as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "Echo: hello"
        ws.send_bytes(b"\x01\x02")
        assert ws.receive_bytes() == b"\x02\x01"
        ws.close(1000)
        rec.wait_exits()


def test_init_gets_the_upgrade_state_and_websocket_init_replies(rec: Recorder, style: Any) -> None:
    seen: list[Any] = []

    class Greeter(NovaWebSocket):
        def init(self, state: Any) -> Any:
            seen.append(dict(state))
            rec.started(self)
            return ("reply", ("text", "from init"), {**state, "n": 1})

        def websocket_init(self, state: Any) -> Any:
            assert _self_pid() == self.pid
            return ("reply", [("text", f"hello n={state['n']}")], bump(state))

        def terminate(self, reason: Any, state: Any) -> None:
            rec.terminated(reason, state)

    with connect(client_for(style(Greeter)), "/ws") as ws:
        assert ws.receive_text() == "from init"
        assert ws.receive_text() == "hello n=1"
        ws.close(4002)
        rec.wait_exits()
    assert seen == [UPGRADE_STATE]
    assert rec.terminations == [(("remote", 4002), {**UPGRADE_STATE, "n": 2})]


def test_websocket_init_can_stop(rec: Recorder) -> None:
    class Quick(recording(rec)):  # type: ignore[misc]
        def websocket_init(self, state: Any) -> Any:
            return ("stop", state)

    with connect(client_for(Quick), "/ws") as ws:
        assert expect_close(ws) == (1000, "")
        rec.wait_exits()
    assert rec.reasons == ["normal"]


def test_base_class_accepts_and_ignores_everything(rec: Recorder) -> None:
    base, state = NovaWebSocket(), {"k": 1}
    assert base.init(state) == ("ok", state)
    assert base.websocket_init(state) == ("ok", state)
    assert base.websocket_handle(("text", "x"), state) == ("ok", state)
    assert base.websocket_info("x", state) == ("ok", state)
    assert base.terminate("normal", state) is None

    class OnlyTerminate(NovaWebSocket):  # every other callback is the base class's
        def terminate(self, reason: Any, state: Any) -> None:
            rec.terminated(reason, state)
            rec.started(self)  # its pid exits right after: wait_exits() awaits that

    with connect(client_for(OnlyTerminate), "/ws") as ws:
        ws.send_text("ignored")
        ws.send_bytes(b"ignored")
        ws.close(1000)
        rec.wait_exits()
    # Accepted, ended by the client's close, and the upgrade state came through every
    # default callback unchanged.
    assert rec.terminations == [(("remote", 1000), UPGRADE_STATE)]


def test_pid_and_send_after_need_a_connection() -> None:
    handler = NovaWebSocket()
    with pytest.raises(RuntimeError, match="not running in a connection"):
        handler.pid  # noqa: B018
    with pytest.raises(RuntimeError, match="not running in a connection"):
        handler.send_after(1, "x")


# ---------------------------------------------------------------------------------------------
# Refusals before accept


def test_init_stop_refuses_with_403_without_terminate(rec: Recorder, style: Any) -> None:
    class Refuse(recording(rec)):  # type: ignore[misc]
        def init(self, state: Any) -> Any:
            rec.started(self)
            return ("stop", state)

    assert denied_status(client_for(style(Refuse)), "/ws") == 403
    rec.wait_exits()
    assert rec.terminations == []
    assert not rec.pid.alive


@pytest.mark.parametrize("fault", ["raise", "bad-return"])
def test_init_fault_refuses_with_500_and_logs(
    rec: Recorder, style: Any, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(recording(rec)):  # type: ignore[misc]
        def init(self, state: Any) -> Any:
            rec.started(self)
            if fault == "raise":
                raise LookupError("no such room")
            return ("accept", state)

    assert denied_status(client_for(style(Broken)), "/ws") == 500
    rec.wait_exits()
    assert rec.terminations == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "Broken.init" in errors[0].getMessage()
    assert ("no such room" if fault == "raise" else "'accept'") in (
        errors[0].getMessage() + str(errors[0].exc_info)
    )


def test_a_handler_that_cannot_be_created_refuses_with_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class NeedsArgs(NovaWebSocket):
        def __init__(self, room: str) -> None:
            self.room = room

    assert denied_status(client_for(NeedsArgs), "/ws") == 500
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "NeedsArgs: creating the handler failed" in record.getMessage()


def test_refusal_without_the_denial_extension_closes_before_accept(rec: Recorder) -> None:
    class Refuse(recording(rec)):  # type: ignore[misc]
        def init(self, state: Any) -> Any:
            rec.started(self)
            return ("stop", state)

    app = make_app(Refuse)

    async def no_denial_extension(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "extensions": {}}, receive, send)

    # A real server answers a close-before-accept with HTTP 403; TestClient reports the close.
    with pytest.raises(WebSocketDisconnect) as closed:
        with connect(TestClient(no_denial_extension), "/ws"):
            pass
    assert closed.value.code == 1008
    rec.wait_exits()


# ---------------------------------------------------------------------------------------------
# Errors: raise / invalid return -> 1011 and terminate(("error", exc))


@pytest.mark.parametrize("callback", ["websocket_init", "websocket_handle", "websocket_info"])
def test_a_raising_callback_closes_1011(
    rec: Recorder, style: Any, callback: str, caplog: pytest.LogCaptureFixture
) -> None:
    boom = ZeroDivisionError("boom")

    class Crashy(recording(rec)):  # type: ignore[misc]
        def websocket_init(self, state: Any) -> Any:
            if callback == "websocket_init":
                raise boom
            return ("ok", bump(state))

        def websocket_handle(self, frame: Any, state: Any) -> Any:
            if callback == "websocket_handle":
                raise boom
            send(self.pid, "crash")
            return ("ok", state)

        def websocket_info(self, info: Any, state: Any) -> Any:
            raise boom

    with connect(client_for(style(Crashy)), "/ws") as ws:
        ws.send_text("go")
        assert expect_close(ws) == (1011, "")
        rec.wait_exits()
    [(reason, state)] = rec.terminations
    assert reason == ("error", boom) and reason[1] is boom
    assert state["n"] == (0 if callback == "websocket_init" else 1)  # the latest good state
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "fastapi_nova.connection"
    assert f"Crashy.{callback} raised ZeroDivisionError('boom')" in record.getMessage()
    assert record.exc_info is not None


BAD_RETURNS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "not-a-tuple": (lambda s: 42, "expected ('ok', state)"),
    "a-list": (lambda s: ["ok", s], "expected ('ok', state)"),
    "none": (lambda s: None, "expected ('ok', state)"),
    "short-ok": (lambda s: ("ok",), "expected ('ok', state)"),
    "bare-ok": (lambda s: "ok", "expected ('ok', state)"),
    "unknown-tag": (lambda s: ("noreply", s), "expected ('ok', state)"),
    "bad-hibernate": (lambda s: ("ok", s, "sleep"), "must be 'hibernate', got 'sleep'"),
    "text-bytes": (lambda s: ("reply", ("text", b"x"), s), "invalid frame ('text', b'x')"),
    "binary-str": (lambda s: ("reply", ("binary", "x"), s), "invalid frame ('binary', 'x')"),
    "ping-frame": (lambda s: ("reply", ("ping", b""), s), "invalid frame ('ping', b'')"),
    "junk-in-list": (lambda s: ("reply", [("text", "a"), "junk"], s), "invalid frame 'junk'"),
    "reserved-code": (lambda s: ("reply", ("close", 1006, ""), s), "invalid close code 1006"),
    "long-reason": (lambda s: ("reply", ("close", 1000, "x" * 124), s), "at most 123 bytes"),
}


@pytest.mark.parametrize("case", list(BAD_RETURNS))
def test_an_invalid_return_closes_1011(
    rec: Recorder, style: Any, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    result, problem = BAD_RETURNS[case]

    class Sloppy(recording(rec)):  # type: ignore[misc]
        def websocket_handle(self, frame: Any, state: Any) -> Any:
            return result(bump(state))

    with connect(client_for(style(Sloppy)), "/ws") as ws:
        ws.send_text("go")
        assert expect_close(ws) == (1011, "")  # nothing of a bad reply was sent before it
        rec.wait_exits()
    [(reason, state)] = rec.terminations
    assert reason[0] == "error" and isinstance(reason[1], InvalidCallbackReturn)
    error = reason[1]
    assert isinstance(error, NovaError) and error.callback == "websocket_handle"
    assert state["n"] == 0
    assert "Sloppy.websocket_handle returned" in str(error) and problem in str(error)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert str(error) in record.getMessage() and "1011" in record.getMessage()


def test_a_raising_terminate_is_logged_and_the_pid_still_exits(
    rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    class BadExit(recording(rec)):  # type: ignore[misc]
        def terminate(self, reason: Any, state: Any) -> None:
            raise RuntimeError("terminate failed")

    with connect(client_for(BadExit), "/ws") as ws:
        ws.close(1001)
        rec.wait_exits()
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "BadExit.terminate(('remote', 1001)) raised" in record.getMessage()


def test_a_crash_leaves_other_connections_alone(rec: Recorder) -> None:
    class Fragile(recording(rec)):  # type: ignore[misc]
        async def websocket_handle(self, frame: Any, state: Any) -> Any:
            assert _self_pid() == self.pid  # each connection sees its own pid, never the other's
            if frame == ("text", "crash"):
                raise ValueError("only me")
            return ("reply", frame, state)

    with TestClient(make_app(Fragile)) as client:
        with connect(client, "/ws") as a, connect(client, "/ws") as b:
            a.send_text("crash")
            assert expect_close(a) == (1011, "")
            b.send_text("still here")
            assert b.receive_text() == "still here"
            b.close(1000)
            rec.wait_exits(2)
    reasons = sorted(map(repr, rec.reasons))
    assert reasons == ["('error', ValueError('only me'))", "('remote', 1000)"]


# ---------------------------------------------------------------------------------------------
# Remote close, cancellation


def test_client_close_code_reaches_terminate(rec: Recorder, style: Any) -> None:
    with connect(client_for(style(recording(rec))), "/ws") as ws:
        ws.close(4005, "bye")
        rec.wait_exits()
    assert rec.terminations == [(("remote", 4005), {**UPGRADE_STATE, "n": 0})]
    assert not rec.pid.alive and _whereis(rec.pid.id) is None


def test_cancellation_still_runs_async_terminate_and_exit(
    rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    steps: list[str] = []

    class Stuck(recording(rec)):  # type: ignore[misc]
        async def websocket_handle(self, frame: Any, state: Any) -> Any:
            steps.append("handling")
            await asyncio.Event().wait()  # never set: only cancellation ends this
            return ("ok", state)

        async def terminate(self, reason: Any, state: Any) -> None:
            await asyncio.sleep(0.01)  # must survive the client's repeated cancellation
            steps.append("terminated")
            rec.terminated(reason, state)

    with connect(client_for(Stuck), "/ws") as ws:
        ws.send_text("go")
        ws.send_text("ping")  # nothing answers: the handler is stuck
    # Leaving the block cancelled the app's task and waited for it to finish.
    rec.wait_exits()
    assert steps == ["handling", "terminated"]
    [(reason, _)] = rec.terminations
    assert reason[0] == "error" and isinstance(reason[1], asyncio.CancelledError)
    # A cancellation is a shutdown, not a crash of the callback it interrupted.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_callback_raising_cancelled_error_itself_is_a_crash(
    rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    class AwaitsACancelledTask(recording(rec)):  # type: ignore[misc]
        async def websocket_handle(self, frame: Any, state: Any) -> Any:
            task = asyncio.ensure_future(asyncio.Event().wait())
            task.cancel()
            await task  # raises CancelledError, though nobody cancelled the connection
            return ("ok", state)

    with connect(client_for(AwaitsACancelledTask), "/ws") as ws:
        ws.send_text("go")
        assert expect_close(ws) == (1011, "")
        rec.wait_exits()
    [(reason, _)] = rec.terminations
    assert reason[0] == "error" and isinstance(reason[1], asyncio.CancelledError)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "AwaitsACancelledTask.websocket_handle raised CancelledError()" in record.getMessage()


@pytest.mark.parametrize("ending", ["refused", "crash", "stop", "client-close", "cancelled"])
def test_memberships_are_released_however_the_connection_ends(
    rec: Recorder, fresh_state: None, ending: str
) -> None:
    class Member(NovaWebSocket):
        async def init(self, state: Any) -> Any:
            rec.started(self)
            await pubsub.join("room")
            return ("stop" if ending == "refused" else "ok", state)

        async def websocket_handle(self, frame: Any, state: Any) -> Any:
            if ending == "crash":
                raise RuntimeError("boom")
            if ending == "cancelled":
                await asyncio.Event().wait()  # only the session's cancellation ends this
            return ("stop" if ending == "stop" else "ok", state)

    with TestClient(make_app(Member)) as client:
        if ending == "refused":
            assert denied_status(client, "/ws") == 403
        else:
            with connect(client, "/ws") as ws:
                assert pubsub.get_members("room") == [rec.pid]
                if ending == "client-close":
                    ws.close(1000)
                else:
                    ws.send_text("go")
                if ending in ("crash", "stop"):
                    assert expect_close(ws) == ((1011, "") if ending == "crash" else (1000, ""))
        rec.wait_exits()
        assert pubsub.get_members("room") == []
        hub = pubsub._current_hub()
        assert hub is not None
        client.portal.call(  # type: ignore[union-attr]
            functools.partial(hub.wait_until, lambda: hub.subscribed_channels == [], TIMEOUT)
        )
        client.portal.call(pubsub.shutdown)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# Mailbox: send, send_after, overflow, one callback at a time


def info_echo(recorder: Recorder) -> type[NovaWebSocket]:
    class InfoEcho(recording(recorder)):  # type: ignore[misc]
        def websocket_handle(self, frame: Any, state: Any) -> Any:
            if frame == ("text", "flood"):
                for i in range(6):
                    send(self.pid, i)
                return ("ok", state)
            return ("reply", frame, state)

        def websocket_info(self, info: Any, state: Any) -> Any:
            assert _self_pid() == self.pid
            return ("reply", ("text", f"info {info}"), state)

    return InfoEcho


def test_send_from_another_thread_and_from_the_loop(rec: Recorder) -> None:
    seen_by_http: list[Any] = []

    async def poke(request: Request) -> PlainTextResponse:
        seen_by_http.append(_self_pid())  # the connection's pid does not leak out
        pid = _whereis(request.path_params["pid_id"])
        assert pid is not None
        send(pid, "from http")
        return PlainTextResponse("sent")

    app = make_app(info_echo(rec), routes=[Route("/poke/{pid_id}", poke)])
    with TestClient(app) as client:
        with connect(client, "/ws") as ws:
            send(rec.pid, "from the test thread")
            assert ws.receive_text() == "info from the test thread"
            assert client.get(f"/poke/{rec.pid.id}").text == "sent"
            assert ws.receive_text() == "info from http"
            ws.close(1000)
            rec.wait_exits()
    assert seen_by_http == [None]
    send(rec.pid, "to a closed connection")  # a no-op, as ! to a dead process
    assert not rec.pid.alive and not rec.pid.deliver("x")


@pytest.mark.parametrize(
    ("policy", "expected"), [("drop_oldest", [3, 4, 5]), ("drop_newest", [0, 1, 2])]
)
def test_overflow_drop_policies(
    rec: Recorder, policy: str, expected: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(info_echo(rec), mailbox_size=3, on_overflow=policy)
    with connect(client, "/ws") as ws:
        ws.send_text("flood")  # six messages while the handler is busy: three fit
        assert [ws.receive_text() for _ in expected] == [f"info {i}" for i in expected]
        ws.send_text("marker")
        assert ws.receive_text() == "marker"
        ws.close(1000)
        rec.wait_exits()
    drops = [r for r in caplog.records if "mailbox full" in r.getMessage()]
    assert len(drops) == 1 and drops[0].levelno == logging.WARNING


def test_overflow_close_policy(rec: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    with connect(client_for(info_echo(rec), mailbox_size=3), "/ws") as ws:
        ws.send_text("flood")
        assert expect_close(ws) == (1013, "mailbox overflow")
        rec.wait_exits()
    assert rec.reasons == ["overflow"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_send_after_and_cancel(rec: Recorder) -> None:
    class Timers(recording(rec)):  # type: ignore[misc]
        def websocket_init(self, state: Any) -> Any:
            doomed = self.send_after(0.01, "doomed")  # would arrive first if not cancelled
            self.kept = self.send_after(0.05, "kept")
            first, again = doomed.cancel(), doomed.cancel()
            return ("reply", ("text", f"cancel {first} {again} active={doomed.active}"), state)

        def websocket_handle(self, frame: Any, state: Any) -> Any:
            self.late = self.send_after(30, "late")
            return ("reply", ("text", f"armed {self.late.active}"), state)

        def websocket_info(self, info: Any, state: Any) -> Any:
            kept = self.kept
            return ("reply", ("text", f"{info} active={kept.active} cancel={kept.cancel()}"), state)

    with connect(client_for(Timers), "/ws") as ws:
        assert ws.receive_text() == "cancel True False active=False"
        assert ws.receive_text() == "kept active=False cancel=False"
        ws.send_text("arm")
        assert ws.receive_text() == "armed True"
        ws.close(1000)
        rec.wait_exits()
    late = rec.handlers[0].late  # type: ignore[attr-defined]
    assert isinstance(late, TimerRef)
    assert not late.active and not late.cancel()  # timers die with the connection


def test_callbacks_never_overlap(rec: Recorder) -> None:
    active = 0
    trace: list[str] = []

    class Busy(recording(rec)):  # type: ignore[misc]
        async def _run(self, name: str) -> None:
            nonlocal active
            active += 1
            trace.append(f"enter {name} active={active}")
            for _ in range(20):
                await asyncio.sleep(0)  # give a concurrent callback every chance to start
            active -= 1
            trace.append(f"exit {name}")

        async def websocket_handle(self, frame: Any, state: Any) -> Any:
            for i in range(3):
                send(self.pid, f"{frame[1]}.{i}")
            self.send_after(0, f"{frame[1]}.timer")
            await self._run(frame[1])
            return ("reply", ("text", frame[1]), state)

        async def websocket_info(self, info: Any, state: Any) -> Any:
            await self._run(info)
            return ("reply", ("text", info), state)

    with connect(client_for(Busy), "/ws") as ws:
        for name in ("a", "b", "c"):
            ws.send_text(name)
        got = [ws.receive_text() for _ in range(3 * 5)]
        ws.close(1000)
        rec.wait_exits()
    assert all(line.endswith("active=1") for line in trace if line.startswith("enter"))
    assert [line.split()[0] for line in trace] == ["enter", "exit"] * 15
    for name in ("a", "b", "c"):  # each sender's messages arrive in the order sent
        mine = [g for g in got if g.startswith(name + ".") and g[-1].isdigit()]
        assert mine == [f"{name}.{i}" for i in range(3)]
    assert sorted(got) == sorted(
        [n for n in "abc"]
        + [f"{n}.{i}" for n in "abc" for i in range(3)]
        + [f"{n}.timer" for n in "abc"]
    )


# ---------------------------------------------------------------------------------------------
# Idle timeout and frame size


def test_idle_timeout_closes_and_terminates(rec: Recorder) -> None:
    with connect(client_for(recording(rec), idle_timeout=0.2), "/ws") as ws:
        assert expect_close(ws) == (1000, "idle timeout")
        rec.wait_exits()
    assert rec.reasons == ["timeout"]


def test_incoming_frames_reset_the_idle_timeout(rec: Recorder) -> None:
    # The server paces the client with its own timers (send_after), so the gaps between frames
    # are the event loop's, not sleeps in the test: a nudge every GAP seconds, answered by a
    # frame, for longer than IDLE in all; then silence, and the idle timeout closes.
    idle, gap, nudges = 1.0, 0.25, 6

    class Nudger(recording(rec)):  # type: ignore[misc]
        def websocket_init(self, state: Any) -> Any:
            self.accepted = asyncio.get_running_loop().time()
            self.send_after(gap, "nudge")
            return ("ok", state)

        def websocket_info(self, info: Any, state: Any) -> Any:
            return ("reply", ("text", info), state)

        def websocket_handle(self, frame: Any, state: Any) -> Any:
            if state["n"] + 1 < nudges:
                self.send_after(gap, "nudge")
            return ("ok", bump(state))

        def terminate(self, reason: Any, state: Any) -> None:
            rec.events.append(asyncio.get_running_loop().time() - self.accepted)
            super().terminate(reason, state)

    with connect(client_for(Nudger, idle_timeout=idle), "/ws") as ws:
        for _ in range(nudges):
            assert ws.receive_text() == "nudge"
            ws.send_text("pong")
        assert expect_close(ws) == (1000, "idle timeout")
        rec.wait_exits()
    assert rec.reasons == ["timeout"]
    assert rec.terminations[0][1]["n"] == nudges  # every frame was handled
    # Alive for the traffic plus one idle period: the frames kept resetting the clock.
    assert rec.events[0] >= nudges * gap + idle


def test_outgoing_messages_do_not_reset_the_idle_timeout(rec: Recorder) -> None:
    class Ticker(recording(rec)):  # type: ignore[misc]
        def websocket_init(self, state: Any) -> Any:
            self.send_after(0.02, "tick")
            return ("ok", state)

        def websocket_info(self, info: Any, state: Any) -> Any:
            self.send_after(0.02, "tick")
            return ("reply", ("text", info), state)

    with connect(client_for(Ticker, idle_timeout=0.3), "/ws") as ws:
        ticks = 0
        for _ in range(1000):  # bounded; the close ends it long before
            message = ws.receive()
            if message["type"] == "websocket.close":
                assert message["code"] == 1000
                break
            ticks += 1
        rec.wait_exits()
    assert ticks >= 2 and rec.reasons == ["timeout"]


@pytest.mark.parametrize(
    ("payload", "size"),
    [("123456789", 9), ("ééééé", 10), (b"\x00" * 9, 9)],
    ids=["ascii", "utf8-bytes-not-chars", "binary"],
)
def test_max_frame_size_closes_1009(rec: Recorder, payload: str | bytes, size: int) -> None:
    class Echo(recording(rec)):  # type: ignore[misc]
        def websocket_handle(self, frame: Any, state: Any) -> Any:
            return ("reply", frame, state)

    with connect(client_for(Echo, max_frame_size=8), "/ws") as ws:
        ws.send_text("12345678")  # exactly the limit passes
        assert ws.receive_text() == "12345678"
        ws.send_text("éééé")
        assert ws.receive_text() == "éééé"
        if isinstance(payload, str):
            ws.send_text(payload)
        else:
            ws.send_bytes(payload)
        assert expect_close(ws) == (1009, "message too big")
        rec.wait_exits()
    [reason] = rec.reasons
    assert reason[0] == "error" and isinstance(reason[1], FrameTooLargeError)
    assert (reason[1].size, reason[1].limit) == (size, 8)


# ---------------------------------------------------------------------------------------------
# Origins


@pytest.mark.parametrize(
    ("allowed", "origin", "accepted"),
    [
        (None, None, True),  # not a browser
        (None, "http://testserver", True),
        (None, "https://TestServer", True),  # TLS ends at a proxy: Host has no port
        (None, "http://testserver:8000", False),
        (None, "http://evil.example", False),
        (None, "null", False),
        (["https://app.example"], "https://app.example", True),
        (["https://app.example"], "https://APP.example:443", True),
        (["https://app.example"], "http://app.example", False),
        (["https://app.example"], "http://testserver", False),  # a list replaces same-host
        (["https://app.example"], None, True),
        (["*"], "http://evil.example", True),
    ],
)
def test_origin_check(
    allowed: list[str] | None,
    origin: str | None,
    accepted: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = WebSocketOptions.from_route_options({"protocol": "ws", "allowed_origins": allowed})
    client = TestClient(make_app(NovaWebSocket, options))
    headers = {} if origin is None else {"origin": origin}
    if accepted:
        with connect(client, "/ws", headers=headers) as ws:
            ws.close(1000)
    else:
        assert denied_status(client, "/ws", headers=headers) == 403
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ---------------------------------------------------------------------------------------------
# Options


def test_options_defaults_and_route_options() -> None:
    assert WebSocketOptions() == WebSocketOptions(60.0, 1024 * 1024, None, 1024, "close")
    options = WebSocketOptions.from_route_options(
        {
            "protocol": "ws",
            "idle_timeout": 5,
            "max_frame_size": 10,
            "allowed_origins": ["https://a.example/", "*"],
            "mailbox_size": 2,
            "on_overflow": "drop_oldest",
        }
    )
    assert options == WebSocketOptions(5, 10, ("https://a.example", "*"), 2, "drop_oldest")
    assert WebSocketOptions(idle_timeout=math.inf).idle_timeout == math.inf


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"idle": 5}, r"unknown WebSocket route option\(s\) 'idle': expected 'protocol', "),
        ({"idle_timeout": 0}, r"idle_timeout must be a positive number .*, got 0"),
        ({"idle_timeout": "60"}, r"idle_timeout must be a positive number .*, got '60'"),
        ({"idle_timeout": True}, r"idle_timeout .*, got True"),
        ({"max_frame_size": 1.5}, r"max_frame_size must be a positive int, got 1.5"),
        ({"max_frame_size": -1}, r"max_frame_size must be a positive int, got -1"),
        ({"mailbox_size": 0}, r"mailbox_size must be a positive int, got 0"),
        ({"on_overflow": "drop"}, r"on_overflow must be one of 'close', .* \(str\), got 'drop'"),
        ({"allowed_origins": "https://a.example"}, r"allowed_origins must be a list .*, got 'h"),
        ({"allowed_origins": ["a.example"]}, r"allowed_origins entries .*, got 'a.example'"),
        ({"allowed_origins": ["https://a.example/x"]}, r"entries .*, got 'https://a.example/x'"),
        ({"allowed_origins": [1]}, r"allowed_origins must be a list .*, got \[1\]"),
    ],
)
def test_bad_route_options_name_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebSocketOptions.from_route_options({"protocol": "ws", **options})


@pytest.fixture(autouse=True)
def _no_leftover_pids() -> Iterator[None]:
    # Every connection a test opened must have exited (no pid stays registered).
    from fastapi_nova import pid as pid_module

    before = set(pid_module._registry)
    yield
    leaked = set(pid_module._registry) - before
    assert not leaked, f"pids still registered after the test: {leaked}"
