"""Who is in which channel: this process's members, and other nodes' members through gossip.

* `_LocalMembers` holds the members of each channel that live in this process. It
  belongs to the process, not to a hub: a hub that replaces another resubscribes it.
* `_Gossip` keeps this node's view of every other node's members by exchanging messages
  on the hub's gossip channel (`nova.gossip`, or `nova.<namespace>.gossip`), so
  [`fastapi_nova.pubsub.get_members`][fastapi_nova.pubsub.get_members] works over any broadcaster
  backend. The hub that owns it publishes and subscribes for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol

from fastapi_nova.errors import PubSubUnavailable
from fastapi_nova.pid import Pid

__all__ = [
    "HEARTBEAT_INTERVAL",
    "MISSED_HEARTBEATS",
]

# The logger of the pub/sub layer as a whole, as before the split into modules.
_logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 1.0
"""Seconds between a node's heartbeats (its membership sequence number, not the member list)."""
MISSED_HEARTBEATS = 3
"""A node not heard from for this many heartbeat intervals is dead: its members disappear.
So a killed node's members leave every view within (MISSED_HEARTBEATS + 1) intervals.
"""


# -- local membership ----------------------------------------------------------------------


class _ExitListener(Protocol):
    """What `_LocalMembers` tells when a member ends (the hub is one)."""

    def members_exited(self, pid: Pid, channels: list[str]) -> None:
        """`pid` ended and was removed from `channels` (called from any thread)."""
        ...


class _LocalMembers:
    """The members of each channel that live in this process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # pids may exit on another loop's thread
        self._by_channel: dict[str, dict[Pid, None]] = {}
        self._by_pid: dict[Pid, dict[str, None]] = {}
        #: The hub told about exits; replaced when a new hub takes over.
        self.hub: _ExitListener | None = None

    def add(self, channel: str, pid: Pid) -> bool:
        """Add `pid` to `channel`; False if it already was a member (or has exited)."""
        with self._lock:
            members = self._by_channel.setdefault(channel, {})
            if pid in members:
                return False
            members[pid] = None
            first_channel = pid not in self._by_pid
            self._by_pid.setdefault(pid, {})[channel] = None
        if first_channel:
            pid.monitor(self._on_exit)  # runs at once, removing it again, if pid has exited
        return pid.alive

    def remove(self, channel: str, pid: Pid) -> bool:
        """Remove `pid` from `channel`; False if it was not a member."""
        with self._lock:
            members = self._by_channel.get(channel)
            if members is None or pid not in members:
                return False
            del members[pid]
            if not members:
                del self._by_channel[channel]
            channels = self._by_pid[pid]
            del channels[channel]
            last = not channels
            if last:
                del self._by_pid[pid]
        if last:
            pid.demonitor(self._on_exit)
        return True

    def remove_all(self, pid: Pid) -> list[str]:
        """Remove `pid` from every channel; the channels it was in."""
        with self._lock:
            channels = list(self._by_pid.pop(pid, {}))
            for channel in channels:
                members = self._by_channel[channel]
                del members[pid]
                if not members:
                    del self._by_channel[channel]
        return channels

    def members(self, channel: str) -> list[Pid]:
        """The local members of `channel` in join order."""
        with self._lock:
            return list(self._by_channel.get(channel, ()))

    def has(self, channel: str) -> bool:
        """True while `channel` has a local member."""
        return channel in self._by_channel

    def channels(self) -> list[str]:
        """Every channel with a local member."""
        with self._lock:
            return list(self._by_channel)

    def snapshot(self) -> dict[str, list[str]]:
        """Channel -> member pid ids, for gossip."""
        with self._lock:
            return {ch: [pid.id for pid in members] for ch, members in self._by_channel.items()}

    def _on_exit(self, pid: Pid) -> None:
        channels = self.remove_all(pid)
        hub = self.hub
        if channels and hub is not None:
            hub.members_exited(pid, channels)


# -- gossip between nodes ------------------------------------------------------------------


class _Peer:
    """What this node knows of another node's members."""

    __slots__ = ("epoch", "seq", "synced", "members", "last_seen", "sync_asked_at")

    def __init__(self, epoch: str, now: float) -> None:
        self.epoch = epoch
        self.seq = 0
        self.synced = False
        self.members: dict[str, dict[str, None]] = {}
        self.last_seen = now
        self.sync_asked_at = float("-inf")


class _Gossip:
    """One node's side of the membership gossip on the gossip channel.

    Each node publishes

    * a *delta* for every join and leave, numbered by a per-node sequence `seq`;
    * a *beat* every `heartbeat_interval` seconds carrying its latest `seq`;
    * a full *snap* (snapshot) when asked by a *sync*, and when it starts or reconnects;
    * a *bye* when it closes.

    A receiver applies deltas in order; a gap in `seq` (a lost message), a beat whose
    `seq` differs from what it applied, or an unknown node (or a new `epoch`: the same node
    name after a hub restart) makes it ask that node for a snapshot, at most once per
    heartbeat interval. A node unheard of for `missed_heartbeats` intervals is dropped, so
    every view agrees within milliseconds after joins and leaves, within about one interval
    after a lost message, and within `(missed_heartbeats + 1) * heartbeat_interval` after a
    node dies without a bye.

    The hub runs `send_loop` and `heartbeat_loop` as tasks, feeds every message of
    the gossip channel to `receive`, and gives `publish` (which publishes one
    message on that channel, raising `PubSubUnavailable` when it cannot) and `on_change`
    (called whenever the view of other nodes changes).
    """

    def __init__(
        self,
        *,
        node: str,
        epoch: str,
        members: _LocalMembers,
        publish: Callable[[str], Awaitable[None]],
        on_change: Callable[[], None],
        loop: asyncio.AbstractEventLoop,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        missed_heartbeats: int = MISSED_HEARTBEATS,
    ) -> None:
        self.node = node
        self.epoch = epoch
        self.members = members
        self.loop = loop
        self.heartbeat_interval = heartbeat_interval
        self.missed_heartbeats = missed_heartbeats
        self.closed = False
        self._publish = publish
        self._on_change = on_change
        self._peers: dict[str, _Peer] = {}
        self._seq = 0
        self._outbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._snapshot_queued = False

    # -- the view of other nodes -----------------------------------------------------------

    def remote_members(self, channel: str) -> list[Pid]:
        """The members of `channel` on the other nodes, by node name."""
        result: list[Pid] = []
        for node, peer in sorted(self._peers.items()):
            # list() copies in one step: get_members may run on another loop's thread.
            ids = list(peer.members.get(channel, ()))
            result += [Pid(node=node, id=pid_id) for pid_id in ids]
        return result

    def nodes(self) -> list[str]:
        """The other nodes this node hears from."""
        return sorted(self._peers)

    # -- sending ---------------------------------------------------------------------------

    def _control(self, op: str, **fields: Any) -> dict[str, Any]:
        return {"op": op, "node": self.node, "epoch": self.epoch, **fields}

    def delta(
        self, join: dict[str, list[str]] | None = None, leave: dict[str, list[str]] | None = None
    ) -> None:
        """Tell the other nodes about local joins and leaves."""
        if not self.closed:
            self._outbox.put_nowait(("delta", {"join": join or {}, "leave": leave or {}}))

    def _queue_snapshot(self) -> None:
        if not self._snapshot_queued:  # one pending snapshot answers every request
            self._snapshot_queued = True
            self._outbox.put_nowait(("snap", None))

    def announce(self) -> None:
        """Ask every node for its snapshot, and send ours (on start and on reconnect)."""
        self._outbox.put_nowait(("sync", None))
        self._queue_snapshot()

    def close(self) -> None:
        """Stop telling: no delta is queued any more, and the loops end at their next turn."""
        self.closed = True

    def stop(self) -> None:
        """Wake `send_loop` so that it returns."""
        self._outbox.put_nowait(("stop", None))

    async def say_goodbye(self) -> None:
        """Tell the other nodes to drop ours now (raises `PubSubUnavailable` if it cannot)."""
        await self._publish(json.dumps(self._control("bye")))

    async def send_loop(self) -> None:
        """Publish what is queued; the one sender, so deltas leave (and arrive) in seq order."""
        while not self.closed:
            kind, data = await self._outbox.get()
            if kind == "stop":
                return
            try:
                message = self._OUTGOING[kind](self, data)
                await self._publish(json.dumps(message))
            except PubSubUnavailable as exc:  # repaired by the snapshot sent on reconnect
                _logger.debug("gossip %s not sent: %s", kind, exc)
            except Exception:
                _logger.exception("gossip %s failed", kind)
            finally:
                self._outbox.task_done()

    # What each queued kind sends; the sender builds it at sending time, so a snapshot holds
    # the members as they are then and the seq of every delta sent before it.
    def _delta_message(self, data: Any) -> dict[str, Any]:
        self._seq += 1
        return self._control("delta", seq=self._seq, **data)

    def _snap_message(self, data: Any) -> dict[str, Any]:
        self._snapshot_queued = False
        return self._control("snap", seq=self._seq, members=self.members.snapshot())

    def _beat_message(self, data: Any) -> dict[str, Any]:
        return self._control("beat", seq=self._seq)

    def _sync_message(self, data: Any) -> dict[str, Any]:
        return self._control("sync", target=data)

    _OUTGOING: ClassVar[dict[str, Callable[[_Gossip, Any], dict[str, Any]]]] = {
        "delta": _delta_message,
        "snap": _snap_message,
        "beat": _beat_message,
        "sync": _sync_message,
    }

    async def heartbeat_loop(self) -> None:
        """Send a beat every interval, and drop the nodes that went silent."""
        while not self.closed:
            await asyncio.sleep(self.heartbeat_interval)  # a period, not a synchronisation
            self._outbox.put_nowait(("beat", None))
            self._expire_peers()

    def _expire_peers(self) -> None:
        cutoff = self.loop.time() - self.heartbeat_interval * self.missed_heartbeats
        dead = [node for node, peer in self._peers.items() if peer.last_seen < cutoff]
        for node in dead:
            _logger.info("pub/sub node %s unheard of; dropping its members", node)
            del self._peers[node]
        if dead:
            self._on_change()

    # -- receiving -------------------------------------------------------------------------

    def receive(self, text: str) -> None:
        """Apply one message of the gossip channel; a malformed one is logged, not raised."""
        try:
            self._on_control(json.loads(text))
        except Exception:  # a malformed message must not end the gossip
            _logger.exception("bad gossip message: %.200r", text)

    def _on_control(self, message: dict[str, Any]) -> None:
        node, epoch, op = str(message["node"]), str(message["epoch"]), str(message["op"])
        if node == self.node:
            return  # ours, back from the backend (or from this process's previous hub)
        handler = self._HANDLERS.get(op)
        if handler is None:
            raise ValueError(f"unknown gossip op {op!r}")
        handler(self, node, epoch, message)

    def _on_bye(self, node: str, epoch: str, message: dict[str, Any]) -> None:
        peer = self._peers.get(node)
        if peer is not None and peer.epoch == epoch:
            del self._peers[node]
            self._on_change()

    def _on_sync(self, node: str, epoch: str, message: dict[str, Any]) -> None:
        if message.get("target") in (None, self.node):
            self._queue_snapshot()
        peer = self._peers.get(node)
        if peer is not None and peer.epoch == epoch:
            peer.last_seen = self.loop.time()
        # A starting node sends its own snapshot right after its sync: nothing more to do.

    def _heard(self, node: str, epoch: str, *, snapshot: bool) -> _Peer:
        # The peer that sent a snap, delta or beat: new (or restarted) peers are asked to sync.
        now = self.loop.time()
        peer = self._peers.get(node)
        if peer is None or peer.epoch != epoch:
            peer = self._peers[node] = _Peer(epoch, now)
            self._on_change()
            if not snapshot:
                self._ask_sync(node, peer)
        peer.last_seen = now
        return peer

    def _on_snap(self, node: str, epoch: str, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        peer = self._heard(node, epoch, snapshot=True)
        peer.members = {ch: dict.fromkeys(ids) for ch, ids in message["members"].items()}
        peer.seq, peer.synced = seq, True
        self._on_change()

    def _on_delta(self, node: str, epoch: str, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        peer = self._heard(node, epoch, snapshot=False)
        if not peer.synced or seq <= peer.seq:
            return  # before a snapshot, or already contained in it
        if seq == peer.seq + 1:
            peer.seq = seq
        else:
            # A delta was lost. Apply this one meanwhile but keep the seq we had: every later
            # beat then disagrees and asks again, until a snapshot repairs the view (this
            # request may be skipped by the once-per-interval limit).
            self._ask_sync(node, peer)
        for ch, ids in message["join"].items():
            peer.members.setdefault(ch, {}).update(dict.fromkeys(ids))
        for ch, ids in message["leave"].items():
            known = peer.members.get(ch, {})
            for pid_id in ids:
                known.pop(pid_id, None)
            if not known:
                peer.members.pop(ch, None)
        self._on_change()

    def _on_beat(self, node: str, epoch: str, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        peer = self._heard(node, epoch, snapshot=False)
        if not peer.synced or seq != peer.seq:
            self._ask_sync(node, peer)

    _HANDLERS: ClassVar[dict[str, Callable[[_Gossip, str, str, dict[str, Any]], None]]] = {
        "bye": _on_bye,
        "sync": _on_sync,
        "snap": _on_snap,
        "delta": _on_delta,
        "beat": _on_beat,
    }

    def _ask_sync(self, node: str, peer: _Peer) -> None:
        now = self.loop.time()
        if now - peer.sync_asked_at >= self.heartbeat_interval:
            peer.sync_asked_at = now
            self._outbox.put_nowait(("sync", node))
