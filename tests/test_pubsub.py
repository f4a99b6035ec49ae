"""Tests of fastapi_nova.pubsub: membership, delivery, JSON, loop binding and gossip."""

from __future__ import annotations

import asyncio
import functools
import math
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio.from_thread
import pytest
from broadcaster import BroadcastBackend, Event

from fastapi_nova import hub as hub_module
from fastapi_nova import pubsub
from fastapi_nova.errors import NotInConnectionError, PubSubUnavailable
from fastapi_nova.pid import Pid, reset_current, set_current
from fastapi_nova.pubsub import Hub, PubSubMessage
from tests.support.pubsub import (  # noqa: F401
    QUIET,
    TIMEOUT,
    connection,
    fresh_state_fixture,
    node_pid,
)
from tests.support.redis import RedisServer, redis_server_fixture  # noqa: F401


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend_url(request: pytest.FixtureRequest) -> str:
    """The pub/sub URL under test: parametrized over memory and a real Redis."""
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
async def ps(fresh_state: None, backend_url: str) -> AsyncIterator[str]:
    """The module-level API configured for ``backend_url``, shut down after the test."""
    pubsub.configure(backend_url)
    yield backend_url
    await pubsub.shutdown()


# -- delivery ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_member_receives_message_from_outside_a_connection(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)

    await pubsub.broadcast("chat", "message", "hi")

    message = await mailbox.get()
    assert isinstance(message, PubSubMessage)
    assert message == ("nova_pubsub", "chat", None, "message", "hi")
    assert message._fields == ("tag", "channel", "sender", "topic", "payload")
    match message:
        case ("nova_pubsub", "chat", sender, "message", text):
            assert sender is None and text == "hi"
        case _:
            pytest.fail(f"pattern did not match {message!r}")
    pid.exit()


@pytest.mark.anyio
async def test_sender_is_included_and_is_its_live_pid(ps: str) -> None:
    sender, sender_box = connection()
    other, other_box = connection()
    await pubsub.join("chat", member=sender)
    await pubsub.join("chat", member=other)

    token = set_current(sender)
    try:
        await pubsub.broadcast("chat", "message", {"text": "hi"})
    finally:
        reset_current(token)

    for box in (sender_box, other_box):
        message = await box.get()
        assert message.sender is sender  # the live local object, not a copy
        assert message.payload == {"text": "hi"}
    sender.exit()
    other.exit()


@pytest.mark.anyio
async def test_topic_is_not_a_filter(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("room", member=pid)
    await pubsub.broadcast("room", "joined", 1)
    await pubsub.broadcast("room", "message", 2)
    assert [(m.topic, m.payload) for m in [await mailbox.get(), await mailbox.get()]] == [
        ("joined", 1),
        ("message", 2),
    ]
    pid.exit()


@pytest.mark.anyio
async def test_non_members_and_other_channels_receive_nothing(ps: str) -> None:
    member, member_box = connection()
    _, stranger_box = connection()
    await pubsub.join("a", member=member)
    await pubsub.broadcast("b", "t", 1)
    await pubsub.broadcast("a", "t", 2)
    assert (await member_box.get()).payload == 2
    await stranger_box.assert_empty()
    await member_box.assert_empty()
    member.exit()


# -- JSON ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({1, 2}, "got set"),
        (object(), "got object"),
        ({"when": b"bytes"}, "got dict"),
        (math.nan, "got float"),
    ],
)
async def test_payload_must_be_json(ps: str, payload: Any, match: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    with pytest.raises(TypeError, match=rf"pubsub payload must be JSON-serialisable.*{match}"):
        await pubsub.broadcast("chat", "message", payload)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        await pubsub.local_broadcast("chat", "message", payload)
    await mailbox.assert_empty()
    pid.exit()


@pytest.mark.anyio
async def test_payload_is_json_round_tripped_and_copied_per_member(ps: str) -> None:
    first, first_box = connection()
    second, second_box = connection()
    await pubsub.join("chat", member=first)
    await pubsub.join("chat", member=second)
    payload = {"tuple": (1, 2), 3: "int key", "nested": [{"x": None}], "text": "héllo\n"}

    await pubsub.broadcast("chat", "t", payload)

    expected = {"tuple": [1, 2], "3": "int key", "nested": [{"x": None}], "text": "héllo\n"}
    got_first = (await first_box.get()).payload
    got_second = (await second_box.get()).payload
    assert got_first == got_second == expected
    got_first["nested"].append("mutated")  # each member owns its copy, as Erlang processes do
    assert got_second == expected
    first.exit()
    second.exit()


@pytest.mark.anyio
async def test_channel_and_topic_must_be_str(ps: str) -> None:
    pid, _ = connection()
    with pytest.raises(TypeError, match="pubsub channel must be a str, got int"):
        await pubsub.join(1, member=pid)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pubsub topic must be a str, got bytes"):
        await pubsub.broadcast("chat", b"t", 1)  # type: ignore[arg-type]
    pid.exit()


# -- membership ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_join_twice_is_one_membership(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    await pubsub.join("chat", member=pid)
    assert pubsub.get_local_members("chat") == [pid]
    await pubsub.broadcast("chat", "t", "once")
    assert (await mailbox.get()).payload == "once"
    await mailbox.assert_empty()
    pid.exit()


@pytest.mark.anyio
async def test_leave_returns_whether_it_was_a_member(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    assert await pubsub.leave("chat", member=pid) is True
    assert await pubsub.leave("chat", member=pid) is False
    assert await pubsub.leave("never-joined", member=pid) is False
    assert pubsub.get_local_members("chat") == []
    await pubsub.broadcast("chat", "t", 1)
    await mailbox.assert_empty()
    pid.exit()


@pytest.mark.anyio
async def test_join_and_leave_outside_a_connection_need_a_member(ps: str) -> None:
    with pytest.raises(NotInConnectionError, match=r"pubsub\.join\(\) was called outside a Web"):
        await pubsub.join("chat")
    with pytest.raises(NotInConnectionError, match=r"leave\(channel, member=pid\)"):
        await pubsub.leave("chat")


@pytest.mark.anyio
async def test_join_and_leave_default_to_the_current_connection(ps: str) -> None:
    pid, _ = connection()
    token = set_current(pid)
    try:
        await pubsub.join("chat")
        assert pubsub.get_local_members("chat") == [pid]
        assert await pubsub.leave("chat") is True
    finally:
        reset_current(token)
    assert pubsub.get_local_members("chat") == []
    pid.exit()


@pytest.mark.anyio
async def test_members_in_join_order_and_get_members_on_one_node(ps: str) -> None:
    pids = [connection()[0] for _ in range(3)]
    for pid in pids:
        await pubsub.join("chat", member=pid)
    assert pubsub.get_local_members("chat") == pids
    assert pubsub.get_members("chat") == pids
    assert pubsub.get_members("nobody") == []
    for pid in pids:
        pid.exit()


@pytest.mark.anyio
async def test_exit_removes_every_membership_and_the_subscription(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("a", member=pid)
    await pubsub.join("b", member=pid)
    hub = pubsub.current_hub()
    assert hub is not None and sorted(hub.subscribed_channels) == ["a", "b"]

    pid.exit()

    assert pubsub.get_local_members("a") == pubsub.get_local_members("b") == []
    await hub.wait_until(lambda: hub.subscribed_channels == [], TIMEOUT)


@pytest.mark.anyio
async def test_a_dead_pid_joins_nothing_and_a_remote_pid_is_refused(ps: str) -> None:
    dead, _ = connection()
    dead.exit()
    await pubsub.join("chat", member=dead)
    assert pubsub.get_local_members("chat") == []
    with pytest.raises(ValueError, match="belongs to node 'elsewhere'"):
        await pubsub.join("chat", member=Pid(node="elsewhere", id="x"))


@pytest.mark.anyio
async def test_local_broadcast_reaches_local_members_only_without_a_backend(
    fresh_state: None,
) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    await pubsub.shutdown()  # no hub at all: local_broadcast must not need one
    assert pubsub.current_hub() is None

    await pubsub.local_broadcast("chat", "t", (1, "two"))

    assert await mailbox.get() == ("nova_pubsub", "chat", None, "t", [1, "two"])
    assert pubsub.current_hub() is None
    pid.exit()


# -- the backend subscription --------------------------------------------------------------


class Bus:
    """A broker shared by several :class:`BusBackend` (several nodes in one test process)."""

    def __init__(self) -> None:
        self.backends: list[BusBackend] = []
        self.drop: Callable[[str, str], bool] = lambda channel, message: False


class BusBackend(BroadcastBackend):
    """An in-memory backend that counts calls and can simulate an outage."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.subscribed: set[str] = set()
        self.subscribe_calls: Counter[str] = Counter()
        self.unsubscribe_calls: Counter[str] = Counter()
        self._connected = True
        self._listeners: list[Callable[[bool], None]] = []

    async def connect(self) -> None:
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self.bus.backends.append(self)

    async def disconnect(self) -> None:
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


@pytest.mark.anyio
async def test_one_backend_subscription_per_channel_not_per_member() -> None:
    backend = BusBackend(Bus())
    hub = Hub("bus://", backend=backend, gossip=False)
    pids = [connection()[0] for _ in range(3)]
    for pid in pids:
        await hub.join("room", pid)
    assert backend.subscribe_calls == Counter({"nova.ch.room": 1})

    assert await hub.leave("room", pids[0])
    pids[1].exit()
    assert backend.unsubscribe_calls == Counter()
    assert await hub.leave("room", pids[2])  # the last one: waits for the unsubscription
    assert backend.unsubscribe_calls == Counter({"nova.ch.room": 1})
    assert backend.subscribed == set()
    await hub.close()
    for pid in pids:
        pid.exit()


@pytest.mark.anyio
@pytest.mark.redis
async def test_one_redis_subscription_per_channel(
    fresh_state: None, redis_server: RedisServer
) -> None:
    import redis.asyncio

    pubsub.configure(redis_server.url)
    pids = [connection()[0] for _ in range(3)]
    for pid in pids:
        await pubsub.join("room", member=pid)
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        assert await client.pubsub_numsub("nova.ch.room") == [(b"nova.ch.room", 1)]
        for pid in pids:
            assert await pubsub.leave("room", member=pid)
        assert await client.pubsub_numsub("nova.ch.room") == [(b"nova.ch.room", 0)]
    finally:
        await client.aclose()
        await pubsub.shutdown()
    for pid in pids:
        pid.exit()


@pytest.mark.anyio
async def test_rejoining_while_the_unsubscription_runs_keeps_receiving() -> None:
    backend = BusBackend(Bus())
    hub = Hub("bus://", backend=backend, gossip=False)
    first, _ = connection()
    second, second_box = connection()
    await hub.join("room", first)
    first.exit()  # starts the unsubscription without waiting for it
    await hub.join("room", second)
    await hub.broadcast("room", "t", "still here", None)
    assert (await second_box.get()).payload == "still here"
    await hub.close()
    second.exit()


# -- connecting ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_lazy_connect_without_startup(ps: str) -> None:
    assert pubsub.current_hub() is None
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    hub = pubsub.current_hub()
    assert hub is not None and hub.connected and hub.url == ps
    await pubsub.broadcast("chat", "t", 1)
    assert (await mailbox.get()).payload == 1
    pid.exit()


@pytest.mark.anyio
async def test_broadcast_connects_lazily_too(ps: str) -> None:
    await pubsub.broadcast("nobody", "t", 1)
    hub = pubsub.current_hub()
    assert hub is not None and hub.connected


@pytest.mark.anyio
async def test_startup_and_shutdown_then_lazy_reconnect(ps: str) -> None:
    await pubsub.startup()
    first = pubsub.current_hub()
    assert first is not None and first.connected
    await pubsub.startup()
    assert pubsub.current_hub() is first  # idempotent

    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    await pubsub.shutdown()
    assert pubsub.current_hub() is None and first.closed
    assert pubsub.get_local_members("chat") == [pid]  # membership belongs to the process

    await pubsub.broadcast("chat", "t", "again")  # reconnects, resubscribing "chat"
    assert (await mailbox.get()).payload == "again"
    assert pubsub.current_hub() is not first
    pid.exit()


@pytest.mark.anyio
async def test_a_cancelled_caller_does_not_fail_others_sharing_the_start(
    fresh_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    real_start = Hub._start

    async def slow_start(self: Hub) -> None:
        entered.set()
        await release.wait()
        await real_start(self)

    monkeypatch.setattr(Hub, "_start", slow_start)
    (cancelled, _), (patient, _) = connection(), connection()
    first = asyncio.create_task(pubsub.join("chat", member=cancelled))
    second = asyncio.create_task(pubsub.join("chat", member=patient))
    async with asyncio.timeout(TIMEOUT):
        await entered.wait()
    first.cancel()  # e.g. its connection's task was cancelled during a slow connect
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    async with asyncio.timeout(TIMEOUT):
        await second  # shares the hub's start, which the other caller's cancel must not stop
    hub = pubsub.current_hub()
    assert hub is not None and hub.connected
    assert pubsub.get_local_members("chat") == [patient]
    await pubsub.shutdown()
    cancelled.exit()
    patient.exit()


@pytest.mark.anyio
async def test_closing_a_starting_hub_tells_its_waiters_it_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered = asyncio.Event()

    async def never_connects(self: Hub) -> None:
        entered.set()
        await asyncio.Event().wait()  # only close() ends this start

    monkeypatch.setattr(Hub, "_start", never_connects)
    hub = Hub("memory://", gossip=False)
    waiting = asyncio.create_task(hub.start())
    async with asyncio.timeout(TIMEOUT):
        await entered.wait()
    await hub.close()
    with pytest.raises(PubSubUnavailable, match="closed while starting"):
        async with asyncio.timeout(TIMEOUT):
            await waiting  # not a CancelledError: nobody cancelled the caller


def test_hub_rebinds_to_a_new_event_loop(fresh_state: None) -> None:
    """Each asyncio.run is a new loop, as each TestClient portal is."""
    pid, mailbox = connection()
    asyncio.run(pubsub.join("chat", member=pid))
    first = pubsub.current_hub()
    assert first is not None

    async def second_loop() -> Any:
        await pubsub.broadcast("chat", "t", "on the new loop")
        message = await mailbox.get()
        await pubsub.shutdown()
        return message

    message = asyncio.run(second_loop())
    assert message.payload == "on the new loop"
    assert first.closed
    pid.exit()


@pytest.mark.anyio
async def test_hub_on_another_running_loop_is_closed_there(fresh_state: None) -> None:
    pid, mailbox = connection()
    with anyio.from_thread.start_blocking_portal("asyncio") as portal:
        portal.call(functools.partial(pubsub.join, "chat", member=pid))
        other = pubsub.current_hub()
        assert other is not None and other.connected

        await pubsub.broadcast("chat", "t", "here")  # on this test's loop

        assert (await mailbox.get()).payload == "here"
        assert other.closed and pubsub.current_hub() is not other
    await pubsub.shutdown()
    pid.exit()


# -- configuration -------------------------------------------------------------------------


def test_configure_rejects_an_unknown_scheme(fresh_state: None) -> None:
    with pytest.raises(ValueError, match=r"unsupported pub/sub URL 'nats://x': the scheme must"):
        pubsub.configure("nats://x")


@pytest.mark.anyio
async def test_url_from_environment(
    fresh_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_PUBSUB_URL", "memory://")
    await pubsub.startup()
    hub = pubsub.current_hub()
    assert hub is not None and hub.url == "memory://"
    monkeypatch.setenv("NOVA_PUBSUB_URL", "nope://")
    with pytest.raises(ValueError, match="'nope://'"):
        await pubsub.broadcast("chat", "t", 1)
    await pubsub.shutdown()


def test_redis_url_without_redis_installed_names_the_extra(
    fresh_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi_nova.redis_backend import RedisBackend

    for name in [m for m in sys.modules if m == "redis" or m.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    with pytest.raises(ImportError, match=r"pip install 'fastapi-nova\[redis\]'"):
        pubsub.configure("redis://127.0.0.1:1/0")
    with pytest.raises(ImportError, match=r"pip install 'fastapi-nova\[redis\]'"):
        RedisBackend("redis://127.0.0.1:1/0")


# -- faults (a supervised backend) ---------------------------------------------------------


@pytest.mark.anyio
async def test_broadcast_raises_while_the_backend_is_down_local_broadcast_works() -> None:
    backend = BusBackend(Bus())
    hub = Hub("bus://", backend=backend, gossip=False)
    pid, mailbox = connection()
    await hub.join("chat", pid)

    backend.set_connected(False)
    with pytest.raises(PubSubUnavailable, match="unreachable"):
        await hub.broadcast("chat", "t", 1, None)
    assert hub.local_broadcast("chat", "t", 2, None) == 1
    assert (await mailbox.get()).payload == 2

    backend.set_connected(True)
    await hub.broadcast("chat", "t", 3, None)
    assert (await mailbox.get()).payload == 3
    await hub.close()
    pid.exit()


@pytest.mark.anyio
async def test_a_hanging_backend_raises_within_the_publish_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Hanging(BusBackend):
        async def publish(self, channel: str, message: Any) -> None:
            await asyncio.Event().wait()  # never returns: the hub must bound it

    monkeypatch.setattr(hub_module, "PUBLISH_TIMEOUT", 0.1)
    hub = Hub("bus://", backend=Hanging(Bus()), gossip=False)
    with pytest.raises(PubSubUnavailable, match=r"did not take the message within 0\.1s"):
        await hub.broadcast("chat", "t", 1, None)
    await hub.close()


# -- gossip: members on every node ---------------------------------------------------------

INTERVAL = 0.1  # heartbeat interval of the test hubs, so that a dead node goes in ~0.4 s


@pytest.fixture(params=["bus", pytest.param("redis", marks=pytest.mark.redis)])
def make_node(request: pytest.FixtureRequest) -> Iterator[Callable[..., Hub]]:
    """Builds hubs that act as separate nodes on one shared backend (a bus, or Redis)."""
    bus = Bus()
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None

    def make(node: str, **options: Any) -> Hub:
        backend = BusBackend(bus) if url is None else None
        options.setdefault("heartbeat_interval", INTERVAL)
        return Hub(url or "bus://", node=node, backend=backend, gossip=True, **options)

    yield make


def ids(pids: list[Pid]) -> list[tuple[str, str]]:
    return [(pid.node, pid.id) for pid in pids]


@pytest.mark.anyio
async def test_rejoining_a_channel_released_before_it_was_subscribed(
    make_node: Callable[[str], Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = make_node("node-a")
    await hub.start()
    backend = hub.backend
    assert backend is not None
    real_subscribe = backend.subscribe
    held, release = asyncio.Event(), asyncio.Event()

    async def first_subscribe_is_slow(channel: str) -> None:
        if not held.is_set():
            held.set()
            await release.wait()
        await real_subscribe(channel)

    monkeypatch.setattr(backend, "subscribe", first_subscribe_is_slow)
    first, _ = node_pid("node-a")
    second, box = node_pid("node-a")
    joining = asyncio.create_task(hub.join("room", first))
    async with asyncio.timeout(TIMEOUT):
        await held.wait()
    first.exit()  # the channel is released while its subscription is still being made
    rejoining = asyncio.create_task(hub.join("room", second))
    await asyncio.wait({rejoining}, timeout=QUIET)  # a subscription of its own may go first
    release.set()
    async with asyncio.timeout(TIMEOUT):
        await joining
        await rejoining

    await hub.broadcast("room", "t", "still subscribed", None)

    assert (await box.get()).payload == "still subscribed"
    await hub.close()
    second.exit()


@pytest.mark.anyio
async def test_members_of_every_node_converge(make_node: Callable[[str], Hub]) -> None:
    a, b = make_node("node-a"), make_node("node-b")
    await a.start()
    await b.start()
    pa, _ = node_pid("node-a")
    pb, _ = node_pid("node-b")
    await a.join("room", pa)
    await b.join("room", pb)

    everyone = sorted(ids([pa, pb]))
    for hub in (a, b):
        await hub.wait_until(lambda h=hub: sorted(ids(h.get_members("room"))) == everyone, TIMEOUT)
    assert a.get_local_members("room") == [pa] and a.get_members("room")[0] == pa

    assert await a.leave("room", pa)
    await b.wait_until(lambda: ids(b.get_members("room")) == ids([pb]), TIMEOUT)
    pb.exit()
    await a.wait_until(lambda: a.get_members("room") == [], TIMEOUT)
    await a.close()
    await b.close()


@pytest.mark.anyio
async def test_broadcast_reaches_members_on_other_nodes(make_node: Callable[[str], Hub]) -> None:
    a, b = make_node("node-a"), make_node("node-b")
    pa, box_a = node_pid("node-a")
    pb, box_b = node_pid("node-b")
    await a.join("room", pa)
    await b.join("room", pb)

    await b.broadcast("room", "t", {"from": "b"}, pb)

    for box in (box_a, box_b):
        message = await box.get()
        assert message.payload == {"from": "b"}
        assert (message.sender.node, message.sender.id) == ("node-b", pb.id)
    await a.close()
    await b.close()


@pytest.mark.anyio
async def test_a_new_node_learns_the_existing_members(make_node: Callable[[str], Hub]) -> None:
    a = make_node("node-a")
    pa, _ = node_pid("node-a")
    await a.join("room", pa)
    c = make_node("node-c")
    await c.start()
    await c.wait_until(lambda: ids(c.get_members("room")) == ids([pa]), TIMEOUT)
    assert c.nodes() == ["node-a"]
    await a.close()
    await c.close()


@pytest.mark.anyio
async def test_a_dead_nodes_members_disappear(make_node: Callable[[str], Hub]) -> None:
    a, b = make_node("node-a"), make_node("node-b")
    pa, _ = node_pid("node-a")
    await b.start()
    await a.join("room", pa)
    await b.wait_until(lambda: len(b.get_members("room")) == 1, TIMEOUT)

    loop = asyncio.get_running_loop()
    died = loop.time()
    await a.close(farewell=False)  # no goodbye: only the missing heartbeats tell
    await b.wait_until(lambda: b.get_members("room") == [], TIMEOUT)
    bound = (pubsub.MISSED_HEARTBEATS + 1) * INTERVAL
    assert loop.time() - died <= bound + 0.5  # slack for the test machine
    await b.close()


@pytest.mark.anyio
async def test_a_closing_node_says_goodbye(make_node: Callable[..., Hub]) -> None:
    a = make_node("node-a")
    b = make_node("node-b", missed_heartbeats=10_000)  # so only the goodbye can drop node-a
    pa, _ = node_pid("node-a")
    await b.start()
    await a.join("room", pa)
    await b.wait_until(lambda: len(b.get_members("room")) == 1, TIMEOUT)
    await a.close()
    await b.wait_until(lambda: b.get_members("room") == [], TIMEOUT)
    await b.close()


@pytest.mark.anyio
async def test_a_lost_delta_is_repaired_from_a_snapshot() -> None:
    bus = Bus()
    a = Hub("bus://", node="node-a", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    b = Hub("bus://", node="node-b", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    await a.start()
    await b.start()
    await b.wait_until(lambda: b.nodes() == ["node-a"], TIMEOUT)
    lost: list[str] = []

    def drop_first_delta(channel: str, message: str) -> bool:
        if channel == pubsub.CONTROL_CHANNEL and '"op": "delta"' in message and not lost:
            lost.append(message)
            return True
        return False

    bus.drop = drop_first_delta
    pa, _ = node_pid("node-a")
    await a.join("room", pa)
    await b.wait_until(lambda: ids(b.get_members("room")) == ids([pa]), TIMEOUT)
    assert lost, "the delta was not dropped, so this test proved nothing"
    await a.close()
    await b.close()


@pytest.mark.anyio
async def test_a_second_lost_delta_soon_after_a_repair_is_repaired_too() -> None:
    bus = Bus()
    a = Hub("bus://", node="node-a", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    # node-b asks a node for a snapshot at most once per its interval: make that long.
    b = Hub("bus://", node="node-b", backend=BusBackend(bus), heartbeat_interval=1.0)
    await a.start()
    await b.start()
    await b.wait_until(lambda: b.nodes() == ["node-a"], TIMEOUT)
    deltas = 0

    def drop_first_and_third_delta(channel: str, message: str) -> bool:
        nonlocal deltas
        if channel == pubsub.CONTROL_CHANNEL and '"op": "delta"' in message:
            deltas += 1
            return deltas in (1, 3)
        return False

    bus.drop = drop_first_and_third_delta
    pids = [node_pid("node-a")[0] for _ in range(4)]
    await a.join("room", pids[0])  # lost
    await a.join("room", pids[1])  # a gap: node-b asks for a snapshot, which repairs it
    await b.wait_until(lambda: len(b.get_members("room")) == 2, TIMEOUT)
    await a.join("room", pids[2])  # lost
    await a.join("room", pids[3])  # a gap again, too soon to ask again right away
    await b.wait_until(lambda: sorted(ids(b.get_members("room"))) == sorted(ids(pids)), TIMEOUT)
    assert deltas >= 4
    await a.close()
    await b.close()


@pytest.mark.anyio
async def test_membership_is_announced_again_after_an_outage() -> None:
    bus = Bus()
    backend_a = BusBackend(bus)
    a = Hub("bus://", node="node-a", backend=backend_a, heartbeat_interval=INTERVAL)
    b = Hub("bus://", node="node-b", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    pa, _ = node_pid("node-a")
    await a.join("room", pa)
    await b.start()
    await b.wait_until(lambda: len(b.get_members("room")) == 1, TIMEOUT)

    backend_a.set_connected(False)  # node-a falls silent: node-b drops it
    await b.wait_until(lambda: b.get_members("room") == [], TIMEOUT)
    backend_a.set_connected(True)
    await b.wait_until(lambda: ids(b.get_members("room")) == ids([pa]), TIMEOUT)
    await a.close()
    await b.close()
