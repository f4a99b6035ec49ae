"""Tests of fastapi_nova.pid: pids, the registry, monitors, send and the current pid."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from fastapi_nova import pid as pid_module
from fastapi_nova.pid import NODE, Pid, reset_current, self_pid, send, set_current, spawn, whereis
from tests.support.ws import TIMEOUT


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    def deliver(self, message: Any) -> None:
        self.messages.append(message)


@pytest.fixture(autouse=True)
def _no_leftover_pids() -> Iterator[None]:
    before = set(pid_module._registry)
    yield
    assert set(pid_module._registry) - before == set()


def test_send_delivers_to_a_live_local_pid_only() -> None:
    inbox = Inbox()
    pid = spawn(inbox)
    assert pid.is_local and pid.alive
    send(pid, "hello")
    assert pid.deliver("again") is True
    assert inbox.messages == ["hello", "again"]
    pid.exit()
    send(pid, "after exit")  # a no-op, like ! to a dead process
    assert pid.deliver("x") is False and not pid.alive
    assert inbox.messages == ["hello", "again"]


def test_a_remote_pid_equals_the_original_and_delivers_nothing() -> None:
    pid = spawn(Inbox())
    try:
        remote = Pid(node=pid.node, id=pid.id)
        assert remote == pid and hash(remote) == hash(pid)
        assert not remote.alive and remote.deliver("x") is False
        other = Pid(node="elsewhere", id=pid.id)
        assert other != pid and not other.is_local
    finally:
        pid.exit()


def test_the_wire_form_comes_back_as_the_live_local_pid() -> None:
    pid = spawn(Inbox())
    data = pid.to_json()
    assert data == {"node": NODE, "id": pid.id}
    assert Pid.from_json(data) is pid and whereis(pid.id) is pid
    pid.exit()
    assert whereis(pid.id) is None
    gone = Pid.from_json(data)
    assert gone == pid and gone is not pid and not gone.alive
    foreign = Pid.from_json({"node": "other-node", "id": "abc"})
    assert foreign.node == "other-node" and not foreign.is_local


def test_monitors_run_once_on_exit_and_at_once_after_it() -> None:
    pid = spawn(Inbox())
    ran: list[str] = []
    pid.monitor(lambda p: ran.append("first"))
    removed = lambda p: ran.append("removed")  # noqa: E731
    pid.monitor(removed)
    pid.demonitor(removed)
    pid.demonitor(removed)  # not there any more: a no-op
    pid.exit()
    pid.exit()  # idempotent
    assert ran == ["first"]
    pid.monitor(lambda p: ran.append("late"))  # already exited: runs at once
    assert ran == ["first", "late"]


def test_a_failing_monitor_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    pid = spawn(Inbox())
    ran: list[str] = []

    def broken(p: Pid) -> None:
        raise RuntimeError("broken monitor")

    pid.monitor(broken)
    pid.monitor(lambda p: ran.append("after"))
    pid.exit()
    assert ran == ["after"]
    assert "broken monitor" in caplog.text


def test_self_pid_is_the_current_connection() -> None:
    assert self_pid() is None
    pid = spawn(Inbox())
    token = set_current(pid)
    try:
        assert self_pid() is pid
    finally:
        reset_current(token)
        pid.exit()
    assert self_pid() is None


def test_a_monitor_added_while_another_thread_exits_the_pid_still_runs() -> None:
    pid = spawn(Inbox())
    ran: list[Pid] = []
    appending, exited = threading.Event(), threading.Event()

    class Interleaved(list[Any]):
        def append(self, item: Any) -> None:
            # monitor() has seen a live pid; give an exit() on another thread the chance to
            # run to its end before the callback lands in the list.
            appending.set()
            exited.wait(0.2)  # a non-event when monitor() and exit() exclude each other
            super().append(item)

    assert pid._monitors is not None
    pid._monitors = Interleaved(pid._monitors)

    def exit_when_appending() -> None:
        appending.wait(TIMEOUT)
        pid.exit()
        exited.set()

    thread = threading.Thread(target=exit_when_appending)
    thread.start()
    pid.monitor(ran.append)
    thread.join(TIMEOUT)
    assert ran == [pid]  # run exactly once: by exit(), or at once by monitor()
