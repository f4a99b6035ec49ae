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


async def test_wait_completes_on_a_message_and_at_once_when_one_waits() -> None:
    mailbox = _Mailbox(2, "close")
    waiter = mailbox.wait()
    assert not waiter.done()
    assert mailbox.wait() is waiter  # one future per sleep, not one per call
    mailbox.deliver("m")
    assert waiter.done()
    assert mailbox.wait().done()  # a message is already waiting


async def test_wake_completes_the_wait_without_a_message() -> None:
    mailbox = _Mailbox(2, "close")
    waiter = mailbox.wait()
    mailbox.wake()  # what the connection's socket reader does when a frame arrived
    assert waiter.done() and len(mailbox) == 0


async def test_close_policy_marks_overflow_wakes_and_calls_the_hook() -> None:
    calls: list[str] = []
    mailbox = _Mailbox(2, "close", on_close_overflow=lambda: calls.append("overflow"))
    mailbox.deliver(1)
    mailbox.deliver(2)
    assert not mailbox.overflowed and calls == []
    waiter = mailbox.wait()
    assert waiter.done()  # messages wait
    mailbox.pop()
    mailbox.pop()
    waiter = mailbox.wait()
    mailbox.deliver(3)
    mailbox.deliver(4)
    mailbox.deliver(5)  # one more than size: the policy trips, once
    mailbox.deliver(6)
    assert mailbox.overflowed and calls == ["overflow"]
    assert waiter.done()


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
    mailbox = _Mailbox(4, "close")
    thread = threading.Thread(target=mailbox.deliver, args=("from a thread",))
    thread.start()
    with anyio.fail_after(TIMEOUT):
        await mailbox.wait()
    thread.join(TIMEOUT)
    assert mailbox.pop() == "from a thread"


async def test_send_after_delivers_once_and_cancel_stops_it() -> None:
    mailbox = _Mailbox(4, "close")
    fired = mailbox.send_after(0, "now")
    cancelled = mailbox.send_after(0, "never")
    assert fired.active and cancelled.cancel() and not cancelled.active
    assert not cancelled.cancel()  # a second cancel reports it was no longer pending
    with anyio.fail_after(TIMEOUT):
        await mailbox.wait()
    assert mailbox.pop() == "now" and not fired.active and not fired.cancel()
    assert not mailbox


async def test_close_stops_delivery_and_timers() -> None:
    mailbox = _Mailbox(4, "drop_newest")
    timer = mailbox.send_after(30, "late")
    mailbox.deliver("waiting")
    waiter = mailbox.wait()
    mailbox.close()
    mailbox.deliver("after close")
    assert mailbox.closed and len(mailbox) == 0 and not timer.active
    assert not mailbox.send_after(0, "x").active
    assert waiter.done()  # a waiting owner is released


async def test_close_cancels_a_pending_wait() -> None:
    mailbox = _Mailbox(4, "close")
    waiter = mailbox.wait()
    mailbox.close()
    assert waiter.cancelled()


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


async def test_one_wakeup_serves_every_sleep_of_the_owner() -> None:
    # Issue 11: a new future per wait outlived each message and, across a K=5,000 fan-out,
    # fed the garbage collector a full collection. The mailbox keeps one wake-up for life.
    mailbox = _Mailbox(4, "close")
    first = mailbox.wait()
    for i in range(3):
        sleeper = asyncio.ensure_future(_sleep_on(mailbox))
        await asyncio.sleep(0)  # the task is asleep on the wake-up now
        assert not sleeper.done()
        mailbox.deliver(i)
        with anyio.fail_after(TIMEOUT):
            assert await sleeper is first  # the same object every time
        assert mailbox.pop() == i
    assert mailbox.wait() is first and not first.done()  # re-armed, not replaced


async def _sleep_on(mailbox: _Mailbox) -> object:
    waiter = mailbox.wait()
    await waiter
    return waiter


async def test_a_cancelled_sleep_raises_and_the_next_sleep_really_sleeps() -> None:
    mailbox = _Mailbox(4, "close")
    sleeper = asyncio.ensure_future(_sleep_on(mailbox))
    await asyncio.sleep(0)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        with anyio.fail_after(TIMEOUT):
            await sleeper
    again = asyncio.ensure_future(_sleep_on(mailbox))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not again.done()  # not a spurious wake left over from the cancellation
    mailbox.wake()
    with anyio.fail_after(TIMEOUT):
        await again
    assert len(mailbox) == 0


async def test_the_wakeup_works_with_asyncio_helpers() -> None:
    mailbox = _Mailbox(4, "close")
    waiter = mailbox.wait()
    assert asyncio.isfuture(waiter)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(mailbox.wait(), 0)  # wait_for cancels it on the timeout
    assert waiter.cancelled()
    waiter = mailbox.wait()  # re-armed after the cancellation
    mailbox.send_after(0, "tick")
    with anyio.fail_after(TIMEOUT):
        await asyncio.wait_for(waiter, TIMEOUT)
    assert mailbox.pop() == "tick"
