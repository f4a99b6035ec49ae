"""Tests of fastapi_nova.mailbox: bounded, never-blocking delivery, overflow policies, timers."""

from __future__ import annotations

import asyncio
import logging
import threading

import anyio
import pytest

from fastapi_nova.mailbox import _Mailbox
from tests.support.ws import TIMEOUT

pytestmark = pytest.mark.anyio


async def test_messages_come_out_in_the_order_they_went_in() -> None:
    mailbox = _Mailbox(8, "close")
    for i in range(5):
        mailbox.deliver(i)
    assert len(mailbox) == 5 and bool(mailbox)
    assert [mailbox.pop() for _ in range(5)] == [0, 1, 2, 3, 4]
    assert not mailbox
    with pytest.raises(IndexError):
        mailbox.pop()


async def test_on_message_runs_after_each_queued_message() -> None:
    seen: list[list[int]] = []
    mailbox = _Mailbox(2, "close", on_message=lambda: seen.append(list(mailbox._queue)))
    mailbox.deliver(1)
    mailbox.deliver(2)
    # The hook sees the message already queued: the owner may pop it at once (an idle
    # connection runs websocket_info inside the hook).
    assert seen == [[1], [1, 2]]


async def test_close_policy_marks_overflow_and_calls_the_hook_once() -> None:
    calls: list[str] = []
    mailbox = _Mailbox(
        2,
        "close",
        on_message=lambda: calls.append("message"),
        on_close_overflow=lambda: calls.append("overflow"),
    )
    mailbox.deliver(1)
    mailbox.deliver(2)
    assert not mailbox.overflowed and calls == ["message", "message"]
    mailbox.deliver(3)  # one more than size: the policy trips, once
    mailbox.deliver(4)
    assert mailbox.overflowed and calls == ["message", "message", "overflow"]
    assert [mailbox.pop(), mailbox.pop()] == [1, 2]


@pytest.mark.parametrize(("policy", "kept"), [("drop_oldest", [3, 4]), ("drop_newest", [1, 2])])
async def test_drop_policies_keep_size_messages_and_log_once(
    policy: str, kept: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = _Mailbox(2, policy, name="room")  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="fastapi_nova.mailbox"):
        for i in range(1, 5):
            mailbox.deliver(i)
    assert [mailbox.pop(), mailbox.pop()] == kept
    assert mailbox.dropped == 2 and not mailbox.overflowed
    warnings = [r for r in caplog.records if "mailbox full" in r.getMessage()]
    assert len(warnings) == 1 and "room" in warnings[0].getMessage()


async def test_delivery_from_a_thread_is_queued_on_the_loop() -> None:
    arrived = asyncio.Event()
    on_loop: list[bool] = []

    def on_message() -> None:
        on_loop.append(threading.get_ident() == loop_thread)
        arrived.set()

    loop_thread = threading.get_ident()
    mailbox = _Mailbox(4, "close", on_message=on_message)
    thread = threading.Thread(target=mailbox.deliver, args=("from a thread",))
    thread.start()
    with anyio.fail_after(TIMEOUT):
        await arrived.wait()
    thread.join(TIMEOUT)
    assert mailbox.pop() == "from a thread" and on_loop == [True]


async def test_send_after_delivers_once_and_cancel_stops_it() -> None:
    arrived = asyncio.Event()
    mailbox = _Mailbox(4, "close", on_message=arrived.set)
    fired = mailbox.send_after(0, "now")
    cancelled = mailbox.send_after(0, "never")
    assert fired.active and cancelled.cancel() and not cancelled.active
    assert not cancelled.cancel()  # a second cancel reports it was no longer pending
    with anyio.fail_after(TIMEOUT):
        await arrived.wait()
    assert mailbox.pop() == "now" and not fired.active and not fired.cancel()
    assert not mailbox


async def test_close_stops_delivery_and_timers() -> None:
    calls: list[str] = []
    mailbox = _Mailbox(4, "drop_newest", on_message=lambda: calls.append("message"))
    timer = mailbox.send_after(30, "late")
    mailbox.deliver("waiting")
    mailbox.close()
    mailbox.deliver("after close")
    assert mailbox.closed and len(mailbox) == 0 and not timer.active
    assert not mailbox.send_after(0, "x").active
    assert calls == ["message"]  # nothing reaches the owner after close


async def test_send_after_off_the_loop_thread_is_refused() -> None:
    mailbox = _Mailbox(4, "close")
    errors: list[BaseException] = []

    def from_thread() -> None:
        try:
            mailbox.send_after(0, "x")
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=from_thread)
    thread.start()
    thread.join(TIMEOUT)
    assert len(errors) == 1 and "event loop" in str(errors[0])


async def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="mailbox size must be a positive int, got 0"):
        _Mailbox(0, "close")
    with pytest.raises(ValueError, match="on_overflow must be one of"):
        _Mailbox(1, "block")  # type: ignore[arg-type]
    mailbox = _Mailbox(1, "close")
    with pytest.raises(ValueError, match="finite and >= 0, got -1"):
        mailbox.send_after(-1, "x")
    with pytest.raises(ValueError, match="finite and >= 0, got inf"):
        mailbox.send_after(float("inf"), "x")
    with pytest.raises(TypeError, match="must be a number, got '1'"):
        mailbox.send_after("1", "x")  # type: ignore[arg-type]
    mailbox.close()
