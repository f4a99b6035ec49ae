"""Pub/sub channels for connections: Nova's `nova_pubsub` over broadcaster.

```python
from fastapi_nova import pubsub

await pubsub.join("chat")                        # the current connection joins
await pubsub.broadcast("chat", "message", "hi")  # every member on every node
# each member's websocket_info gets ("nova_pubsub", "chat", sender, "message", "hi")
```

How it is built. Pub/sub is process-wide state, as in Nova: one
[`PubSub`][fastapi_nova.pubsub.PubSub] object per process owns the backend URL, the local membership
and the hub, and the functions of this module are its front. `NovaRouter(pubsub=url)` configures it
(a second router naming another backend is refused with
[`PubSubConfigError`][fastapi_nova.pubsub.PubSubConfigError]) and its lifespan starts and stops it.
The parts live in `fastapi_nova.hub` and `fastapi_nova.membership`, which import nothing from here:

* Membership is kept per process (`_LocalMembers`); a `_Hub` connects it to the
  backend. The hub holds **one** broadcaster subscription per channel that has local members
  and fans each message out to those members' pids.
* Every payload travels as JSON, on every backend (memory included): members receive what a
  cluster would deliver, and a payload that cannot be sent fails in `broadcast`.
* The hub is bound to the event loop it started on. Used from another loop (Starlette's
  `TestClient` runs one per portal), the functions retire it and start a new one there,
  resubscribing every channel with local members.
* [`get_members`][fastapi_nova.pubsub.get_members] sees other nodes through gossip (see
  `_Gossip`), so it works over any broadcaster backend.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from typing import Any
from urllib.parse import urlsplit

from fastapi_nova.errors import NotInConnectionError, PubSubConfigError, PubSubUnavailable
from fastapi_nova.hub import (
    MAX_NAME_LENGTH,
    PubSubMessage,
    _check_name,
    _encode,
    _fan_out,
    _Hub,
    _redacted,
    _split_namespace,
)
from fastapi_nova.membership import HEARTBEAT_INTERVAL, MISSED_HEARTBEATS, _LocalMembers
from fastapi_nova.pid import Pid, _self_pid

__all__ = [
    "HEARTBEAT_INTERVAL",
    "MAX_NAME_LENGTH",
    "MISSED_HEARTBEATS",
    "PubSub",
    "PubSubMessage",
    "broadcast",
    "configure",
    "current",
    "get_local_members",
    "get_members",
    "join",
    "leave",
    "local_broadcast",
    "shutdown",
    "startup",
]

_logger = logging.getLogger(__name__)

#: Seconds to wait for a hub on another (still running) event loop to close.
_RETIRE_TIMEOUT = 2.0
#: URL schemes broadcaster (or our Redis backend) can serve.
_SCHEMES = frozenset(
    {"memory", "redis", "rediss", "redis-stream", "postgres", "postgresql", "kafka"}
)


def _check_url(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(
            f"unsupported pub/sub URL {url!r}: the scheme must be one of "
            f"{', '.join(sorted(_SCHEMES))}"
        )
    _split_namespace(url)  # a bad ?namespace= fails here, at configuration
    if scheme in ("redis", "rediss"):
        # Only a redis:// app loads the Redis backend module (as broadcaster loads backends).
        from fastapi_nova.redis_backend import _INSTALL_HINT

        try:
            import redis  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"pub/sub URL {url!r} needs redis-py; install it with {_INSTALL_HINT}"
            ) from exc
    return url


class PubSub:
    """The process's pub/sub: its backend URL, its local members and its hub.

    There is one per process ([`current`][fastapi_nova.pubsub.current]); the module functions are
    its front, and `NovaRouter(pubsub=...)` configures it. Its lifetime: `start` (the router's
    lifespan) connects and `stop` disconnects; in between, and before any start (a
    `TestClient` used without `with`), it connects lazily on first use. After the last
    `stop` on an event loop, use on that loop raises
    [`PubSubUnavailable`][fastapi_nova.pubsub.PubSubUnavailable] instead of silently reconnecting; a
    later `start`, or another loop, opens it again.
    """

    def __init__(self) -> None:
        #: The configured URL; None means `$NOVA_PUBSUB_URL`, else `memory://`.
        self.url: str | None = None
        self.members = _LocalMembers()
        self.hub: _Hub | None = None
        self._leases = 0  # started lifespans not yet stopped (several routers may share it)
        self._stopped_on: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def configure(self, url: str | None) -> None:
        """Use `url`; None forgets the configuration (back to the default).

        Raises [`PubSubConfigError`][fastapi_nova.pubsub.PubSubConfigError] if another URL is
        already configured: pub/sub is process-wide, so a second configuration would re-point the
        first one's connections.
        """
        if url is None:
            self.url = None
            self._stopped_on = None
            return
        _check_url(url)
        if self.url is not None and self.url != url:
            configured, wanted = _redacted(self.url), _redacted(url)
            raise PubSubConfigError(
                f"pub/sub is already configured for {configured!r}; refusing to re-point it "
                f"to {wanted!r}. Pub/sub is process-wide: give every NovaRouter the same "
                "pubsub= URL (or none, and set $NOVA_PUBSUB_URL)"
            )
        self.url = url

    def resolved_url(self) -> str:
        """The URL in use: the configured one, else `$NOVA_PUBSUB_URL`, else `memory://`."""
        return self.url or _check_url(os.environ.get("NOVA_PUBSUB_URL") or "memory://")

    async def hub_for_use(self) -> _Hub:
        """The connected hub of the running loop, started if needed."""
        loop = asyncio.get_running_loop()
        if self._stopped_on is not None and self._stopped_on() is loop:
            raise PubSubUnavailable(
                "pub/sub has shut down with the app's lifespan; it does not reconnect on this "
                "event loop. Code that broadcasts at shutdown belongs in "
                "NovaRouter(..., lifespan=...), which runs before pub/sub stops"
            )
        url = self.resolved_url()
        hub = self.hub
        if hub is None or hub.closed or hub.loop is not loop or hub.url != url:
            old, hub = hub, _Hub(url, members=self.members)
            self.hub = hub  # before any await, so concurrent callers share this hub
            if old is not None:
                await _retire(old)
        try:
            await hub.start()
        except Exception:  # not CancelledError: one cancelled caller must not fail the others
            if self.hub is hub:
                self.hub = None
                await hub.close(farewell=False)
            raise
        return hub

    async def start(self) -> None:
        """Connect on the running loop; each call needs its `stop` (a lifespan's pair)."""
        self._stopped_on = None
        self._leases += 1
        try:
            await self.hub_for_use()
        except BaseException:
            self._leases -= 1
            raise

    async def stop(self) -> None:
        """End one `start`; the last one disconnects, and use on this loop then raises."""
        self._leases = max(self._leases - 1, 0)
        if self._leases:
            return
        self._stopped_on = weakref.ref(asyncio.get_running_loop())
        hub, self.hub = self.hub, None
        if hub is not None:
            await _retire(hub)

    # -- the API (the module functions call these on the process's object) ------------------

    async def join(self, channel: str, *, member: Pid | None = None) -> None:
        """See [`fastapi_nova.pubsub.join`][fastapi_nova.pubsub.join]."""
        _check_name("channel", channel)
        pid = _member(member, "join")
        hub = await self.hub_for_use()
        await hub.join(channel, pid)

    async def leave(self, channel: str, *, member: Pid | None = None) -> bool:
        """See [`fastapi_nova.pubsub.leave`][fastapi_nova.pubsub.leave]."""
        _check_name("channel", channel)
        pid = _member(member, "leave")
        hub = self.hub
        if hub is not None and not hub.closed and hub.loop is asyncio.get_running_loop():
            return await hub.leave(channel, pid)
        # No hub on this loop: membership belongs to the process, so leave it here; a hub on
        # another loop releases the channel's subscription on its own loop.
        if not self.members.remove(channel, pid):
            return False
        if hub is not None:
            hub.members_exited(pid, [channel])
        return True

    async def broadcast(self, channel: str, topic: str, payload: Any) -> None:
        """See [`fastapi_nova.pubsub.broadcast`][fastapi_nova.pubsub.broadcast]."""
        _check_name("channel", channel)
        _check_name("topic", topic)
        wire = _encode(topic, payload, _self_pid())
        hub = await self.hub_for_use()
        await hub.publish(channel, wire)

    def local_broadcast(self, channel: str, topic: str, payload: Any) -> int:
        """See [`local_broadcast`][fastapi_nova.pubsub.local_broadcast]; returns how many got it."""
        _check_name("channel", channel)
        _check_name("topic", topic)
        wire = _encode(topic, payload, _self_pid())
        return _fan_out(self.members.members(channel), channel, wire)

    def get_members(self, channel: str) -> list[Pid]:
        """See [`fastapi_nova.pubsub.get_members`][fastapi_nova.pubsub.get_members]."""
        _check_name("channel", channel)
        hub = self.hub
        if hub is None or hub.closed:
            return self.members.members(channel)
        return hub.get_members(channel)

    def get_local_members(self, channel: str) -> list[Pid]:
        """See [`fastapi_nova.pubsub.get_local_members`][fastapi_nova.pubsub.get_local_members]."""
        _check_name("channel", channel)
        return self.members.members(channel)


async def _retire(hub: _Hub) -> None:
    if hub.closed:
        return
    if hub.loop is asyncio.get_running_loop():
        await hub.close()
    elif hub.loop.is_closed() or not hub.loop.is_running():
        hub.abandon()
    else:  # still serving on another thread (e.g. a WebSocket session's portal)
        future = asyncio.run_coroutine_threadsafe(hub.close(), hub.loop)
        try:
            async with asyncio.timeout(_RETIRE_TIMEOUT):
                await asyncio.wrap_future(future)
        except Exception as exc:
            _logger.warning("closing the pub/sub hub of another event loop failed: %r", exc)
            hub.abandon()


_STATE = PubSub()


# -- the module-level front ------------------------------------------------------------------


def current() -> PubSub:
    """The process's [`PubSub`][fastapi_nova.pubsub.PubSub], which `NovaRouter` configures."""
    return _STATE


def configure(url: str | None) -> None:
    """Set the backend URL (`NovaRouter(pubsub=...)` calls this); None means the default.

    The default is `$NOVA_PUBSUB_URL`, else `memory://`. A `?namespace=name` parameter
    sets the channel namespace. Configuring a different URL than the one already set raises
    [`PubSubConfigError`][fastapi_nova.PubSubConfigError]; the same URL again is fine.
    """
    _STATE.configure(url)


def _current_hub() -> _Hub | None:
    """The hub the module-level functions use now, if one started (for tests and benchmarks)."""
    return _STATE.hub


async def startup() -> None:
    """Connect the pub/sub backend on the running loop (the router's lifespan calls this)."""
    await _STATE.start()


async def shutdown() -> None:
    """Disconnect (the router's lifespan calls this); later use on this loop raises."""
    await _STATE.stop()


def _member(member: Pid | None, action: str) -> Pid:
    if member is None:
        member = _self_pid()
        if member is None:
            raise NotInConnectionError(
                f"pubsub.{action}() was called outside a WebSocket connection; call it from a "
                f"handler callback, or name the connection with {action}(channel, member=pid)"
            )
    if not isinstance(member, Pid):
        raise TypeError(f"pubsub.{action}(member=...) must be a Pid, got {member!r}")
    return member


async def join(channel: str, *, member: Pid | None = None) -> None:
    """Make the current connection (or `member`) a member of `channel`.

    Joining twice is one membership; it ends with [`leave`][fastapi_nova.pubsub.leave] or when the
    connection ends. `ValueError`/`TypeError` for a channel name that breaks the rules (see
    [`broadcast`][fastapi_nova.pubsub.broadcast]).

    ```python
    async def init(self, state):
        await pubsub.join("chat")
        return ("ok", state)
    ```
    """
    await _STATE.join(channel, member=member)


async def leave(channel: str, *, member: Pid | None = None) -> bool:
    """Remove the current connection (or `member`) from `channel`; False if not a member."""
    return await _STATE.leave(channel, member=member)


async def broadcast(channel: str, topic: str, payload: Any) -> None:
    """Send `payload` to every member of `channel` on every node, the sender included.

    Channel and topic: a non-empty `str` of valid Unicode of at most
    [`MAX_NAME_LENGTH`][fastapi_nova.pubsub.MAX_NAME_LENGTH] characters, else
    `TypeError`/`ValueError`. `payload` must be JSON-serialisable (else `TypeError`) with valid
    Unicode strings (else `ValueError`), on every backend alike.
    [`PubSubUnavailable`][fastapi_nova.errors.PubSubUnavailable] means the backend cannot take it
    now.

    ```python
    await pubsub.broadcast("chat", "message", {"from": "ann", "text": "hi"})
    ```
    """
    await _STATE.broadcast(channel, topic, payload)


async def local_broadcast(channel: str, topic: str, payload: Any) -> None:
    """Send `payload` to the members of `channel` in this process only (no backend).

    The same rules as [`broadcast`][fastapi_nova.pubsub.broadcast]; it works while the backend is
    down, or shut down.
    """
    _STATE.local_broadcast(channel, topic, payload)


def get_members(channel: str) -> list[Pid]:
    """The members of `channel` on every node (local ones first)."""
    return _STATE.get_members(channel)


def get_local_members(channel: str) -> list[Pid]:
    """The members of `channel` in this process."""
    return _STATE.get_local_members(channel)
