"""Tests of the pub/sub test support itself: ``Mailbox.assert_empty`` must see a message that
is still in flight when it is called, on memory and on a real Redis, without a fixed wait."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fastapi_nova import pubsub
from tests.support.pubsub import (  # noqa: F401
    connection,
    flush_deliveries,
    fresh_state_fixture,
)
from tests.support.redis import RedisServer, redis_server_fixture  # noqa: F401


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def ps(fresh_state: None, request: pytest.FixtureRequest) -> AsyncIterator[None]:
    if request.param == "memory":
        pubsub.configure("memory://")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        pubsub.configure(server.url)
    yield
    await pubsub.shutdown()


@pytest.mark.anyio
async def test_assert_empty_sees_a_message_still_in_flight(ps: None) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    await pubsub.broadcast("chat", "t", "late")  # returns before the member has it
    with pytest.raises(AssertionError, match="unexpected message.*'late'"):
        await mailbox.assert_empty()
    pid.exit()


@pytest.mark.anyio
async def test_assert_empty_sees_a_message_on_any_subscribed_channel(ps: None) -> None:
    pid, mailbox = connection()
    _, bystander = connection()
    await pubsub.join("a", member=pid)
    await pubsub.join("b", member=pid)
    await pubsub.broadcast("b", "t", "on b")
    await bystander.assert_empty()  # not a member of anything: nothing for it
    with pytest.raises(AssertionError, match="'on b'"):
        await mailbox.assert_empty()
    pid.exit()


@pytest.mark.anyio
async def test_flushing_leaves_members_and_mailboxes_as_they_were(ps: None) -> None:
    first, first_box = connection()
    second, second_box = connection()
    await pubsub.join("chat", member=first)
    await pubsub.join("chat", member=second)

    await first_box.assert_empty()  # the marker reached both members; neither keeps it
    await flush_deliveries()

    assert pubsub.get_local_members("chat") == [first, second]  # the probe is gone
    await pubsub.broadcast("chat", "t", "next")
    assert (await first_box.get()).payload == "next"  # not a marker
    assert (await second_box.get()).payload == "next"
    await second_box.assert_empty()
    first.exit()
    second.exit()


@pytest.mark.anyio
async def test_nothing_to_flush_without_a_hub(fresh_state: None) -> None:
    _, mailbox = connection()
    await mailbox.assert_empty()  # no pub/sub started: returns at once
