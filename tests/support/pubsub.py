"""Fake connections for pub/sub tests, and a fixture that isolates the process-wide state.

Import the fixture into a test module with
``from tests.support.pubsub import fresh_state_fixture  # noqa: F401``; tests then take a
``fresh_state`` argument (the function has another name than the fixture so that the argument
does not shadow the import, as in :mod:`tests.support.redis`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from broadcaster import BroadcastBackend, Event

from fastapi_nova import pubsub
from fastapi_nova.errors import PubSubUnavailable
from fastapi_nova.pid import Pid, _spawn

#: Bound on every wait for something that should arrive.
TIMEOUT = 5.0
#: How long a test lets a racing step go first where the code has no event to await (see its
#: callers). Mailbox.assert_empty does not use it: it awaits a marker instead.
QUIET = 0.2
#: Topic of the markers Mailbox.assert_empty broadcasts (payload: the channel's name).
FLUSH_TOPIC = "tests.support.flush"


class Mailbox:
    """A fake connection's inbox: ``deliver`` never blocks, every ``get`` is bounded."""

    def __init__(self, *, sees_flush_markers: bool = False) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.sees_flush_markers = sees_flush_markers

    def deliver(self, message: Any) -> None:
        # flush_deliveries' markers reach every member of a channel; only its probe wants them.
        if getattr(message, "topic", None) == FLUSH_TOPIC and not self.sees_flush_markers:
            return
        self.queue.put_nowait(message)

    async def get(self) -> Any:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)

    async def assert_empty(self) -> None:
        """Assert that nothing arrived, once every broadcast made so far has been delivered.

        Non-delivery has no event of its own, so this awaits :func:`flush_deliveries` (an
        event per channel) rather than the wall clock, then looks.
        """
        await flush_deliveries()
        assert self.queue.empty(), f"unexpected message {self.queue.get_nowait()!r}"


async def flush_deliveries() -> None:
    """Return once every message broadcast so far through ``pubsub`` has reached its members.

    A channel delivers in order (one subscription per channel in this process, and its task
    fans each message out to every member before it reads the next), so a marker broadcast
    now on each channel that has local members, once it reaches a probe member, proves that
    everything broadcast earlier on that channel has been delivered. A channel without local
    members delivers to nobody, and ``local_broadcast`` delivers before it returns, so
    neither needs a marker. Covers the process-wide API (``pubsub.join``/``broadcast``), not
    a ``_Hub`` a test built by hand.
    """
    hub = pubsub._STATE.hub
    if hub is None or hub.closed:
        return
    channels = [ch for ch in hub.subscribed_channels if pubsub.get_local_members(ch)]
    if not channels:
        return
    probe_box = Mailbox(sees_flush_markers=True)
    probe = _spawn(probe_box)
    try:
        for channel in channels:
            await pubsub.join(channel, member=probe)
        for channel in channels:
            await pubsub.broadcast(channel, FLUSH_TOPIC, channel)
        waiting = set(channels)
        while waiting:  # each get() is bounded by TIMEOUT
            message = await probe_box.get()
            if message.topic == FLUSH_TOPIC:
                waiting.discard(message.payload)
    finally:
        probe.exit()  # ends every membership of the probe


def connection() -> tuple[Pid, Mailbox]:
    """A fake local connection: its pid and its inbox."""
    mailbox = Mailbox()
    return _spawn(mailbox), mailbox


def node_pid(node: str) -> tuple[Pid, Mailbox]:
    """A fake connection of ``node`` (another node of a test cluster run in this process)."""
    mailbox = Mailbox()
    return Pid(mailbox, node=node), mailbox


@pytest.fixture(name="fresh_state")
def fresh_state_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the test its own process-wide pub/sub state and no $NOVA_PUBSUB_URL."""
    monkeypatch.setattr(pubsub, "_STATE", pubsub.PubSub())
    monkeypatch.delenv("NOVA_PUBSUB_URL", raising=False)


class Bus:
    """A broker shared by several :class:`BusBackend` (several nodes in one test process)."""

    def __init__(self) -> None:
        self.backends: list[BusBackend] = []
        self.drop: Callable[[str, str], bool] = lambda channel, message: False


class BusBackend(BroadcastBackend):
    """An in-memory backend that counts calls and can simulate an outage or a slow connect.

    ``connect`` waits for ``gate`` when one is given (a backend that takes its time).
    """

    def __init__(self, bus: Bus, gate: asyncio.Event | None = None) -> None:
        self.bus = bus
        self.gate = gate
        self.subscribed: set[str] = set()
        self.subscribe_calls: Counter[str] = Counter()
        self.unsubscribe_calls: Counter[str] = Counter()
        self.connecting = asyncio.Event()
        self._connected = True
        self._listeners: list[Callable[[bool], None]] = []

    async def connect(self) -> None:
        self.connecting.set()
        if self.gate is not None:
            await self.gate.wait()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self.bus.backends.append(self)

    async def disconnect(self) -> None:
        if self in self.bus.backends:
            self.bus.backends.remove(self)

    async def subscribe(self, channel: str) -> None:
        self.subscribe_calls[channel] += 1
        self.subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.unsubscribe_calls[channel] += 1
        self.subscribed.discard(channel)

    async def publish(self, channel: str, message: Any) -> None:
        if not self._connected:
            raise PubSubUnavailable("bus is down")
        if self.bus.drop(channel, message):
            return
        for backend in self.bus.backends:
            if backend._connected and channel in backend.subscribed:
                backend._queue.put_nowait(Event(channel, message))

    async def next_published(self) -> Event:
        return await self._queue.get()

    # SupervisedBackend, so that the hub can be told about outages
    @property
    def connected(self) -> bool:
        return self._connected

    def add_state_listener(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def remove_state_listener(self, listener: Callable[[bool], None]) -> None:
        self._listeners.remove(listener)

    def set_connected(self, connected: bool) -> None:
        self._connected = connected
        for listener in list(self._listeners):
            listener(connected)
