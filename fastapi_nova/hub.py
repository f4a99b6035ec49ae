"""The hub: one process's link to the pub/sub backend, and local fan-out to members' pids.

The hub holds **one** broadcaster subscription per channel that has local members and fans
each message out to those members' pids; it subscribes when the first local member joins and
unsubscribes when the last one leaves or exits. Who the members are is kept by
`fastapi_nova.membership`; the module-level API in [`fastapi_nova.pubsub`][fastapi_nova.pubsub]
finds (or starts) the hub of the running event loop.

Every payload travels as JSON, on every backend (memory included): members receive what a
cluster would deliver, and a payload that is not JSON (or holds a string that is not valid
Unicode) fails in `broadcast`, not in a receiver. A message is decoded once per process and
the one [`PubSubMessage`][fastapi_nova.hub.PubSubMessage] is shared by every local member, as an
Erlang term would be.

Backend channel names are `nova.<namespace>.ch.<channel>` (`nova.ch.<channel>` without a
namespace) and the gossip channel is `nova.<namespace>.gossip`: see `_split_namespace`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlsplit

from broadcaster import Broadcast, BroadcastBackend

from fastapi_nova.errors import PubSubUnavailable
from fastapi_nova.membership import (
    HEARTBEAT_INTERVAL,
    MISSED_HEARTBEATS,
    _Gossip,
    _LocalMembers,
)
from fastapi_nova.pid import _NODE, Pid

__all__ = [
    "JOIN_TIMEOUT",
    "MAX_NAME_LENGTH",
    "PUBLISH_TIMEOUT",
    "PubSubMessage",
]

_logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 1.5
"""Seconds a `broadcast` may wait for the backend before raising `PubSubUnavailable`
(read at every call, so a test may patch `fastapi_nova.hub.PUBLISH_TIMEOUT`).
"""
JOIN_TIMEOUT = 5.0
"""Seconds a `join` (or the hub's start) waits for a channel's backend subscription to be in
place, and a `leave` for its release, before giving up.
"""
MAX_NAME_LENGTH = 256
"""Longest channel or topic name, in characters (a documented limit: names reach the backend)."""
#: The URL query parameter that names the channel namespace (stripped before the backend).
_NAMESPACE_PARAM = "namespace"
#: What a namespace may be made of: it becomes part of every backend channel name.
_NAMESPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

_TAG: Literal["nova_pubsub"] = "nova_pubsub"


def _check_name(kind: str, value: object) -> str:
    """`value` if it is a usable channel or topic name; `TypeError`/`ValueError` if not.

    A name is a non-empty `str` of at most [`MAX_NAME_LENGTH`][fastapi_nova.hub.MAX_NAME_LENGTH]
    characters that encodes as UTF-8 (no lone surrogates, which JSON's `"\\ud800"` escape can
    smuggle in): every backend can then carry it, so no name can poison a backend's subscriptions.
    """
    if not isinstance(value, str):
        raise TypeError(f"pubsub {kind} must be a str, got {type(value).__name__}: {value!r}")
    if not value:
        raise ValueError(f"pubsub {kind} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"pubsub {kind} is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}: "
            f"{value[:40]!r}..."
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"pubsub {kind} {value[:80]!r} is not valid Unicode (a lone surrogate at index "
            f"{exc.start})"
        ) from None
    return value


def _split_namespace(url: str) -> tuple[str, str]:
    """`(backend URL, namespace)` of a pub/sub URL; `ValueError` for a bad namespace.

    The namespace comes from the URL's `?namespace=` parameter (removed from the URL the
    backend sees). Without one, a `redis://`/`rediss://` URL gets `db<N>` from its
    database number, because Redis pub/sub ignores the database: two apps on one Redis with
    different database numbers stay apart. Other URLs get no namespace.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    given = [value for key, value in query if key == _NAMESPACE_PARAM]
    if given:
        namespace = given[-1]
        if not namespace or len(namespace) > 64 or not set(namespace) <= _NAMESPACE_CHARS:
            raise ValueError(
                f"pub/sub namespace {namespace!r} in {url!r} must be 1 to 64 characters of "
                "letters, digits, '-' and '_'"
            )
        rest = urlencode([(key, value) for key, value in query if key != _NAMESPACE_PARAM])
        # Rebuilt by hand: urlunsplit would turn "memory://" into "memory:".
        return url.partition("?")[0] + (f"?{rest}" if rest else ""), namespace
    if parts.scheme in ("redis", "rediss"):
        db = parts.path.strip("/") or dict(query).get("db") or "0"
        return url, f"db{db}"
    return url, ""


def _redacted(url: str) -> str:
    """`url` without its credentials or query, to name a backend in messages and logs.

    The one helper for this (the Redis backend and the pub/sub front use it too): a password
    in a pub/sub URL must never reach a log line or an exception.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    if parts.username is not None or parts.password is not None:
        netloc = f"***@{netloc}"
    return f"{parts.scheme}://{netloc}{parts.path}"


class PubSubMessage(NamedTuple):
    """What a member receives: `("nova_pubsub", channel, sender, topic, payload)`."""

    tag: Literal["nova_pubsub"]
    channel: str
    sender: Pid | None
    topic: str
    payload: Any


@runtime_checkable
class _SupervisedBackend(Protocol):
    """A backend that reconnects by itself and reports it (`_RedisBackend` is one)."""

    @property
    def connected(self) -> bool:
        """True while the backend can publish and receive."""
        ...

    def add_state_listener(self, listener: Callable[[bool], None]) -> None:
        """Call `listener(connected)` whenever `connected` changes."""
        ...

    def remove_state_listener(self, listener: Callable[[bool], None]) -> None:
        """Undo `add_state_listener`."""
        ...


# -- wire format ---------------------------------------------------------------------------
# "<header JSON>\n<payload JSON>": json.dumps never emits a raw newline, and keeping the
# payload text apart lets each member get its own decoded copy (as each Erlang process does)
# without decoding the header again.


def _encode(topic: str, payload: Any, sender: Pid | None) -> str:
    """The wire form of one message, the same on every backend.

    `TypeError` if `payload` is not JSON-serialisable (NaN and infinities included);
    `ValueError` if it holds a string that is not valid Unicode (a lone surrogate, which no
    backend that sends bytes can carry) or is nested too deeply to encode.
    """
    try:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "pubsub payload must be JSON-serialisable (dict, list, str, int, float, bool or "
            f"None); got {type(payload).__name__}: {exc}"
        ) from exc
    except RecursionError:
        raise ValueError("pubsub payload is nested too deeply to encode") from None
    try:
        # Checked here, on every backend, since memory:// would carry it and Redis would not.
        body.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            "pubsub payload holds a string that is not valid Unicode (a lone surrogate near "
            f"{body[max(exc.start - 20, 0) : exc.end + 20]!r}); it cannot be sent"
        ) from None
    head = json.dumps({"s": sender.to_json() if sender is not None else None, "t": topic})
    return f"{head}\n{body}"


def _fan_out(members: list[Pid], channel: str, wire: str) -> int:
    """Deliver one wire message to `members`; returns how many took it.

    The message is decoded once and the one [`PubSubMessage`][fastapi_nova.hub.PubSubMessage] goes
    to every member (its payload is shared: members must treat it as read-only, as Erlang terms
    are).
    """
    if not members:
        return 0
    head_text, _, body = wire.partition("\n")
    head = json.loads(head_text)
    sender = Pid.from_json(head["s"]) if head["s"] is not None else None
    message = PubSubMessage(_TAG, channel, sender, str(head["t"]), json.loads(body))
    delivered = 0
    for pid in members:
        try:
            delivered += pid.deliver(message)
        except Exception:  # one member's full or broken mailbox must not starve the others
            _logger.exception("delivering a %r message to %r failed", channel, pid)
    return delivered


# -- the hub -------------------------------------------------------------------------------


class _Channel:
    """The one broadcaster subscription of a channel in this process."""

    __slots__ = ("previous", "ready", "stopping", "task")

    def __init__(
        self, ready: asyncio.Future[None], previous: asyncio.Task[None] | None = None
    ) -> None:
        self.ready = ready
        self.stopping = False
        self.task: asyncio.Task[None] | None = None
        #: The task of the subscription this one replaces, still being released.
        self.previous = previous


async def _stop_tasks(tasks: list[asyncio.Task[Any]], timeout: float = 2.0) -> None:
    """Cancel `tasks` and wait for them, bounded.

    Python 3.11's `asyncio.wait_for` (which redis-py uses) returns normally when the awaited
    call completes in the same loop iteration as a cancellation, losing the cancellation; so
    tasks still running are cancelled again, and every loop also checks a `closed` flag.
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
        _logger.warning("pub/sub tasks did not stop within %ss: %r", timeout, pending)


def _consume(future: asyncio.Future[None]) -> None:
    # Mark an exception as seen so an unawaited failed future is not logged at GC.
    if not future.cancelled():
        future.exception()


class _Hub:
    """One process's link to the pub/sub backend, bound to the event loop it was made on.

    With `gossip` on (every scheme but `memory://`), it also runs this node's
    `_Gossip` over the backend, so `get_members` sees the
    members of every node.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        node: str = _NODE,
        backend: BroadcastBackend | None = None,
        members: _LocalMembers | None = None,
        gossip: bool | None = None,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        missed_heartbeats: int = MISSED_HEARTBEATS,
    ) -> None:
        self.url = url
        backend_url, self.namespace = _split_namespace(url)
        #: Backend channel names: `<prefix><channel>`, and the gossip channel.
        self.channel_prefix = f"nova.{self.namespace}.ch." if self.namespace else "nova.ch."
        self.control_channel = f"nova.{self.namespace}.gossip" if self.namespace else "nova.gossip"
        self.node = node
        self.loop = asyncio.get_running_loop()
        if backend is None and urlsplit(url).scheme in ("redis", "rediss"):
            # Imported by URL scheme (as broadcaster picks its backends), and here rather
            # than at the top: redis_backend imports this module.
            from fastapi_nova.redis_backend import _RedisBackend

            backend = _RedisBackend(backend_url)
        self.backend = backend
        self._broadcast = (
            Broadcast(backend=backend) if backend is not None else Broadcast(backend_url)
        )
        self._supervised = backend if isinstance(backend, _SupervisedBackend) else None
        self.members = members if members is not None else _LocalMembers()
        self.members.hub = self
        self.gossip = gossip if gossip is not None else urlsplit(url).scheme != "memory"
        self.heartbeat_interval = heartbeat_interval
        self.missed_heartbeats = missed_heartbeats
        self.epoch = uuid.uuid4().hex[:12]
        self.closed = False
        self._started: asyncio.Task[None] | None = None
        self._listening = False  # whether the supervised backend reports to us
        self._channels: dict[str, _Channel] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._gossip = (
            _Gossip(
                node=node,
                epoch=self.epoch,
                members=self.members,
                publish=functools.partial(self._publish, self.control_channel),
                on_change=self._pulse,
                loop=self.loop,
                heartbeat_interval=heartbeat_interval,
                missed_heartbeats=missed_heartbeats,
            )
            if self.gossip
            else None
        )

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
        started = self._started
        try:
            await asyncio.shield(started)  # a cancelled caller must not cancel the start
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not started.cancelled() or (task is not None and task.cancelling()):
                raise  # we were cancelled ourselves
            # close() stopped the start while we waited for it: say so, not "cancelled".
            raise PubSubUnavailable(f"pub/sub hub for {self.url} closed while starting") from None

    async def _start(self) -> None:
        try:
            await self._broadcast.connect()
        except Exception as exc:
            raise PubSubUnavailable(f"cannot connect pub/sub backend {self.url}: {exc}") from exc
        self._check_open()
        if self._supervised is not None:
            self._supervised.add_state_listener(self._on_backend_state)
            self._listening = True
        if self._gossip is not None:
            ready: asyncio.Future[None] = self.loop.create_future()
            ready.add_done_callback(_consume)
            self._spawn(self._run_control(self._gossip, ready), "control")
            try:
                async with asyncio.timeout(JOIN_TIMEOUT):
                    await asyncio.shield(ready)
            except TimeoutError as exc:
                raise PubSubUnavailable(
                    f"subscribing {self.control_channel!r} on {self.url} took over {JOIN_TIMEOUT}s"
                ) from exc
            self._check_open()
            self._spawn(self._gossip.send_loop(), "gossip sender")
            self._spawn(self._gossip.heartbeat_loop(), "heartbeat")
            self._gossip.announce()
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
        `farewell=False` skips the goodbye, as a crashed node would (for tests).
        """
        if self.closed:
            return
        gossip = self._gossip
        say_bye = gossip is not None and farewell and self.connected
        self.closed = True
        if gossip is not None:
            gossip.close()
        if self.members.hub is self:
            self.members.hub = None
        if say_bye and gossip is not None:
            with contextlib.suppress(Exception):
                await gossip.say_goodbye()
        if self._supervised is not None and self._listening:
            self._supervised.remove_state_listener(self._on_backend_state)
        started = self._started
        channels = self._channels.values()
        tasks = [t for st in channels for t in (st.task, st.previous) if t is not None]
        tasks += self._tasks
        if started is not None:
            tasks.append(started)
        if gossip is not None:
            gossip.stop()
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
        if self._gossip is not None:
            self._gossip.close()
        if self.members.hub is self:
            self.members.hub = None

    def _on_backend_state(self, connected: bool) -> None:
        if connected and self._gossip is not None and not self.closed:
            self._gossip.announce()  # others may have dropped us, and we them, during the outage

    # -- membership ------------------------------------------------------------------------

    async def join(self, channel: str, pid: Pid) -> None:
        """Make local `pid` a member of `channel`; returns once the channel is subscribed."""
        _check_name("channel", channel)
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
            if self._gossip is not None:
                self._gossip.delta(join={channel: [pid.id]})
            self._pulse()

    async def leave(self, channel: str, pid: Pid) -> bool:
        """Remove `pid` from `channel`; False if it was not a member."""
        if not self.members.remove(channel, pid):
            return False
        stopping = self._left(pid, [channel])
        if stopping:
            # Wait (bounded) for the unsubscription so that callers observe it done.
            await asyncio.wait(stopping, timeout=JOIN_TIMEOUT)
        return True

    def members_exited(self, pid: Pid, channels: list[str]) -> None:
        """`pid` ended and was removed from `channels` (callable from any thread)."""
        self._call_soon(lambda: self._left(pid, channels))

    def _left(self, pid: Pid, channels: list[str]) -> list[asyncio.Task[None]]:
        if self.closed:
            return []
        stopping = [task for ch in channels if (task := self._stop_channel(ch)) is not None]
        if self._gossip is not None:
            self._gossip.delta(leave={ch: [pid.id] for ch in channels})
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

    def get_members(self, channel: str) -> list[Pid]:
        """The members of `channel` on every node this hub knows of (local ones first)."""
        result = self.members.members(channel)
        if self._gossip is not None:
            result += self._gossip.remote_members(channel)
        return result

    def nodes(self) -> list[str]:
        """The other nodes this hub hears from."""
        return self._gossip.nodes() if self._gossip is not None else []

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until `predicate()` holds, re-checking at every membership change."""
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
            previous = st.task if st is not None else None
            st = _Channel(self.loop.create_future(), previous)
            st.ready.add_done_callback(_consume)
            self._channels[channel] = st
            st.task = self.loop.create_task(
                self._run_channel(channel, st), name=f"fastapi-nova pubsub channel {channel!r}"
            )
        try:
            async with asyncio.timeout(JOIN_TIMEOUT):
                await asyncio.shield(st.ready)
        except TimeoutError as exc:
            raise PubSubUnavailable(
                f"subscribing channel {channel!r} on {self.url} took over {JOIN_TIMEOUT}s"
            ) from exc

    def _stop_channel(self, channel: str) -> asyncio.Task[None] | None:
        st = self._channels.get(channel)
        if st is None or st.stopping or self.members.has(channel):
            return None
        st.stopping = True
        # Cancel only once subscribed: broadcaster's subscribe() breaks if cancelled midway.
        # A task not yet subscribed sees `stopping` and leaves right after.
        if st.ready.done() and st.task is not None:
            st.task.cancel()
        return st.task

    async def _run_channel(self, channel: str, st: _Channel) -> None:
        try:
            if st.previous is not None:
                # The subscription being released must be gone first: broadcaster's subscribe()
                # racing a pending one (or its unsubscribe) would leave ours receiving nothing.
                await asyncio.wait({st.previous})
                st.previous = None
            async with self._broadcast.subscribe(self.channel_prefix + channel) as subscriber:
                st.ready.set_result(None)
                while not st.stopping:
                    event = await subscriber.get()
                    try:
                        _fan_out(self.members.members(channel), channel, event.message)
                    except Exception:  # a foreign or corrupt message must not end the channel
                        _logger.exception("bad pub/sub message on %r: %.200r", channel, event)
        except Exception as exc:
            if not st.ready.done():
                st.ready.set_exception(
                    PubSubUnavailable(f"cannot subscribe channel {channel!r} on {self.url}: {exc}")
                )
            else:
                _logger.exception("pub/sub subscription of %r failed", channel)
        finally:
            if not st.ready.done():
                st.ready.set_exception(PubSubUnavailable(f"pub/sub hub for {self.url} closed"))
            if self._channels.get(channel) is st:
                del self._channels[channel]
                self._pulse()

    async def _run_control(self, gossip: _Gossip, ready: asyncio.Future[None]) -> None:
        try:
            async with self._broadcast.subscribe(self.control_channel) as subscriber:
                ready.set_result(None)
                while True:
                    event = await subscriber.get()
                    gossip.receive(event.message)
        finally:
            if not ready.done():
                ready.set_exception(PubSubUnavailable("gossip channel not subscribed"))

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, channel: str, wire: str) -> None:
        """Publish one encoded message (see `_encode`) to `channel` on every node."""
        await self.start()
        await self._publish(self.channel_prefix + channel, wire)

    async def _publish(self, name: str, wire: str) -> None:
        if self._supervised is not None and not self._supervised.connected:
            raise PubSubUnavailable(f"pub/sub backend {_redacted(self.url)} is unreachable")
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await self._broadcast.publish(name, wire)
        except PubSubUnavailable:
            raise
        except TimeoutError as exc:
            raise PubSubUnavailable(
                f"pub/sub backend {_redacted(self.url)} did not take the message within "
                f"{PUBLISH_TIMEOUT}s"
            ) from exc
        except Exception as exc:
            raise PubSubUnavailable(f"pub/sub backend {_redacted(self.url)} failed: {exc}") from exc
