"""Pub/sub channels for connections: Nova's ``nova_pubsub`` over broadcaster.

.. code-block:: python

    from fastapi_nova import pubsub

    await pubsub.join("chat")                       # the current connection joins
    await pubsub.broadcast("chat", "message", "hi")  # every member on every node
    # each member's websocket_info gets ("nova_pubsub", "chat", sender, "message", "hi")

How it is built:

* Membership is kept per process (:class:`LocalMembers`); a :class:`Hub` connects it to the
  backend. The hub holds **one** broadcaster subscription per channel that has local members
  and fans each message out to those members' pids; it subscribes when the first local member
  joins and unsubscribes when the last one leaves or exits.
* Every payload travels as JSON, on every backend (memory included): members receive what a
  cluster would deliver, and a payload that is not JSON fails in ``broadcast``, not in a
  receiver.
* The hub is bound to the event loop it started on. Used from another loop (Starlette's
  ``TestClient`` runs one per portal), the module-level functions retire it and start a new
  one there, resubscribing every channel with local members.
* :func:`get_members` sees other nodes through gossip on :data:`CONTROL_CHANNEL` (see
  :class:`Hub`), so it works over any broadcaster backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlsplit

from broadcaster import Broadcast, BroadcastBackend

from fastapi_nova.errors import NotInConnectionError, PubSubUnavailable
from fastapi_nova.pid import NODE, Pid, self_pid

__all__ = [
    "CHANNEL_PREFIX",
    "CONTROL_CHANNEL",
    "HEARTBEAT_INTERVAL",
    "MISSED_HEARTBEATS",
    "PUBLISH_TIMEOUT",
    "SUBSCRIBE_TIMEOUT",
    "Hub",
    "LocalMembers",
    "PubSubMessage",
    "SupervisedBackend",
    "broadcast",
    "configure",
    "current_hub",
    "get_local_members",
    "get_members",
    "join",
    "leave",
    "local_broadcast",
    "shutdown",
    "startup",
]

logger = logging.getLogger("fastapi_nova.pubsub")

#: Backend channel names are the user's channel with this prefix, which keeps them apart from
#: other users of the same Redis and from :data:`CONTROL_CHANNEL`.
CHANNEL_PREFIX = "nova.ch."
#: Reserved backend channel on which nodes gossip their membership.
CONTROL_CHANNEL = "nova.gossip"
#: Seconds a ``broadcast`` may wait for the backend before raising ``PubSubUnavailable``.
PUBLISH_TIMEOUT = 1.5
#: Seconds a ``join`` may wait for its channel's subscription to be in place.
SUBSCRIBE_TIMEOUT = 5.0
#: Seconds between a node's heartbeats (its membership sequence number, not the member list).
HEARTBEAT_INTERVAL = 1.0
#: A node not heard from for this many heartbeat intervals is dead: its members disappear.
#: So a killed node's members leave every view within (MISSED_HEARTBEATS + 1) intervals.
MISSED_HEARTBEATS = 3
#: Seconds to wait for a hub on another (still running) event loop to close.
RETIRE_TIMEOUT = 2.0
#: URL schemes broadcaster (or our Redis backend) can serve.
SCHEMES = frozenset(
    {"memory", "redis", "rediss", "redis-stream", "postgres", "postgresql", "kafka"}
)

_TAG: Literal["nova_pubsub"] = "nova_pubsub"


class PubSubMessage(NamedTuple):
    """What a member receives: ``("nova_pubsub", channel, sender, topic, payload)``."""

    tag: Literal["nova_pubsub"]
    channel: str
    sender: Pid | None
    topic: str
    payload: Any


@runtime_checkable
class SupervisedBackend(Protocol):
    """A backend that reconnects by itself and reports it (``RedisBackend`` is one)."""

    @property
    def connected(self) -> bool:
        """True while the backend can publish and receive."""
        ...

    def add_state_listener(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(connected)`` whenever :attr:`connected` changes."""
        ...

    def remove_state_listener(self, listener: Callable[[bool], None]) -> None:
        """Undo :meth:`add_state_listener`."""
        ...


# -- wire format ---------------------------------------------------------------------------
# "<header JSON>\n<payload JSON>": json.dumps never emits a raw newline, and keeping the
# payload text apart lets each member get its own decoded copy (as each Erlang process does)
# without decoding the header again.


def _encode(topic: str, payload: Any, sender: Pid | None) -> str:
    try:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "pubsub payload must be JSON-serialisable (dict, list, str, int, float, bool or "
            f"None); got {type(payload).__name__}: {exc}"
        ) from exc
    head = json.dumps({"s": sender.to_json() if sender is not None else None, "t": topic})
    return f"{head}\n{body}"


def _fan_out(members: list[Pid], channel: str, wire: str) -> int:
    """Deliver one wire message to ``members``; returns how many took it."""
    if not members:
        return 0
    head_text, _, body = wire.partition("\n")
    head = json.loads(head_text)
    sender = Pid.from_json(head["s"]) if head["s"] is not None else None
    topic = str(head["t"])
    payload = json.loads(body)
    shared = not isinstance(payload, dict | list)  # immutable values can be shared
    delivered = 0
    for index, pid in enumerate(members):
        value = payload if shared or index == 0 else json.loads(body)
        try:
            delivered += pid.deliver(PubSubMessage(_TAG, channel, sender, topic, value))
        except Exception:  # one member's full or broken mailbox must not starve the others
            logger.exception("delivering a %r message to %r failed", channel, pid)
    return delivered


def _check_name(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"pubsub {kind} must be a str, got {type(value).__name__}: {value!r}")
    return value


# -- local membership ----------------------------------------------------------------------


class LocalMembers:
    """The members of each channel that live in this process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # pids may exit on another loop's thread
        self._by_channel: dict[str, dict[Pid, None]] = {}
        self._by_pid: dict[Pid, dict[str, None]] = {}
        #: The hub told about exits; replaced when a new hub takes over.
        self.hub: Hub | None = None

    def add(self, channel: str, pid: Pid) -> bool:
        """Add ``pid`` to ``channel``; False if it already was a member (or has exited)."""
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
        """Remove ``pid`` from ``channel``; False if it was not a member."""
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
        """Remove ``pid`` from every channel; the channels it was in."""
        with self._lock:
            channels = list(self._by_pid.pop(pid, {}))
            for channel in channels:
                members = self._by_channel[channel]
                del members[pid]
                if not members:
                    del self._by_channel[channel]
        return channels

    def members(self, channel: str) -> list[Pid]:
        """The local members of ``channel`` in join order."""
        with self._lock:
            return list(self._by_channel.get(channel, ()))

    def has(self, channel: str) -> bool:
        """True while ``channel`` has a local member."""
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


# -- the hub -------------------------------------------------------------------------------


class _Channel:
    """The one broadcaster subscription of a channel in this process."""

    __slots__ = ("ready", "stopping", "task")

    def __init__(self, ready: asyncio.Future[None]) -> None:
        self.ready = ready
        self.stopping = False
        self.task: asyncio.Task[None] | None = None


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


async def _stop_tasks(tasks: list[asyncio.Task[Any]], timeout: float = 2.0) -> None:
    """Cancel ``tasks`` and wait for them, bounded.

    Python 3.11's ``asyncio.wait_for`` (which redis-py uses) returns normally when the awaited
    call completes in the same loop iteration as a cancellation, losing the cancellation; so
    tasks still running are cancelled again, and every loop also checks a ``closed`` flag.
    """
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # seen: a failed task must not be reported again at GC
    if pending:
        logger.warning("pub/sub tasks did not stop within %ss: %r", timeout, pending)


def _consume(future: asyncio.Future[None]) -> None:
    # Mark an exception as seen so an unawaited failed future is not logged at GC.
    if not future.cancelled():
        future.exception()


class Hub:
    """One process's link to the pub/sub backend, bound to the event loop it was made on.

    Membership gossip (when ``gossip`` is on: every scheme but ``memory://``): each node
    publishes on :data:`CONTROL_CHANNEL`

    * a *delta* for every join and leave, numbered by a per-node sequence ``seq``;
    * a *beat* every ``heartbeat_interval`` seconds carrying its latest ``seq``;
    * a full *snap* (snapshot) when asked by a *sync*, and when it starts or reconnects;
    * a *bye* when it closes.

    A receiver applies deltas in order; a gap in ``seq`` (a lost message), a beat whose
    ``seq`` differs from what it applied, or an unknown node (or a new ``epoch``: the same node
    name after a hub restart) makes it ask that node for a snapshot, at most once per
    heartbeat interval. A node unheard of for ``missed_heartbeats`` intervals is dropped, so
    every view agrees within milliseconds after joins and leaves, within about one interval
    after a lost message, and within ``(missed_heartbeats + 1) * heartbeat_interval`` after a
    node dies without a bye.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        node: str = NODE,
        backend: BroadcastBackend | None = None,
        members: LocalMembers | None = None,
        gossip: bool | None = None,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        missed_heartbeats: int = MISSED_HEARTBEATS,
    ) -> None:
        self.url = url
        self.node = node
        self.loop = asyncio.get_running_loop()
        if backend is None and urlsplit(url).scheme in ("redis", "rediss"):
            from fastapi_nova.redis_backend import RedisBackend

            backend = RedisBackend(url)
        self.backend = backend
        self._broadcast = Broadcast(backend=backend) if backend is not None else Broadcast(url)
        self._supervised = backend if isinstance(backend, SupervisedBackend) else None
        self.members = members if members is not None else LocalMembers()
        self.members.hub = self
        self.gossip = gossip if gossip is not None else urlsplit(url).scheme != "memory"
        self.heartbeat_interval = heartbeat_interval
        self.missed_heartbeats = missed_heartbeats
        self.epoch = uuid.uuid4().hex[:12]
        self.closed = False
        self._started: asyncio.Task[None] | None = None
        self._channels: dict[str, _Channel] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._peers: dict[str, _Peer] = {}
        self._seq = 0
        self._outbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._snapshot_queued = False
        self._changed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while messages can be published (a supervised backend says so itself)."""
        if self.closed or self._started is None or not self._started.done():
            return False
        if self._started.cancelled() or self._started.exception() is not None:
            return False
        return self._supervised.connected if self._supervised is not None else True

    async def start(self) -> None:
        """Connect the backend and subscribe every channel with local members (idempotent)."""
        if self.closed:
            raise PubSubUnavailable(f"pub/sub hub for {self.url} is closed")
        if self._started is None:
            self._started = self.loop.create_task(self._start(), name="fastapi-nova pubsub start")
        await asyncio.shield(self._started)  # a cancelled caller must not cancel the start

    async def _start(self) -> None:
        try:
            await self._broadcast.connect()
        except Exception as exc:
            raise PubSubUnavailable(f"cannot connect pub/sub backend {self.url}: {exc}") from exc
        self._check_open()
        if self._supervised is not None:
            self._supervised.add_state_listener(self._on_backend_state)
        if self.gossip:
            ready: asyncio.Future[None] = self.loop.create_future()
            ready.add_done_callback(_consume)
            self._spawn(self._run_control(ready), "control")
            try:
                async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                    await asyncio.shield(ready)
            except TimeoutError as exc:
                raise PubSubUnavailable(
                    f"subscribing {CONTROL_CHANNEL!r} on {self.url} took over {SUBSCRIBE_TIMEOUT}s"
                ) from exc
            self._check_open()
            self._spawn(self._send_loop(), "gossip sender")
            self._spawn(self._heartbeat_loop(), "heartbeat")
            self._announce()
        channels = self.members.channels()
        await asyncio.gather(*(self._ensure_subscribed(ch) for ch in channels))

    def _check_open(self) -> None:
        # close() may have run while we awaited, its cancellation swallowed (see _stop_tasks).
        if self.closed:
            raise PubSubUnavailable(f"pub/sub hub for {self.url} is closed")

    def _spawn(self, coro: Any, what: str) -> None:
        self._tasks.append(self.loop.create_task(coro, name=f"fastapi-nova pubsub {what}"))

    async def close(self, *, farewell: bool = True) -> None:
        """Leave the backend: say goodbye to other nodes, cancel every task, disconnect.

        Local membership stays (it belongs to the process); a later hub resubscribes it.
        ``farewell=False`` skips the goodbye, as a crashed node would (for tests).
        """
        if self.closed:
            return
        say_bye = self.gossip and farewell and self.connected
        self.closed = True
        if self.members.hub is self:
            self.members.hub = None
        if say_bye:
            with contextlib.suppress(Exception):
                await self._publish(CONTROL_CHANNEL, json.dumps(self._control("bye")))
        if self._supervised is not None:
            self._supervised.remove_state_listener(self._on_backend_state)
        started = self._started
        tasks = [st.task for st in self._channels.values() if st.task is not None]
        tasks += self._tasks
        if started is not None:
            tasks.append(started)
        self._outbox.put_nowait(("stop", None))
        await _stop_tasks(tasks)
        self._channels.clear()
        if started is not None:
            with contextlib.suppress(Exception):
                if not started.cancelled() and started.exception() is None:
                    await self._broadcast.disconnect()
                elif self.backend is not None:  # connect was cut short: stop what it began
                    await self.backend.disconnect()
        self._pulse()

    def abandon(self) -> None:
        """Forget a hub whose event loop has ended (its tasks ended with the loop)."""
        self.closed = True
        if self.members.hub is self:
            self.members.hub = None

    # -- membership ------------------------------------------------------------------------

    async def join(self, channel: str, pid: Pid) -> None:
        """Make local ``pid`` a member of ``channel``; returns once the channel is subscribed."""
        if pid.node != self.node:
            raise ValueError(
                f"pubsub can only join pids of this node ({self.node}); {pid!r} belongs to "
                f"node {pid.node!r}"
            )
        if not pid.alive:
            return  # as with pg: a process that has ended joins nothing
        await self.start()
        added = self.members.add(channel, pid)
        if not self.members.has(channel):
            return  # it ended meanwhile, and its exit monitor removed it again
        try:
            await self._ensure_subscribed(channel)
        except BaseException:
            if added and self.members.remove(channel, pid) and not self.members.has(channel):
                self._stop_channel(channel)
            raise
        if added:
            self._delta(join={channel: [pid.id]})
            self._pulse()

    async def leave(self, channel: str, pid: Pid) -> bool:
        """Remove ``pid`` from ``channel``; False if it was not a member."""
        if not self.members.remove(channel, pid):
            return False
        stopping = self._left(pid, [channel])
        if stopping:
            # Wait (bounded) for the unsubscription so that callers observe it done.
            await asyncio.wait(stopping, timeout=SUBSCRIBE_TIMEOUT)
        return True

    def members_exited(self, pid: Pid, channels: list[str]) -> None:
        """``pid`` ended and was removed from ``channels`` (callable from any thread)."""
        self._call_soon(lambda: self._left(pid, channels))

    def _left(self, pid: Pid, channels: list[str]) -> list[asyncio.Task[None]]:
        if self.closed:
            return []
        stopping = [task for ch in channels if (task := self._stop_channel(ch)) is not None]
        self._delta(leave={ch: [pid.id] for ch in channels})
        self._pulse()
        return stopping

    def _call_soon(self, callback: Callable[[], object]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            callback()
        elif not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(callback)

    def get_local_members(self, channel: str) -> list[Pid]:
        """The members of ``channel`` in this process."""
        return self.members.members(channel)

    def get_members(self, channel: str) -> list[Pid]:
        """The members of ``channel`` on every node this hub knows of."""
        result = self.members.members(channel)
        for node, peer in sorted(self._peers.items()):
            # list() copies in one step: get_members may run on another loop's thread.
            ids = list(peer.members.get(channel, ()))
            result += [Pid(node=node, id=pid_id) for pid_id in ids]
        return result

    def nodes(self) -> list[str]:
        """The other nodes this hub hears from."""
        return sorted(self._peers)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` holds, re-checking at every membership change."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    def _pulse(self) -> None:
        # Wake every wait_until; a fresh Event makes later waiters wait for the next change.
        self._changed.set()
        self._changed = asyncio.Event()

    # -- channels --------------------------------------------------------------------------

    @property
    def subscribed_channels(self) -> list[str]:
        """The channels this hub holds a broadcaster subscription for (or is releasing)."""
        return list(self._channels)

    async def _ensure_subscribed(self, channel: str) -> None:
        st = self._channels.get(channel)
        if st is None or st.stopping:
            st = _Channel(self.loop.create_future())
            st.ready.add_done_callback(_consume)
            self._channels[channel] = st
            st.task = self.loop.create_task(
                self._run_channel(channel, st), name=f"fastapi-nova pubsub channel {channel!r}"
            )
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await asyncio.shield(st.ready)
        except TimeoutError as exc:
            raise PubSubUnavailable(
                f"subscribing channel {channel!r} on {self.url} took over {SUBSCRIBE_TIMEOUT}s"
            ) from exc

    def _stop_channel(self, channel: str) -> asyncio.Task[None] | None:
        st = self._channels.get(channel)
        if st is None or st.stopping or self.members.has(channel):
            return None
        st.stopping = True
        # Cancel only once subscribed: broadcaster's subscribe() breaks if cancelled midway.
        # A task not yet subscribed sees ``stopping`` and leaves right after.
        if st.ready.done() and st.task is not None:
            st.task.cancel()
        return st.task

    async def _run_channel(self, channel: str, st: _Channel) -> None:
        try:
            async with self._broadcast.subscribe(CHANNEL_PREFIX + channel) as subscriber:
                st.ready.set_result(None)
                while not st.stopping:
                    event = await subscriber.get()
                    try:
                        _fan_out(self.members.members(channel), channel, event.message)
                    except Exception:  # a foreign or corrupt message must not end the channel
                        logger.exception("bad pub/sub message on %r: %.200r", channel, event)
        except Exception as exc:
            if not st.ready.done():
                st.ready.set_exception(
                    PubSubUnavailable(f"cannot subscribe channel {channel!r} on {self.url}: {exc}")
                )
            else:
                logger.exception("pub/sub subscription of %r failed", channel)
        finally:
            if not st.ready.done():
                st.ready.set_exception(PubSubUnavailable(f"pub/sub hub for {self.url} closed"))
            if self._channels.get(channel) is st:
                del self._channels[channel]
                self._pulse()

    # -- publishing ------------------------------------------------------------------------

    async def broadcast(self, channel: str, topic: str, payload: Any, sender: Pid | None) -> None:
        """Publish to every member of ``channel`` on every node."""
        wire = _encode(topic, payload, sender)
        await self.start()
        await self._publish(CHANNEL_PREFIX + channel, wire)

    async def publish_wire(self, channel: str, wire: str) -> None:
        """Publish an already encoded message (see :func:`broadcast`)."""
        await self.start()
        await self._publish(CHANNEL_PREFIX + channel, wire)

    def local_broadcast(self, channel: str, topic: str, payload: Any, sender: Pid | None) -> int:
        """Deliver to the members of ``channel`` in this process only; returns how many."""
        return _fan_out(self.members.members(channel), channel, _encode(topic, payload, sender))

    async def _publish(self, name: str, wire: str) -> None:
        if self._supervised is not None and not self._supervised.connected:
            raise PubSubUnavailable(f"pub/sub backend {self._where()} is unreachable")
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await self._broadcast.publish(name, wire)
        except PubSubUnavailable:
            raise
        except TimeoutError as exc:
            raise PubSubUnavailable(
                f"pub/sub backend {self._where()} did not take the message within "
                f"{PUBLISH_TIMEOUT}s"
            ) from exc
        except Exception as exc:
            raise PubSubUnavailable(f"pub/sub backend {self._where()} failed: {exc}") from exc

    def _where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"

    # -- gossip: sending -------------------------------------------------------------------

    def _control(self, op: str, **fields: Any) -> dict[str, Any]:
        return {"op": op, "node": self.node, "epoch": self.epoch, **fields}

    def _delta(
        self, join: dict[str, list[str]] | None = None, leave: dict[str, list[str]] | None = None
    ) -> None:
        if self.gossip and not self.closed:
            self._outbox.put_nowait(("delta", {"join": join or {}, "leave": leave or {}}))

    def _queue_snapshot(self) -> None:
        if not self._snapshot_queued:  # one pending snapshot answers every request
            self._snapshot_queued = True
            self._outbox.put_nowait(("snap", None))

    def _announce(self) -> None:
        # Ask every node for its snapshot, and send ours.
        self._outbox.put_nowait(("sync", None))
        self._queue_snapshot()

    def _on_backend_state(self, connected: bool) -> None:
        if connected and self.gossip and not self.closed:
            self._announce()  # others may have dropped us, and we them, during the outage

    async def _send_loop(self) -> None:
        # One sender, so control messages leave in order and deltas arrive in seq order.
        while not self.closed:
            kind, data = await self._outbox.get()
            if kind == "stop":
                return
            try:
                if kind == "delta":
                    self._seq += 1
                    message = self._control("delta", seq=self._seq, **data)
                elif kind == "snap":
                    self._snapshot_queued = False
                    members = self.members.snapshot()
                    message = self._control("snap", seq=self._seq, members=members)
                elif kind == "beat":
                    message = self._control("beat", seq=self._seq)
                else:
                    message = self._control("sync", target=data)
                await self._publish(CONTROL_CHANNEL, json.dumps(message))
            except PubSubUnavailable as exc:  # repaired by the snapshot sent on reconnect
                logger.debug("gossip %s not sent: %s", kind, exc)
            except Exception:
                logger.exception("gossip %s failed", kind)
            finally:
                self._outbox.task_done()

    async def _heartbeat_loop(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.heartbeat_interval)  # a period, not a synchronisation
            self._outbox.put_nowait(("beat", None))
            self._expire_peers()

    def _expire_peers(self) -> None:
        cutoff = self.loop.time() - self.heartbeat_interval * self.missed_heartbeats
        dead = [node for node, peer in self._peers.items() if peer.last_seen < cutoff]
        for node in dead:
            logger.info("pub/sub node %s unheard of; dropping its members", node)
            del self._peers[node]
        if dead:
            self._pulse()

    # -- gossip: receiving -----------------------------------------------------------------

    async def _run_control(self, ready: asyncio.Future[None]) -> None:
        try:
            async with self._broadcast.subscribe(CONTROL_CHANNEL) as subscriber:
                ready.set_result(None)
                while True:
                    event = await subscriber.get()
                    try:
                        self._on_control(json.loads(event.message))
                    except Exception:  # a malformed message must not end the gossip
                        logger.exception("bad gossip message: %.200r", event.message)
        finally:
            if not ready.done():
                ready.set_exception(PubSubUnavailable("gossip channel not subscribed"))

    def _on_control(self, message: dict[str, Any]) -> None:
        node, epoch, op = str(message["node"]), str(message["epoch"]), message["op"]
        if node == self.node:
            return  # ours, back from the backend (or from this process's previous hub)
        peer = self._peers.get(node)
        if op == "bye":
            if peer is not None and peer.epoch == epoch:
                del self._peers[node]
                self._pulse()
            return
        if op == "sync":
            if message.get("target") in (None, self.node):
                self._queue_snapshot()
            if peer is not None and peer.epoch == epoch:
                peer.last_seen = self.loop.time()
            return  # a starting node sends its own snapshot right after
        now = self.loop.time()
        if peer is None or peer.epoch != epoch:
            peer = self._peers[node] = _Peer(epoch, now)
            self._pulse()
            if op != "snap":
                self._ask_sync(node, peer)
        peer.last_seen = now
        seq = int(message["seq"])
        if op == "snap":
            peer.members = {ch: dict.fromkeys(ids) for ch, ids in message["members"].items()}
            peer.seq, peer.synced = seq, True
            self._pulse()
        elif op == "delta":
            if not peer.synced or seq <= peer.seq:
                return  # before a snapshot, or already contained in it
            if seq != peer.seq + 1:
                self._ask_sync(node, peer)  # a delta was lost; apply this one meanwhile
            for ch, ids in message["join"].items():
                peer.members.setdefault(ch, {}).update(dict.fromkeys(ids))
            for ch, ids in message["leave"].items():
                known = peer.members.get(ch, {})
                for pid_id in ids:
                    known.pop(pid_id, None)
                if not known:
                    peer.members.pop(ch, None)
            peer.seq = seq
            self._pulse()
        elif op == "beat" and (not peer.synced or seq != peer.seq):
            self._ask_sync(node, peer)

    def _ask_sync(self, node: str, peer: _Peer) -> None:
        now = self.loop.time()
        if now - peer.sync_asked_at >= self.heartbeat_interval:
            peer.sync_asked_at = now
            self._outbox.put_nowait(("sync", node))


# -- the process-wide API ------------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.url: str | None = None
        self.hub: Hub | None = None
        self.members = LocalMembers()


_STATE = _State()


def _check_url(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise ValueError(
            f"unsupported pub/sub URL {url!r}: the scheme must be one of "
            f"{', '.join(sorted(SCHEMES))}"
        )
    if scheme in ("redis", "rediss"):
        from fastapi_nova.redis_backend import INSTALL_HINT

        try:
            import redis  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"pub/sub URL {url!r} needs redis-py; install it with {INSTALL_HINT}"
            ) from exc
    return url


def configure(url: str | None) -> None:
    """Set the backend URL (``NovaRouter(pubsub=...)`` calls this); None means the default.

    The default is ``$NOVA_PUBSUB_URL``, else ``memory://``. A connected hub moves to the new
    URL on its next use.
    """
    _STATE.url = _check_url(url) if url is not None else None


def _url() -> str:
    return _STATE.url or _check_url(os.environ.get("NOVA_PUBSUB_URL") or "memory://")


def current_hub() -> Hub | None:
    """The hub the module-level functions use now, if one started (for tests and benchmarks)."""
    return _STATE.hub


async def _hub() -> Hub:
    state = _STATE
    loop = asyncio.get_running_loop()
    url = _url()
    hub = state.hub
    if hub is None or hub.closed or hub.loop is not loop or hub.url != url:
        old, hub = hub, Hub(url, members=state.members)
        state.hub = hub  # before any await, so concurrent callers share this hub
        if old is not None:
            await _retire(old)
    try:
        await hub.start()
    except BaseException:
        if state.hub is hub:
            state.hub = None
            await hub.close(farewell=False)
        raise
    return hub


async def _retire(hub: Hub) -> None:
    if hub.closed:
        return
    if hub.loop is asyncio.get_running_loop():
        await hub.close()
    elif hub.loop.is_closed() or not hub.loop.is_running():
        hub.abandon()
    else:  # still serving on another thread (e.g. a WebSocket session's portal)
        future = asyncio.run_coroutine_threadsafe(hub.close(), hub.loop)
        try:
            async with asyncio.timeout(RETIRE_TIMEOUT):
                await asyncio.wrap_future(future)
        except Exception as exc:
            logger.warning("closing the pub/sub hub of another event loop failed: %r", exc)
            hub.abandon()


async def startup() -> None:
    """Connect the pub/sub backend on the running loop (the router's lifespan calls this)."""
    await _hub()


async def shutdown() -> None:
    """Disconnect the pub/sub backend (the router's lifespan calls this); use reconnects."""
    hub, _STATE.hub = _STATE.hub, None
    if hub is not None:
        await _retire(hub)


def _member(member: Pid | None, action: str) -> Pid:
    if member is None:
        member = self_pid()
        if member is None:
            raise NotInConnectionError(
                f"pubsub.{action}() was called outside a WebSocket connection; call it from a "
                f"handler callback, or name the connection with {action}(channel, member=pid)"
            )
    if not isinstance(member, Pid):
        raise TypeError(f"pubsub.{action}(member=...) must be a Pid, got {member!r}")
    return member


async def join(channel: str, *, member: Pid | None = None) -> None:
    """Make the current connection (or ``member``) a member of ``channel``.

    Joining twice is one membership; it ends with :func:`leave` or when the connection ends.

    .. code-block:: python

        async def init(self, state):
            await pubsub.join("chat")
            return ("ok", state)
    """
    _check_name("channel", channel)
    pid = _member(member, "join")
    hub = await _hub()
    await hub.join(channel, pid)


async def leave(channel: str, *, member: Pid | None = None) -> bool:
    """Remove the current connection (or ``member``) from ``channel``; False if not a member."""
    _check_name("channel", channel)
    pid = _member(member, "leave")
    hub = _STATE.hub
    if hub is not None and not hub.closed and hub.loop is asyncio.get_running_loop():
        return await hub.leave(channel, pid)
    if not _STATE.members.remove(channel, pid):
        return False
    if hub is not None:  # a hub on another loop: let it unsubscribe there
        hub.members_exited(pid, [channel])
    return True


async def broadcast(channel: str, topic: str, payload: Any) -> None:
    """Send ``payload`` to every member of ``channel`` on every node, the sender included.

    Raises ``TypeError`` if ``payload`` is not JSON-serialisable and
    :class:`~fastapi_nova.errors.PubSubUnavailable` if the backend cannot take it now.

    .. code-block:: python

        await pubsub.broadcast("chat", "message", {"from": "ann", "text": "hi"})
    """
    _check_name("channel", channel)
    _check_name("topic", topic)
    wire = _encode(topic, payload, self_pid())
    hub = await _hub()
    await hub.publish_wire(channel, wire)


async def local_broadcast(channel: str, topic: str, payload: Any) -> None:
    """Send ``payload`` to the members of ``channel`` in this process only (no backend)."""
    _check_name("channel", channel)
    _check_name("topic", topic)
    _fan_out(_STATE.members.members(channel), channel, _encode(topic, payload, self_pid()))


def get_members(channel: str) -> list[Pid]:
    """The members of ``channel`` on every node (local ones first)."""
    _check_name("channel", channel)
    hub = _STATE.hub
    if hub is None or hub.closed:
        return _STATE.members.members(channel)
    return hub.get_members(channel)


def get_local_members(channel: str) -> list[Pid]:
    """The members of ``channel`` in this process."""
    _check_name("channel", channel)
    return _STATE.members.members(channel)
