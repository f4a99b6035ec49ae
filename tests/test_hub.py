"""Tests of fastapi_nova.hub: the backend subscription per channel, fan-out, wire format,
names and namespaces, and what a hub does when its backend fails or hangs.

Most tests drive a :class:`_Hub` over an in-memory :class:`BusBackend`, which counts calls and
can simulate outages; the namespace test runs against a real redis-server.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from fastapi_nova import hub as hub_module
from fastapi_nova.errors import PubSubUnavailable
from fastapi_nova.hub import (
    MAX_NAME_LENGTH,
    PubSubMessage,
    _check_name,
    _encode,
    _fan_out,
    _Hub,
    _split_namespace,
)
from fastapi_nova.pid import Pid, _spawn
from tests.support.proxy import HoldingProxy
from tests.support.pubsub import TIMEOUT, Bus, BusBackend, connection, node_pid
from tests.support.redis import RedisServer, redis_server_fixture  # noqa: F401

pytestmark = pytest.mark.anyio


def bus_hub(**options: Any) -> tuple[_Hub, BusBackend]:
    backend = BusBackend(Bus(), gate=options.pop("gate", None))
    return _Hub("bus://", backend=backend, gossip=False, **options), backend


# -- one backend subscription per channel --------------------------------------------------


async def test_one_backend_subscription_per_channel_not_per_member() -> None:
    hub, backend = bus_hub()
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


async def test_rejoining_while_the_unsubscription_runs_keeps_receiving() -> None:
    hub, _ = bus_hub()
    first, _ = connection()
    second, second_box = connection()
    await hub.join("room", first)
    first.exit()  # starts the unsubscription without waiting for it
    await hub.join("room", second)
    await hub.publish("room", _encode("t", "still here", None))
    assert (await second_box.get()).payload == "still here"
    await hub.close()
    second.exit()


class SlowFirstRoomSubscribe(BusBackend):
    """A bus whose first subscription of "room" waits until the test releases it."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(bus)
        self.held = asyncio.Event()
        self.released = asyncio.Event()

    async def subscribe(self, channel: str) -> None:
        if channel.endswith(".ch.room") and not self.held.is_set():
            self.held.set()
            await self.released.wait()
        await super().subscribe(channel)


async def loop_steps_until(predicate: Callable[[], bool], steps: int = 1000) -> None:
    """Let other tasks run, one loop step at a time, until ``predicate()`` holds (bounded)."""
    for _ in range(steps):
        if predicate():
            return
        await asyncio.sleep(0)  # one event-loop step, not a wall-clock wait
    raise AssertionError(f"not true after {steps} loop steps")


@pytest.mark.parametrize("kind", ["bus", pytest.param("redis", marks=pytest.mark.redis)])
async def test_rejoining_a_channel_released_before_it_was_subscribed(
    kind: str, request: pytest.FixtureRequest
) -> None:
    proxy: HoldingProxy | None = None
    if kind == "bus":
        backend = SlowFirstRoomSubscribe(Bus())
        hub = _Hub("bus://", backend=backend, gossip=False)
        await hub.start()
        held, release = backend.held, backend.released.set
    else:  # Redis's answer to the first SUBSCRIBE is held back by a proxy
        server: RedisServer = request.getfixturevalue("redis_server")
        proxy = HoldingProxy(server.port)
        await proxy.start()
        hub = _Hub(f"redis://127.0.0.1:{proxy.port}/0")
        await hub.start()
        proxy.arm(b"SUBSCRIBE")
        held, release = proxy.triggered, proxy.release
    first, _ = connection()
    second, box = connection()
    try:
        joining = asyncio.create_task(hub.join("room", first))
        async with asyncio.timeout(TIMEOUT):
            await held.wait()
        first.exit()  # the channel is released while its subscription is still being made
        rejoining = asyncio.create_task(hub.join("room", second))
        await loop_steps_until(lambda: hub.members.members("room") == [second])
        release()
        async with asyncio.timeout(TIMEOUT):
            await joining
            await rejoining

        await hub.publish("room", _encode("t", "still subscribed", None))

        assert (await box.get()).payload == "still subscribed"
    finally:
        await hub.close()
        second.exit()
        if proxy is not None:
            await proxy.close()


# -- starting and closing ------------------------------------------------------------------


async def test_a_cancelled_caller_does_not_fail_others_sharing_the_start() -> None:
    gate = asyncio.Event()
    hub, backend = bus_hub(gate=gate)  # its backend connects only when the gate opens
    (cancelled, _), (patient, box) = connection(), connection()
    first = asyncio.create_task(hub.join("chat", cancelled))
    second = asyncio.create_task(hub.join("chat", patient))
    async with asyncio.timeout(TIMEOUT):
        await backend.connecting.wait()
    first.cancel()  # e.g. its connection's task was cancelled during a slow connect
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    async with asyncio.timeout(TIMEOUT):
        await second  # shares the hub's start, which the other caller's cancel must not stop
    assert hub.connected
    assert hub.members.members("chat") == [patient]
    await hub.publish("chat", _encode("t", 1, None))
    assert (await box.get()).payload == 1
    await hub.close()
    cancelled.exit()
    patient.exit()


async def test_closing_a_starting_hub_tells_its_waiters_it_is_unavailable() -> None:
    hub, backend = bus_hub(gate=asyncio.Event())  # a gate nobody opens: never connects
    waiting = asyncio.create_task(hub.start())
    async with asyncio.timeout(TIMEOUT):
        await backend.connecting.wait()
    await hub.close()
    with pytest.raises(PubSubUnavailable, match="closed while starting"):
        async with asyncio.timeout(TIMEOUT):
            await waiting  # not a CancelledError: nobody cancelled the caller
    with pytest.raises(PubSubUnavailable, match="is closed"):
        await hub.start()


# -- faults --------------------------------------------------------------------------------


async def test_publish_raises_while_the_backend_is_down_and_local_fan_out_works() -> None:
    hub, backend = bus_hub()
    pid, mailbox = connection()
    await hub.join("chat", pid)

    backend.set_connected(False)
    with pytest.raises(PubSubUnavailable, match=r"pub/sub backend bus:// is unreachable"):
        await hub.publish("chat", _encode("t", 1, None))
    assert _fan_out(hub.members.members("chat"), "chat", _encode("t", 2, None)) == 1
    assert (await mailbox.get()).payload == 2

    backend.set_connected(True)
    await hub.publish("chat", _encode("t", 3, None))
    assert (await mailbox.get()).payload == 3
    await hub.close()
    pid.exit()


async def test_a_hanging_backend_raises_within_the_publish_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Hanging(BusBackend):
        async def publish(self, channel: str, message: Any) -> None:
            await asyncio.Event().wait()  # never returns: the hub must bound it

    monkeypatch.setattr(hub_module, "PUBLISH_TIMEOUT", 0.1)
    hub = _Hub("bus://", backend=Hanging(Bus()), gossip=False)
    with pytest.raises(PubSubUnavailable, match=r"did not take the message within 0\.1s"):
        await hub.publish("chat", _encode("t", 1, None))
    await hub.close()


async def test_a_failing_publish_is_unavailable_naming_the_backend() -> None:
    class Failing(BusBackend):
        async def publish(self, channel: str, message: Any) -> None:
            raise OSError("connection reset")

    hub = _Hub("bus://user:secret@host:1/0", backend=Failing(Bus()), gossip=False)
    failed = r"bus://\*\*\*@host:1/0 failed: connection reset"
    with pytest.raises(PubSubUnavailable, match=failed) as e:
        await hub.publish("chat", _encode("t", 1, None))
    assert "secret" not in str(e.value)
    await hub.close()


# -- fan-out -------------------------------------------------------------------------------


async def test_fan_out_decodes_once_and_every_member_gets_the_same_message() -> None:
    (a, box_a), (b, box_b) = connection(), connection()
    wire = _encode("t", {"text": "hi", "list": [1, 2]}, None)
    assert _fan_out([a, b], "room", wire) == 2
    got_a, got_b = await box_a.get(), await box_b.get()
    assert got_a == ("nova_pubsub", "room", None, "t", {"text": "hi", "list": [1, 2]})
    assert got_a is got_b  # one message object for the whole fan-out
    a.exit()
    b.exit()


async def test_fan_out_past_a_broken_member(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def deliver(self, message: Any) -> None:
            raise RuntimeError("mailbox on fire")

    broken = _spawn(Broken())
    good, box = connection()
    with caplog.at_level(logging.ERROR, logger="fastapi_nova.hub"):
        assert _fan_out([broken, good], "room", _encode("t", 1, None)) == 1
    assert (await box.get()).payload == 1
    assert "delivering a 'room' message" in caplog.text
    broken.exit()
    good.exit()


def test_fan_out_to_nobody_decodes_nothing() -> None:
    assert _fan_out([], "room", "not even JSON") == 0


def test_the_sender_travels_as_a_pid_that_compares_equal() -> None:
    sender, _ = node_pid("node-x")
    head, _, body = _encode("topic", [1], sender).partition("\n")
    assert json.loads(head) == {"s": sender.to_json(), "t": "topic"}
    assert json.loads(body) == [1]
    assert Pid.from_json(json.loads(head)["s"]) == sender


# -- payloads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "error", "match"),
    [
        ({1, 2}, TypeError, "got set"),
        (float("nan"), TypeError, "got float"),
        ({"text": "hi \ud83d"}, ValueError, "not valid Unicode"),
        (["\udfff"], ValueError, "lone surrogate"),
    ],
)
def test_encode_refuses_what_no_backend_can_carry(
    payload: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        _encode("t", payload, None)


def test_encode_refuses_a_payload_nested_too_deeply() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        _encode("t", deep, None)


# -- names and namespaces ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        (1, TypeError, "pubsub channel must be a str, got int"),
        (b"room", TypeError, "got bytes"),
        ("", ValueError, "must not be empty"),
        ("x" * (MAX_NAME_LENGTH + 1), ValueError, f"the limit is {MAX_NAME_LENGTH}"),
        ("room-\ud800", ValueError, r"not valid Unicode \(a lone surrogate at index 5\)"),
    ],
)
def test_check_name_refuses(name: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _check_name("channel", name)


def test_check_name_accepts_any_valid_unicode_up_to_the_limit() -> None:
    for name in ["room:1", "日本語", "🙂" * MAX_NAME_LENGTH, "with space\nand newline", "\x00"]:
        assert _check_name("channel", name) == name


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("memory://", ("memory://", "")),
        ("redis://127.0.0.1:6379/0", ("redis://127.0.0.1:6379/0", "db0")),
        ("redis://127.0.0.1:6379", ("redis://127.0.0.1:6379", "db0")),
        ("rediss://h/3", ("rediss://h/3", "db3")),
        ("redis://h:1?db=5", ("redis://h:1?db=5", "db5")),
        ("redis://h:1/2?namespace=shop", ("redis://h:1/2", "shop")),
        ("redis://h:1/2?namespace=a&ssl_cert_reqs=none", ("redis://h:1/2?ssl_cert_reqs=none", "a")),
        ("memory://?namespace=app_1", ("memory://", "app_1")),
    ],
)
def test_split_namespace(url: str, expected: tuple[str, str]) -> None:
    assert _split_namespace(url) == expected


@pytest.mark.parametrize("namespace", ["", "a.b", "a b", "x" * 65, "ü"])
def test_a_bad_namespace_is_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="must be 1 to 64 characters of letters, digits"):
        _split_namespace(f"redis://h/0?namespace={namespace}")


async def test_a_namespace_prefixes_every_backend_channel() -> None:
    backend = BusBackend(Bus())
    hub = _Hub("bus://?namespace=shop", backend=backend)  # with gossip
    pid, _ = connection()
    await hub.join("room", pid)
    assert backend.subscribed == {"nova.shop.ch.room", "nova.shop.gossip"}
    await hub.close()
    pid.exit()


@pytest.mark.redis
@pytest.mark.parametrize(
    ("first", "second"),
    [("/0", "/1"), ("/0?namespace=blue", "/0?namespace=green")],
    ids=["database-number", "namespace"],
)
async def test_two_apps_on_one_redis_do_not_hear_each_other(
    redis_server: RedisServer, first: str, second: str
) -> None:
    base = f"redis://127.0.0.1:{redis_server.port}"
    # Each hub is one app's process (pub/sub is process-wide, so one hub per app).
    blue = _Hub(base + first, node="blue-node", heartbeat_interval=0.1)
    green = _Hub(base + second, node="green-node", heartbeat_interval=0.1)
    blue_pid, blue_box = node_pid("blue-node")
    green_pid, green_box = node_pid("green-node")
    same_app, same_box = node_pid("blue-node-2")
    blue_again = _Hub(base + first, node="blue-node-2", heartbeat_interval=0.1)
    try:
        await blue.join("chat", blue_pid)
        await green.join("chat", green_pid)
        await blue_again.join("chat", same_app)

        await green.publish("chat", _encode("t", "green only", None))
        await blue.publish("chat", _encode("t", "blue only", None))

        assert (await green_box.get()).payload == "green only"
        assert (await blue_box.get()).payload == "blue only"
        assert (await same_box.get()).payload == "blue only"  # the same app, another process
        # Redis delivers in publish order: had blue's message reached green (or green's
        # blue), it would come before these markers.
        await green.publish("chat", _encode("t", "green marker", None))
        await blue.publish("chat", _encode("t", "blue marker", None))
        assert (await green_box.get()).payload == "green marker"
        assert (await blue_box.get()).payload == "blue marker"
        await blue.wait_until(lambda: blue.nodes() == ["blue-node-2"], TIMEOUT)
        assert green.nodes() == []  # and no gossip crossed either
    finally:
        for hub in (blue, green, blue_again):
            await hub.close()


def test_a_message_is_a_named_tuple_that_matches_as_a_tuple() -> None:
    message = PubSubMessage("nova_pubsub", "chat", None, "message", "hi")
    match message:
        case ("nova_pubsub", "chat", None, "message", text):
            assert text == "hi"
        case _:
            pytest.fail("no match")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@10.0.0.5:6379/2?namespace=x", "redis://***@10.0.0.5:6379/2"),
        ("rediss://user:pw@[::1]:6380/0", "rediss://***@[::1]:6380/0"),
        ("redis://host:notaport/0", "redis://host/0"),
        ("memory://", "memory://"),
    ],
)
def test_a_backend_is_named_without_its_credentials(url: str, shown: str) -> None:
    assert hub_module._redacted(url) == shown
