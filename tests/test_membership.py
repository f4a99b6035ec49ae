"""Tests of fastapi_nova.membership: local members, and other nodes' members through gossip.

The gossip tests run several hubs in one process, each acting as a node, over an in-memory
:class:`BusBackend` (which can drop messages and simulate outages) and over a real Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fastapi_nova.hub import _Hub
from fastapi_nova.membership import MISSED_HEARTBEATS, _Gossip, _LocalMembers
from fastapi_nova.pid import Pid
from tests.support.pubsub import TIMEOUT, Bus, BusBackend, connection, node_pid
from tests.support.redis import redis_server_fixture  # noqa: F401

INTERVAL = 0.1  # heartbeat interval of the test hubs, so that a dead node goes in ~0.4 s


def ids(pids: list[Pid]) -> list[tuple[str, str]]:
    return [(pid.node, pid.id) for pid in pids]


# -- local members -------------------------------------------------------------------------


class Exits:
    """An exit listener that records what LocalMembers tells it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Pid, list[str]]] = []

    def members_exited(self, pid: Pid, channels: list[str]) -> None:
        self.calls.append((pid, channels))


def test_local_members_in_join_order_once_each() -> None:
    members = _LocalMembers()
    a, b = connection()[0], connection()[0]
    assert members.add("room", a) and members.add("room", b)
    assert not members.add("room", a)  # joining twice is one membership
    assert members.members("room") == [a, b] and members.has("room")
    assert members.snapshot() == {"room": [a.id, b.id]}
    assert members.remove("room", a) and not members.remove("room", a)
    assert members.channels() == ["room"]
    assert members.remove("room", b) and not members.has("room") and members.channels() == []
    a.exit()
    b.exit()


def test_an_exit_removes_every_membership_and_tells_the_hub() -> None:
    members = _LocalMembers()
    members.hub = exits = Exits()
    pid, _ = connection()
    members.add("a", pid)
    members.add("b", pid)
    pid.exit()
    assert members.channels() == []
    assert exits.calls == [(pid, ["a", "b"])]


def test_a_pid_that_left_every_channel_is_no_longer_monitored() -> None:
    members = _LocalMembers()
    members.hub = exits = Exits()
    pid, _ = connection()
    members.add("a", pid)
    members.remove("a", pid)
    pid.exit()
    assert exits.calls == []


def test_an_ended_pid_joins_nothing() -> None:
    members = _LocalMembers()
    pid, _ = connection()
    pid.exit()
    assert members.add("room", pid) is False
    assert members.channels() == []


# -- gossip: the handlers, without a backend -----------------------------------------------


class Clock:
    """A loop stand-in whose time the test sets: expiry is then exact, not wall-clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def gossip_with_clock(interval: float = 1.0) -> tuple[_Gossip, Clock, list[int]]:
    clock = Clock()
    changes: list[int] = []

    async def publish(text: str) -> None:  # not used: nothing here sends
        raise AssertionError(text)

    gossip = _Gossip(
        node="me",
        epoch="e1",
        members=_LocalMembers(),
        publish=publish,
        on_change=lambda: changes.append(1),
        loop=clock,  # type: ignore[arg-type]  # only .time() is used by what is tested
        heartbeat_interval=interval,
    )
    return gossip, clock, changes


def snap(node: str, seq: int, members: dict[str, list[str]], epoch: str = "e") -> str:
    return json.dumps({"op": "snap", "node": node, "epoch": epoch, "seq": seq, "members": members})


def test_a_node_is_dropped_exactly_after_missed_heartbeats() -> None:
    gossip, clock, _ = gossip_with_clock(interval=1.0)
    gossip.receive(snap("other", 0, {"room": ["p1"]}))
    assert [p.id for p in gossip.remote_members("room")] == ["p1"]

    clock.now += 1.0 * MISSED_HEARTBEATS  # exactly at the limit: still there
    gossip._expire_peers()
    assert gossip.nodes() == ["other"]
    clock.now += 0.001
    gossip._expire_peers()
    assert gossip.nodes() == [] and gossip.remote_members("room") == []
    # The heartbeat loop checks once per interval, so a silent node is gone within
    # (MISSED_HEARTBEATS + 1) intervals, as the docs say.


@pytest.mark.anyio
async def test_deltas_apply_in_order_and_a_gap_asks_for_a_snapshot() -> None:
    sent: list[dict[str, Any]] = []

    async def publish(text: str) -> None:
        sent.append(json.loads(text))

    gossip = _Gossip(
        node="me",
        epoch="e1",
        members=_LocalMembers(),
        publish=publish,
        on_change=lambda: None,
        loop=asyncio.get_running_loop(),
        heartbeat_interval=1.0,
    )
    gossip.receive(snap("other", 1, {}))
    delta = {"op": "delta", "node": "other", "epoch": "e", "leave": {}}
    gossip.receive(json.dumps({**delta, "seq": 2, "join": {"room": ["p1"]}}))
    gossip.receive(json.dumps({**delta, "seq": 4, "join": {"room": ["p3"]}}))  # 3 was lost
    assert [p.id for p in gossip.remote_members("room")] == ["p1", "p3"]

    gossip.stop()  # send what is queued, then return
    await asyncio.wait_for(gossip.send_loop(), TIMEOUT)
    # Repaired from a snapshot: one sync request, addressed to the node with the gap.
    assert [(m["op"], m.get("target")) for m in sent] == [("sync", "other")]


def test_own_messages_and_unknown_ops_change_nothing(caplog: pytest.LogCaptureFixture) -> None:
    gossip, _, changes = gossip_with_clock()
    gossip.receive(snap("me", 0, {"room": ["p1"]}))  # ours, back from the backend
    with caplog.at_level(logging.ERROR, logger="fastapi_nova.membership"):
        gossip.receive(json.dumps({"op": "shout", "node": "other", "epoch": "e"}))
        gossip.receive("not json")
        gossip.receive(json.dumps({"op": "snap", "node": "other"}))  # no epoch
    assert gossip.nodes() == [] and changes == []
    assert "unknown gossip op 'shout'" in caplog.text
    assert caplog.text.count("bad gossip message") == 3


def test_a_bye_drops_only_the_same_epoch() -> None:
    gossip, _, _ = gossip_with_clock()
    gossip.receive(snap("other", 0, {"room": ["p1"]}, epoch="new"))
    gossip.receive(json.dumps({"op": "bye", "node": "other", "epoch": "old"}))
    assert gossip.nodes() == ["other"]  # a goodbye from its previous life
    gossip.receive(json.dumps({"op": "bye", "node": "other", "epoch": "new"}))
    assert gossip.nodes() == []


# -- gossip between hubs -------------------------------------------------------------------


@pytest.fixture(params=["bus", pytest.param("redis", marks=pytest.mark.redis)])
def make_node(request: pytest.FixtureRequest) -> Iterator[Callable[..., _Hub]]:
    """Builds hubs that act as separate nodes on one shared backend (a bus, or Redis)."""
    bus = Bus()
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None

    def make(node: str, **options: Any) -> _Hub:
        backend = BusBackend(bus) if url is None else None
        options.setdefault("heartbeat_interval", INTERVAL)
        return _Hub(url or "bus://", node=node, backend=backend, gossip=True, **options)

    yield make


@pytest.mark.anyio
async def test_members_of_every_node_converge(make_node: Callable[[str], _Hub]) -> None:
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
    assert a.get_members("room")[0] == pa  # local ones first

    assert await a.leave("room", pa)
    await b.wait_until(lambda: ids(b.get_members("room")) == ids([pb]), TIMEOUT)
    pb.exit()
    await a.wait_until(lambda: a.get_members("room") == [], TIMEOUT)
    await a.close()
    await b.close()


@pytest.mark.anyio
async def test_a_new_node_learns_the_existing_members(make_node: Callable[[str], _Hub]) -> None:
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
async def test_a_dead_nodes_members_disappear_by_missed_heartbeats(
    make_node: Callable[[str], _Hub], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = make_node("node-a"), make_node("node-b")
    pa, _ = node_pid("node-a")
    await b.start()
    await a.join("room", pa)
    await b.wait_until(lambda: len(b.get_members("room")) == 1, TIMEOUT)

    with caplog.at_level(logging.INFO, logger="fastapi_nova.membership"):
        await a.close(farewell=False)  # no goodbye: only the missing heartbeats tell
        await b.wait_until(lambda: b.get_members("room") == [], TIMEOUT)
    # The cause is the expiry (the bound itself is tested exactly, with a set clock, above).
    assert "pub/sub node node-a unheard of; dropping its members" in caplog.text
    await b.close()


@pytest.mark.anyio
async def test_a_closing_node_says_goodbye(make_node: Callable[..., _Hub]) -> None:
    a = make_node("node-a")
    b = make_node("node-b", missed_heartbeats=10_000)  # so only the goodbye can drop node-a
    pa, _ = node_pid("node-a")
    await b.start()
    await a.join("room", pa)
    await b.wait_until(lambda: len(b.get_members("room")) == 1, TIMEOUT)
    await a.close()
    await b.wait_until(lambda: b.get_members("room") == [], TIMEOUT)
    await b.close()


def drop_deltas(bus: Bus, which: set[int]) -> list[str]:
    """Make ``bus`` lose the gossip deltas numbered ``which`` (1-based); returns the lost."""
    lost: list[str] = []
    seen = 0

    def drop(channel: str, message: str) -> bool:
        nonlocal seen
        if channel.endswith("gossip") and '"op": "delta"' in message:
            seen += 1
            if seen in which:
                lost.append(message)
                return True
        return False

    bus.drop = drop
    return lost


@pytest.mark.anyio
async def test_a_lost_delta_is_repaired_from_a_snapshot() -> None:
    bus = Bus()
    a = _Hub("bus://", node="node-a", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    b = _Hub("bus://", node="node-b", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    await a.start()
    await b.start()
    await b.wait_until(lambda: b.nodes() == ["node-a"], TIMEOUT)
    lost = drop_deltas(bus, {1})
    pa, _ = node_pid("node-a")
    await a.join("room", pa)
    await b.wait_until(lambda: ids(b.get_members("room")) == ids([pa]), TIMEOUT)
    assert lost, "the delta was not dropped, so this test proved nothing"
    await a.close()
    await b.close()


@pytest.mark.anyio
async def test_a_second_lost_delta_soon_after_a_repair_is_repaired_too() -> None:
    bus = Bus()
    a = _Hub("bus://", node="node-a", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    # node-b asks a node for a snapshot at most once per its interval: make that long.
    b = _Hub("bus://", node="node-b", backend=BusBackend(bus), heartbeat_interval=1.0)
    await a.start()
    await b.start()
    await b.wait_until(lambda: b.nodes() == ["node-a"], TIMEOUT)
    lost = drop_deltas(bus, {1, 3})
    pids = [node_pid("node-a")[0] for _ in range(4)]
    await a.join("room", pids[0])  # lost
    await a.join("room", pids[1])  # a gap: node-b asks for a snapshot, which repairs it
    await b.wait_until(lambda: len(b.get_members("room")) == 2, TIMEOUT)
    await a.join("room", pids[2])  # lost
    await a.join("room", pids[3])  # a gap again, too soon to ask again right away
    await b.wait_until(lambda: sorted(ids(b.get_members("room"))) == sorted(ids(pids)), TIMEOUT)
    assert len(lost) == 2
    await a.close()
    await b.close()


@pytest.mark.anyio
async def test_membership_is_announced_again_after_an_outage() -> None:
    # Heartbeats far apart: only the re-announce on reconnect can repair node-a's view
    # within the test (a beat would too, but not for another 1000 s). Checked by breaking
    # Hub._on_backend_state once: this test then fails.
    bus = Bus()
    backend_a = BusBackend(bus)
    a = _Hub("bus://", node="node-a", backend=backend_a, heartbeat_interval=1000.0)
    b = _Hub("bus://", node="node-b", backend=BusBackend(bus), heartbeat_interval=1000.0)
    first, _ = node_pid("node-b")
    await a.start()
    await b.join("room", first)
    await a.wait_until(lambda: ids(a.get_members("room")) == ids([first]), TIMEOUT)

    backend_a.set_connected(False)  # node-a hears nothing: node-b's next delta is lost to it
    later, _ = node_pid("node-b")
    published = asyncio.Event()

    def watch(channel: str, message: str) -> bool:  # sees every message; drops none
        if '"op": "delta"' in message and later.id in message:
            published.set()
        return False

    bus.drop = watch
    await b.join("room", later)
    async with asyncio.timeout(TIMEOUT):
        await published.wait()
    assert ids(a.get_members("room")) == ids([first])  # the outage cost node-a that delta
    backend_a.set_connected(True)
    await a.wait_until(lambda: ids(a.get_members("room")) == ids([first, later]), TIMEOUT)
    await a.close()
    await b.close()


@pytest.mark.anyio
async def test_a_node_restarted_under_the_same_name_is_learned_afresh() -> None:
    bus = Bus()
    a = _Hub("bus://", node="node-a", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    b = _Hub("bus://", node="node-b", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    old, _ = node_pid("node-a")
    await a.join("room", old)
    await b.start()
    await b.wait_until(lambda: ids(b.get_members("room")) == ids([old]), TIMEOUT)
    await a.close(farewell=False)
    again = _Hub("bus://", node="node-a", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    new, _ = node_pid("node-a")
    await again.join("other", new)
    await b.wait_until(
        lambda: b.get_members("room") == [] and ids(b.get_members("other")) == ids([new]), TIMEOUT
    )
    await again.close()
    await b.close()


@pytest.mark.anyio
async def test_a_local_pid_exit_reaches_other_nodes() -> None:
    bus = Bus()
    a = _Hub("bus://", node="node-a", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    b = _Hub("bus://", node="node-b", backend=BusBackend(bus), heartbeat_interval=INTERVAL)
    pa, _ = node_pid("node-a")
    await a.join("room", pa)
    await b.start()
    await b.wait_until(lambda: len(b.get_members("room")) == 1, TIMEOUT)
    pa.exit()
    await b.wait_until(lambda: b.get_members("room") == [], TIMEOUT)
    await a.close()
    await b.close()
