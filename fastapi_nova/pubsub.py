"""Pub/sub channels for connections: Nova's ``nova_pubsub`` over broadcaster.

.. code-block:: python

    from fastapi_nova import pubsub

    await pubsub.join("chat")                       # the current connection joins
    await pubsub.broadcast("chat", "message", "hi")  # every member on every node
    # each member's websocket_info gets ("nova_pubsub", "chat", sender, "message", "hi")

How it is built (this module is the API and the process-wide state; the parts live in
:mod:`fastapi_nova.hub` and :mod:`fastapi_nova.membership`, and import nothing from here):

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
  :class:`~fastapi_nova.membership.Gossip`), so it works over any broadcaster backend.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any
from urllib.parse import urlsplit

from fastapi_nova.errors import NotInConnectionError
from fastapi_nova.hub import (
    CHANNEL_PREFIX,
    PUBLISH_TIMEOUT,
    SUBSCRIBE_TIMEOUT,
    Hub,
    PubSubMessage,
    SupervisedBackend,
    encode,
    fan_out,
)
from fastapi_nova.membership import (
    CONTROL_CHANNEL,
    HEARTBEAT_INTERVAL,
    MISSED_HEARTBEATS,
    LocalMembers,
)
from fastapi_nova.pid import Pid, self_pid

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

#: Seconds to wait for a hub on another (still running) event loop to close.
RETIRE_TIMEOUT = 2.0
#: URL schemes broadcaster (or our Redis backend) can serve.
SCHEMES = frozenset(
    {"memory", "redis", "rediss", "redis-stream", "postgres", "postgresql", "kafka"}
)


def _check_name(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"pubsub {kind} must be a str, got {type(value).__name__}: {value!r}")
    return value


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
    except Exception:  # not CancelledError: one cancelled caller must not fail the others
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
    wire = encode(topic, payload, self_pid())
    hub = await _hub()
    await hub.publish_wire(channel, wire)


async def local_broadcast(channel: str, topic: str, payload: Any) -> None:
    """Send ``payload`` to the members of ``channel`` in this process only (no backend)."""
    _check_name("channel", channel)
    _check_name("topic", topic)
    fan_out(_STATE.members.members(channel), channel, encode(topic, payload, self_pid()))


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
