"""Tests of fastapi_nova.redis_backend against a real redis-server, killed and restarted.

The first two tests show the defects of broadcaster's own RedisBackend that made us write
ours; the rest show that ours does not have them and what it does while Redis is away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis
import redis.asyncio
from broadcaster import Broadcast

from fastapi_nova import hub as hub_module
from fastapi_nova import pubsub, redis_backend
from fastapi_nova.errors import PubSubUnavailable
from fastapi_nova.hub import _Hub
from fastapi_nova.redis_backend import _COMMAND_TIMEOUT, _CONNECT_TIMEOUT, _RedisBackend
from tests.support.proxy import HoldingProxy
from tests.support.pubsub import connection, fresh_state_fixture, node_pid  # noqa: F401
from tests.support.redis import RedisServer, redis_server_fixture  # noqa: F401

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

#: Bound on every wait for something that should arrive (reconnects included).
TIMEOUT = 10.0
#: How long we wait to show that a message does NOT arrive (a non-event has nothing to await).
QUIET = 1.0

REDIS_PY_MAJOR = int(redis.__version__.split(".")[0])


async def numsub(url: str, channel: str) -> int:
    """How many subscribers Redis itself counts for ``channel``."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        [(_, count)] = await client.pubsub_numsub(channel)
        return int(count)
    finally:
        await client.aclose()


def connected_event(backend: _RedisBackend) -> asyncio.Event:
    """An event set the next time ``backend`` reports itself connected."""
    event = asyncio.Event()
    backend.add_state_listener(lambda up: event.set() if up else None)
    return event


def down_event(backend: _RedisBackend) -> asyncio.Event:
    event = asyncio.Event()
    backend.add_state_listener(lambda up: None if up else event.set())
    return event


@pytest.fixture
async def ours(redis_server: RedisServer) -> AsyncIterator[tuple[Broadcast, _RedisBackend]]:
    backend = _RedisBackend(redis_server.url)
    broadcast = Broadcast(backend=backend)
    await broadcast.connect()
    yield broadcast, backend
    await broadcast.disconnect()


def reap_upstream_listener(broadcast: Broadcast) -> None:
    # Upstream's listener task dies with the connection and nobody reads its exception;
    # read it here so asyncio does not log "Task exception was never retrieved" later.
    task = getattr(broadcast._backend, "_listener", None)
    if task is not None and task.done() and not task.cancelled():
        task.exception()


# -- the upstream defects ------------------------------------------------------------------


@pytest.mark.skipif(REDIS_PY_MAJOR < 8, reason="the defect appears with redis-py 8")
async def test_upstream_first_subscription_never_receives(redis_server: RedisServer) -> None:
    """broadcaster 0.3.1's RedisBackend under redis-py 8: the first channel gets nothing.

    When this test starts failing, upstream is fixed and our workaround
    (fastapi_nova.redis_backend) can be reconsidered.
    """
    broadcast = Broadcast(redis_server.url)  # upstream's own RedisBackend
    await broadcast.connect()
    try:
        async with broadcast.subscribe("first") as subscriber:
            await broadcast.publish("first", "hello")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(QUIET):
                    await subscriber.get()
    finally:
        await broadcast.disconnect()
        reap_upstream_listener(broadcast)


async def test_upstream_never_receives_again_after_a_redis_restart(
    redis_server: RedisServer,
) -> None:
    """broadcaster 0.3.1's RedisBackend: after Redis restarts, its subscribers hang forever.

    When this test starts failing, upstream is fixed and our workaround
    (fastapi_nova.redis_backend) can be reconsidered.
    """
    broadcast = Broadcast(redis_server.url)
    await broadcast.connect()
    try:
        async with broadcast.subscribe("warm-up"), broadcast.subscribe("chat") as subscriber:
            # "warm-up" takes the first-subscription defect, so "chat" works until the restart.
            await broadcast.publish("chat", "before")
            async with asyncio.timeout(TIMEOUT):
                assert (await subscriber.get()).message == "before"

            redis_server.stop()
            # Let the outage be seen: upstream's listener task ends when its connection fails
            # (a restart quicker than its one reconnect attempt would go unnoticed).
            listener = broadcast._backend._listener  # type: ignore[attr-defined]
            async with asyncio.timeout(TIMEOUT):
                await asyncio.wait({listener})
            redis_server.start()

            for _ in range(5):  # upstream's pooled connection is stale: its first PUBLISH fails
                try:
                    await broadcast.publish("chat", "after")
                    break
                except redis.exceptions.ConnectionError:
                    continue
            assert await numsub(redis_server.url, "chat") == 0  # nobody resubscribed
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(QUIET):
                    await subscriber.get()
    finally:
        await broadcast.disconnect()
        reap_upstream_listener(broadcast)


# -- ours ----------------------------------------------------------------------------------


async def test_first_subscription_receives(ours: tuple[Broadcast, _RedisBackend]) -> None:
    broadcast, _ = ours
    async with broadcast.subscribe("first") as subscriber:
        await broadcast.publish("first", "hello")
        async with asyncio.timeout(TIMEOUT):
            assert (await subscriber.get()).message == "hello"


async def test_receives_again_after_a_redis_restart(
    ours: tuple[Broadcast, _RedisBackend], redis_server: RedisServer
) -> None:
    broadcast, backend = ours
    async with broadcast.subscribe("chat") as subscriber:
        down, back = down_event(backend), connected_event(backend)
        redis_server.stop()
        async with asyncio.timeout(TIMEOUT):
            await down.wait()  # a real outage, seen by the supervisor
        redis_server.start()
        async with asyncio.timeout(TIMEOUT):
            await back.wait()
        assert await numsub(redis_server.url, "chat") == 1
        await broadcast.publish("chat", "after")
        async with asyncio.timeout(TIMEOUT):
            assert (await subscriber.get()).message == "after"


async def test_publish_raises_promptly_while_redis_is_down(
    ours: tuple[Broadcast, _RedisBackend], redis_server: RedisServer
) -> None:
    broadcast, backend = ours
    loop = asyncio.get_running_loop()
    down = down_event(backend)
    redis_server.stop()

    started = loop.time()  # the supervisor may not have noticed yet: still bounded
    with pytest.raises(PubSubUnavailable, match="Redis at redis://127.0.0.1"):
        await broadcast.publish("chat", "lost?")
    assert loop.time() - started < _COMMAND_TIMEOUT + 0.5

    async with asyncio.timeout(TIMEOUT):
        await down.wait()
    assert not backend.connected
    started = loop.time()
    with pytest.raises(PubSubUnavailable, match="unreachable; message to 'chat' was not sent"):
        await broadcast.publish("chat", "lost?")
    assert loop.time() - started < 0.1


async def test_a_silent_redis_is_detected_by_ping_and_publish_is_bounded(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_backend, "_PING_INTERVAL", 0.2)
    backend = _RedisBackend(redis_server.url)
    broadcast = Broadcast(backend=backend)
    await broadcast.connect()
    loop = asyncio.get_running_loop()
    try:
        async with broadcast.subscribe("chat") as subscriber:
            down, back = down_event(backend), connected_event(backend)
            redis_server.pause()  # the socket stays open: only an unanswered PING shows it
            started = loop.time()
            with pytest.raises(PubSubUnavailable):
                await broadcast.publish("chat", "lost?")
            assert loop.time() - started < _COMMAND_TIMEOUT + 0.5
            async with asyncio.timeout(TIMEOUT):
                await down.wait()

            redis_server.resume()
            async with asyncio.timeout(TIMEOUT):
                await back.wait()
            await broadcast.publish("chat", "back")
            async with asyncio.timeout(TIMEOUT):
                # The frozen server may still run the timed-out PUBLISH it had buffered: a
                # timeout means "not confirmed", so "lost?" is allowed to arrive first.
                messages = [(await subscriber.get()).message]
                if messages == ["lost?"]:
                    messages.append((await subscriber.get()).message)
            assert messages[-1] == "back"
    finally:
        redis_server.resume()
        await broadcast.disconnect()


async def test_connect_while_redis_is_down_then_it_comes_up(redis_server: RedisServer) -> None:
    redis_server.stop()
    backend = _RedisBackend(redis_server.url)
    broadcast = Broadcast(backend=backend)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await broadcast.connect()  # does not raise: the process keeps serving
    assert loop.time() - started < _CONNECT_TIMEOUT + 0.5
    assert not backend.connected
    try:
        async with broadcast.subscribe("chat") as subscriber:  # recorded for later
            assert backend.subscriptions == {"chat"}
            back = connected_event(backend)
            redis_server.start()
            async with asyncio.timeout(TIMEOUT):
                await back.wait()
            await broadcast.publish("chat", "late")
            async with asyncio.timeout(TIMEOUT):
                assert (await subscriber.get()).message == "late"
    finally:
        await broadcast.disconnect()


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    for failures in range(12):
        ceiling = min(redis_backend._BACKOFF_MAX, redis_backend._BACKOFF_INITIAL * 2**failures)
        for _ in range(20):
            assert 0.75 * ceiling <= redis_backend._backoff_delay(failures) <= ceiling
    assert redis_backend._backoff_delay(10_000) <= redis_backend._BACKOFF_MAX
    assert _RedisBackend("redis://127.0.0.1:1/0").backoff is redis_backend._backoff_delay


async def test_reconnect_attempts_back_off_while_redis_is_down(
    redis_server: RedisServer,
) -> None:
    seen: list[int] = []
    four = asyncio.Event()

    def record(failures: int) -> float:
        seen.append(failures)
        if len(seen) >= 4:
            four.set()
        return 0.01  # keep the test quick; the delays themselves are tested above

    backend = _RedisBackend(redis_server.url, backoff=record)
    broadcast = Broadcast(backend=backend)
    await broadcast.connect()
    try:
        redis_server.stop()
        async with asyncio.timeout(TIMEOUT):
            await four.wait()
    finally:
        await broadcast.disconnect()
    assert seen[:4] == [0, 1, 2, 3]  # each failed attempt waits longer than the one before


async def test_only_current_subscriptions_are_restored(
    ours: tuple[Broadcast, _RedisBackend], redis_server: RedisServer
) -> None:
    _, backend = ours
    await backend.subscribe("kept")
    await backend.subscribe("dropped")
    assert await numsub(redis_server.url, "dropped") == 1
    down = down_event(backend)
    redis_server.stop()
    async with asyncio.timeout(TIMEOUT):
        await down.wait()
    await backend.unsubscribe("dropped")  # during the outage
    await backend.subscribe("added")  # during the outage
    back = connected_event(backend)
    redis_server.start()
    async with asyncio.timeout(TIMEOUT):
        await back.wait()
    assert backend.subscriptions == {"kept", "added"}
    for channel, expected in [("kept", 1), ("added", 1), ("dropped", 0)]:
        assert await numsub(redis_server.url, channel) == expected, channel


async def test_changes_during_the_restore_are_not_lost(redis_server: RedisServer) -> None:
    # A proxy holds Redis's answer to the restoring SUBSCRIBE, so that a join of a new channel
    # and a leave of an old one arrive while the restore waits for it (they then only update
    # the backend's channel set; the restore and its catch-up must still honour them).
    proxy = HoldingProxy(redis_server.port)
    await proxy.start()
    backend = _RedisBackend(f"redis://127.0.0.1:{proxy.port}/0")
    broadcast = Broadcast(backend=backend)
    await broadcast.connect()
    try:
        await backend.subscribe("left")
        down = down_event(backend)
        redis_server.stop()
        async with asyncio.timeout(TIMEOUT):
            await down.wait()
        proxy.arm(b"SUBSCRIBE")
        back = connected_event(backend)
        redis_server.start()
        async with asyncio.timeout(TIMEOUT):
            await proxy.triggered.wait()  # the restore sent SUBSCRIBE left and waits
        assert not backend.connected
        await backend.subscribe("late")
        await backend.unsubscribe("left")
        proxy.release()
        async with asyncio.timeout(TIMEOUT):
            await back.wait()
        # Confirmed once the session reads again, so after every command sent before it.
        await backend.subscribe("probe")
        assert backend.subscriptions == {"late", "probe"}
        for channel, expected in [("late", 1), ("left", 0), ("probe", 1)]:
            assert await numsub(redis_server.url, channel) == expected, channel
    finally:
        await broadcast.disconnect()
        await proxy.close()


async def test_connects_again_after_a_disconnect(redis_server: RedisServer) -> None:
    # As a Broadcast does when an app's lifespan runs twice (a TestClient entered twice).
    backend = _RedisBackend(redis_server.url)
    broadcast = Broadcast(backend=backend)
    await broadcast.connect()
    await broadcast.disconnect()
    async with asyncio.timeout(TIMEOUT):
        await broadcast.connect()
    try:
        assert backend.connected
        async with broadcast.subscribe("again") as subscriber:
            await broadcast.publish("again", "hello")
            async with asyncio.timeout(TIMEOUT):
                assert (await subscriber.get()).message == "hello"
    finally:
        await broadcast.disconnect()


async def test_unsubscribe_releases_the_redis_subscription(
    ours: tuple[Broadcast, _RedisBackend], redis_server: RedisServer
) -> None:
    _, backend = ours
    await backend.subscribe("chat")
    assert await numsub(redis_server.url, "chat") == 1
    await backend.unsubscribe("chat")
    assert await numsub(redis_server.url, "chat") == 0


# -- the pub/sub layer through an outage ---------------------------------------------------


@pytest.mark.usefixtures("fresh_state")
async def test_pubsub_through_a_redis_outage(redis_server: RedisServer) -> None:
    pubsub.configure(redis_server.url)
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    hub = pubsub._current_hub()
    assert hub is not None and isinstance(hub.backend, _RedisBackend)
    loop = asyncio.get_running_loop()
    try:
        redis_server.stop()
        started = loop.time()
        with pytest.raises(PubSubUnavailable):
            await pubsub.broadcast("chat", "t", "lost?")
        assert loop.time() - started < hub_module.PUBLISH_TIMEOUT

        await pubsub.local_broadcast("chat", "t", "local still works")
        assert (await mailbox.get()).payload == "local still works"

        back = connected_event(hub.backend)
        redis_server.start()
        async with asyncio.timeout(TIMEOUT):
            await back.wait()
        await pubsub.broadcast("chat", "t", "back")
        assert (await mailbox.get()).payload == "back"
    finally:
        pid.exit()
        await pubsub.shutdown()


async def test_members_of_other_nodes_come_back_after_a_redis_restart(
    redis_server: RedisServer,
) -> None:
    make: Callable[[str], _Hub] = lambda node: _Hub(  # noqa: E731
        redis_server.url, node=node, heartbeat_interval=0.1
    )
    a, b = make("node-a"), make("node-b")
    pa, _ = node_pid("node-a")
    pb, _ = node_pid("node-b")
    await a.join("room", pa)
    await b.join("room", pb)
    try:
        for hub in (a, b):
            await hub.wait_until(lambda h=hub: len(h.get_members("room")) == 2, TIMEOUT)
        redis_server.stop()
        for hub in (a, b):  # each node loses sight of the other
            await hub.wait_until(lambda h=hub: len(h.get_members("room")) == 1, TIMEOUT)
        redis_server.start()
        for hub in (a, b):  # and both announce themselves again on reconnect
            await hub.wait_until(lambda h=hub: len(h.get_members("room")) == 2, TIMEOUT)
    finally:
        await a.close()
        await b.close()


async def test_a_channel_redis_cannot_carry_is_refused_and_never_blocks_a_restore(
    ours: tuple[Broadcast, _RedisBackend], redis_server: RedisServer
) -> None:
    broadcast, backend = ours
    with pytest.raises(ValueError, match=r"Redis cannot subscribe 'room-\\ud800': not valid"):
        await backend.subscribe("room-\ud800")
    assert backend.subscriptions == frozenset()  # not kept: nothing to fail on at a restore
    async with broadcast.subscribe("good") as subscriber:
        down = down_event(backend)
        redis_server.stop()
        async with asyncio.timeout(TIMEOUT):
            await down.wait()
        back = connected_event(backend)
        redis_server.start()
        async with asyncio.timeout(TIMEOUT):
            await back.wait()
        await broadcast.publish("good", "restored")
        async with asyncio.timeout(TIMEOUT):
            assert (await subscriber.get()).message == "restored"


@pytest.mark.usefixtures("fresh_state")
async def test_a_bad_channel_name_cannot_poison_pubsub_across_a_restart(
    redis_server: RedisServer,
) -> None:
    # Issue 8 item 1: join("room-\ud800") used to be kept, and every broadcast then raised
    # PubSubUnavailable after the next Redis restart.
    pubsub.configure(redis_server.url)
    pid, mailbox = connection()
    try:
        with pytest.raises(ValueError, match="not valid Unicode"):
            await pubsub.join("room-\ud800", member=pid)
        await pubsub.join("room", member=pid)
        hub = pubsub._current_hub()
        assert hub is not None and isinstance(hub.backend, _RedisBackend)
        down = down_event(hub.backend)
        redis_server.stop()
        async with asyncio.timeout(TIMEOUT):
            await down.wait()
        back = connected_event(hub.backend)
        redis_server.start()
        async with asyncio.timeout(TIMEOUT):
            await back.wait()
        await pubsub.broadcast("room", "t", "after the restart")
        assert (await mailbox.get()).payload == "after the restart"
    finally:
        pid.exit()
        await pubsub.shutdown()
