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
from fastapi_nova.pid import Pid, spawn

#: Bound on every wait for something that should arrive.
TIMEOUT = 5.0
#: How long we watch for a message that must NOT arrive. Non-delivery has no event to await,
#: so a short bounded wait is the only way to observe it.
QUIET = 0.2


class Mailbox:
    """A fake connection's inbox: ``deliver`` never blocks, every ``get`` is bounded."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def deliver(self, message: Any) -> None:
        self.queue.put_nowait(message)

    async def get(self) -> Any:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)

    async def assert_empty(self) -> None:
        await asyncio.sleep(QUIET)  # see QUIET: waiting for a non-event
        assert self.queue.empty(), f"unexpected message {self.queue.get_nowait()!r}"


def connection() -> tuple[Pid, Mailbox]:
    """A fake local connection: its pid and its inbox."""
    mailbox = Mailbox()
    return spawn(mailbox), mailbox


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
