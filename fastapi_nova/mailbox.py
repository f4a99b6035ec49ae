"""A connection's mailbox: bounded, never-blocking delivery, an overflow policy, and timers.

This is the inbox behind a WebSocket connection's `Pid`, the part of an
Erlang process that holds messages until `websocket_info` takes them one at a time.

* `Mailbox.deliver` never blocks and never raises for a full or closed mailbox: it is what
  `fastapi_nova.send(pid, msg)` ends in, and a sender (a pub/sub fan-out, a timer, another
  connection) must not be slowed down or broken by a slow receiver.
* On the loop's own thread delivery is immediate. From any other thread the message is handed
  to the loop with `call_soon_threadsafe` (one thread-id comparison on the common path), so
  `send` is thread-safe; the overflow policy is then applied on the loop.
* At most `size` messages wait. When one more arrives, the policy decides: `"close"` marks
  the mailbox overflowed (the connection then closes with 1013), `"drop_oldest"` discards the
  oldest waiting message, `"drop_newest"` discards the new one. Drops are logged once per
  mailbox, not once per message, so a flood cannot flood the log too.
* `Mailbox.send_after` is `erlang:send_after`; its timers die with the mailbox.
* No future, no waiter: the owner gives an `on_message` hook, called on the loop after each
  message is queued. The connection uses it to run `websocket_info` at once when it is idle
  (see `fastapi_nova.connection`); a fan-out to K sockets then creates no future and wakes no
  task per member (issue 11).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable
from typing import Any, Literal

_logger = logging.getLogger(__name__)

#: What a full mailbox does with one more message.
_OverflowPolicy = Literal["close", "drop_oldest", "drop_newest"]

_OVERFLOW_POLICIES: tuple[_OverflowPolicy, ...] = ("close", "drop_oldest", "drop_newest")


class TimerRef:
    """A pending `Mailbox.send_after` delivery (Erlang's timer reference)."""

    __slots__ = ("_handle", "_mailbox")

    def __init__(self, mailbox: _Mailbox | None, handle: asyncio.TimerHandle | None) -> None:
        self._mailbox = mailbox
        self._handle = handle

    @property
    def active(self) -> bool:
        """True while the message is still to be delivered."""
        return self._handle is not None

    def cancel(self) -> bool:
        """Stop the timer; True if it was still pending (`erlang:cancel_timer`)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return False
        handle.cancel()
        if self._mailbox is not None and self._mailbox._timers is not None:
            self._mailbox._timers.discard(self)
        return True

    def _fired(self) -> None:
        self._handle = None


class _Mailbox:
    """The bounded inbox of one connection; `deliver` never blocks."""

    # Slots: one mailbox per connection, thousands per process.
    __slots__ = (
        "_closed",
        "_drop_logged",
        "_loop",
        "_on_close_overflow",
        "_queue",
        "_thread",
        "_on_message",
        "_timers",
        "dropped",
        "name",
        "on_overflow",
        "overflowed",
        "size",
        "waiting",
    )

    def __init__(
        self,
        size: int,
        on_overflow: _OverflowPolicy,
        *,
        name: str = "",
        on_message: Callable[[], None] | None = None,
        on_close_overflow: Callable[[], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"mailbox size must be a positive int, got {size!r}")
        if on_overflow not in _OVERFLOW_POLICIES:
            raise ValueError(
                f"on_overflow must be one of {_OVERFLOW_POLICIES}, got {on_overflow!r}"
            )
        self.size = size
        self.on_overflow = on_overflow
        self.name = name
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        # A list, not a deque: an empty list is 56 bytes, an empty deque 600, and thousands of
        # mailboxes are mostly empty. pop(0) moves at most size pointers.
        self._queue: list[Any] = []
        #: The waiting messages, oldest first: the same list, for the owner to test without a
        #: call (it is read once per frame and per delivery). Read-only: take with `pop`.
        self.waiting = self._queue
        self._timers: set[TimerRef] | None = None  # created by the first send_after
        #: True once a message arrived while full under the `"close"` policy. A plain
        #: attribute, not a property, for the same reason as `waiting`.
        self.overflowed = False
        self._closed = False
        self._drop_logged = False
        # Called on the loop the moment the "close" policy trips, so the owner can act at once
        # even while it is not waiting on the mailbox (e.g. blocked sending to a slow client).
        self._on_close_overflow = on_close_overflow
        # Called on the loop after every queued message: the owner decides whether to run it
        # now (it is idle) or later (a callback of its own runs and will drain the queue).
        self._on_message = on_message
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        """True once `close` ran: nothing is delivered any more."""
        return self._closed

    def deliver(self, message: Any) -> None:
        """Queue `message` (from any thread); never blocks, a no-op once closed."""
        if threading.get_ident() == self._thread:
            self._put(message)
            return
        try:
            self._loop.call_soon_threadsafe(self._put, message)
        except RuntimeError:  # the loop is closed: the connection is gone, like a dead pid
            pass

    def pop(self) -> Any:
        """Take the oldest waiting message (`IndexError` when there is none)."""
        return self._queue.pop(0)

    def send_after(self, seconds: float, message: Any) -> TimerRef:
        """Deliver `message` after `seconds` (`erlang:send_after`); call it on the loop."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"send_after seconds must be a number, got {seconds!r}")
        if not seconds >= 0 or math.isinf(seconds):
            raise ValueError(f"send_after seconds must be finite and >= 0, got {seconds!r}")
        if threading.get_ident() != self._thread:
            # loop.call_later is not thread-safe; a timer belongs to the connection's callbacks.
            raise RuntimeError("send_after must be called on the connection's event loop")
        if self._closed:
            return TimerRef(None, None)  # like erlang:send_after to a dead pid: nothing happens
        ref = TimerRef(self, None)
        ref._handle = self._loop.call_later(seconds, self._fire, ref, message)
        if self._timers is None:
            self._timers = set()
        self._timers.add(ref)
        return ref

    def close(self) -> None:
        """Stop delivery for good: drop waiting messages and cancel every timer."""
        self._closed = True
        self._queue.clear()
        timers, self._timers = self._timers, None
        for ref in timers or ():
            ref.cancel()

    def _fire(self, ref: TimerRef, message: Any) -> None:
        ref._fired()
        if self._timers is not None:
            self._timers.discard(ref)
        self._put(message)

    def _put(self, message: Any) -> None:
        if self._closed or self.overflowed:
            return
        if len(self._queue) >= self.size:
            if self.on_overflow == "close":
                self.overflowed = True
                if self._on_close_overflow is not None:
                    self._on_close_overflow()
                return
            self._note_drop()
            if self.on_overflow == "drop_newest":
                return
            self._queue.pop(0)
        self._queue.append(message)
        if self._on_message is not None:
            self._on_message()

    def _note_drop(self) -> None:
        self.dropped += 1
        if not self._drop_logged:
            self._drop_logged = True
            _logger.warning(
                "%s: mailbox full (%d messages), on_overflow=%r drops messages "
                "(logged once per connection)",
                self.name or "mailbox",
                self.size,
                self.on_overflow,
            )
