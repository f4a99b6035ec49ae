"""Fake connections for pub/sub tests, and a fixture that isolates the process-wide state.

Import the fixture into a test module with
``from tests.support.pubsub import fresh_state_fixture  # noqa: F401``; tests then take a
``fresh_state`` argument (the function has another name than the fixture so that the argument
does not shadow the import, as in :mod:`tests.support.redis`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fastapi_nova import pubsub
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
    monkeypatch.setattr(pubsub, "_STATE", pubsub._State())
    monkeypatch.delenv("NOVA_PUBSUB_URL", raising=False)
