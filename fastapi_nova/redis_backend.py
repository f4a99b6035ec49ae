"""A supervised Redis backend for broadcaster: works with redis-py 5 to 8 and outlives Redis.

Why not broadcaster's own `RedisBackend` (0.3.1)? Two defects, each shown by a test in
`tests/test_redis_backend.py`:

* Under redis-py 8 the first subscription after `connect` never receives: its listener task
  starts `listen()` before the first SUBSCRIBE is registered, finds no subscription, returns,
  and waits for a signal that already fired.
* When the Redis connection drops, its listener dies or blocks and nothing resubscribes:
  subscribers wait forever and publishers get no error once Redis is back.

Here one supervisor task owns the subscriber connection. It reads with a bounded
`get_message` loop (so it also notices a silent peer with PINGs), and when the connection
fails it throws the whole connection away, reconnects with exponential backoff and
resubscribes every channel before reporting itself connected again. `publish` raises
[`PubSubUnavailable`][fastapi_nova.errors.PubSubUnavailable] at once while Redis is down, and within
`_COMMAND_TIMEOUT` when it goes down mid-call, so no message is lost silently.
`RedisBackend.connected` and `RedisBackend.add_state_listener` let the pub/sub
layer re-announce its membership after a reconnect.

redis-py is imported lazily: the package works without the `redis` extra until a
`redis://` URL is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
from collections.abc import Callable
from typing import Any

from broadcaster import BroadcastBackend, Event

from fastapi_nova.errors import PubSubUnavailable
from fastapi_nova.hub import _redacted

_logger = logging.getLogger(__name__)

#: Seconds to open a TCP connection to Redis before the attempt counts as failed.
_CONNECT_TIMEOUT = 1.0
#: Seconds one command (PUBLISH, UNSUBSCRIBE) may take before the caller is told Redis is down.
_COMMAND_TIMEOUT = 1.0
#: Seconds to wait for Redis to confirm a SUBSCRIBE (the reply proves later messages arrive).
_SUBSCRIBE_CONFIRM_TIMEOUT = 2.0
#: Pause before the first reconnection attempt; it doubles per failure up to BACKOFF_MAX.
_BACKOFF_INITIAL = 0.05
#: Longest pause between reconnection attempts, so a returning Redis is found within it.
_BACKOFF_MAX = 2.0
#: An idle subscriber connection sends a PING this often; no reply by the next one means dead.
#: (A killed Redis closes the socket and is noticed at once; this catches silent peers.)
_PING_INTERVAL = 5.0
#: Seconds `disconnect` waits for the supervisor to close its connections.
_STOP_TIMEOUT = 2.0
#: SUBSCRIBE rounds while restoring after a reconnect (channels may be added meanwhile).
_RESTORE_ROUNDS = 8

#: Called with True when the subscriber connection is (re)established, False when it is lost.
_StateListener = Callable[[bool], None]

#: What to run when redis-py is missing.
_INSTALL_HINT = "pip install 'fastapi-nova[redis]'"


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"redis:// and rediss:// pub/sub URLs need redis-py; install it with {_INSTALL_HINT}"
        ) from exc


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        # A foreign publisher may send anything; a bad byte must not kill the connection.
        return value.decode("utf-8", errors="replace")
    return str(value)


def _backoff_delay(failures: int) -> float:
    """Seconds before the next reconnection attempt after `failures` failed ones in a row."""
    delay = min(_BACKOFF_MAX, _BACKOFF_INITIAL * 2.0 ** min(failures, 16))
    # Jitter so that many processes do not reconnect in lockstep after an outage.
    return delay * random.uniform(0.75, 1.0)


def _check_channel(channel: str) -> None:
    try:
        channel.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"Redis cannot subscribe {channel[:80]!r}: not valid Unicode (a lone surrogate at "
            f"index {exc.start})"
        ) from None


class _RedisBackend(BroadcastBackend):
    """broadcaster backend for `redis://` / `rediss://` that reconnects and resubscribes."""

    def __init__(self, url: str, *, backoff: Callable[[int], float] | None = None) -> None:
        #: Seconds to wait after `failures` failed attempts in a row (default: exponential
        #: with jitter, see `_backoff_delay`).
        self.backoff = backoff or _backoff_delay
        self._redis = _import("redis.asyncio")  # fail here, at configuration, if missing
        self._retry_cls = _import("redis.asyncio.retry").Retry
        self._no_backoff = _import("redis.backoff").NoBackoff
        self._url = url
        self.where = _redacted(url)
        self._channels: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._listeners: list[_StateListener] = []
        self._connected = False
        self._session_up = False
        self._stopping = False
        self._cleaning_up = False
        self._pubsub: Any = None
        self._publisher: Any = None
        self._queue: asyncio.Queue[Event] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._first_attempt: asyncio.Event | None = None

    # -- state -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up and every channel is subscribed."""
        return self._connected

    @property
    def subscriptions(self) -> frozenset[str]:
        """The channels this backend keeps subscribed (restored after every reconnect)."""
        return frozenset(self._channels)

    def add_state_listener(self, listener: _StateListener) -> None:
        """Call `listener(connected)` on every change of `connected`."""
        self._listeners.append(listener)

    def remove_state_listener(self, listener: _StateListener) -> None:
        """Undo `add_state_listener`; a no-op if it is not registered."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        for listener in list(self._listeners):
            try:
                listener(connected)
            except Exception:  # a listener's bug must not stop the supervisor
                _logger.exception("redis backend state listener %r failed", listener)

    # -- BroadcastBackend --------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the supervisor; return after the first connection attempt, good or bad.

        An unreachable Redis does not raise: the process keeps serving, `publish` raises
        [`PubSubUnavailable`][fastapi_nova.redis_backend.PubSubUnavailable], and the supervisor
        keeps trying with backoff.
        """
        if self._supervisor is not None:
            raise RuntimeError(f"RedisBackend for {self.where} is already connected")
        self._stopping = self._cleaning_up = False  # a backend may connect again after disconnect
        self._queue = asyncio.Queue()
        self._first_attempt = asyncio.Event()
        self._publisher = self._client(retries=1)
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"fastapi-nova redis supervisor {self.where}"
        )
        await self._first_attempt.wait()

    async def disconnect(self) -> None:
        """Stop the supervisor and close every connection."""
        task, self._supervisor = self._supervisor, None
        if task is None:
            return
        self._stopping = True
        task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STOP_TIMEOUT
        while not task.done() and loop.time() < deadline:
            await asyncio.wait({task}, timeout=0.1)
            if not task.done() and not self._cleaning_up:
                # Python 3.11's asyncio.wait_for, which redis-py uses, can swallow a
                # cancellation; cancel again, but never while the connections are closing.
                task.cancel()
        if not task.done():
            _logger.warning("the Redis supervisor for %s did not stop in time", self.where)

    async def subscribe(self, channel: str) -> None:
        """Subscribe `channel`; while connected, return once Redis confirmed it.

        `ValueError` for a name Redis cannot carry (not valid UTF-8): it is never kept, so
        it cannot stop the other channels from being restored after a reconnect.
        """
        _check_channel(channel)
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None or not self._connected:
            return  # the supervisor subscribes every channel when it (re)connects
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        try:
            async with asyncio.timeout(_SUBSCRIBE_CONFIRM_TIMEOUT):
                await pubsub.subscribe(channel)
                await waiter
        except Exception as exc:  # the connection broke: the supervisor restores it
            _logger.debug("SUBSCRIBE %r on %s failed: %r", channel, self.where, exc)
        finally:
            waiters = self._waiters.get(channel)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[channel]

    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving `channel`."""
        self._channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is None or not self._connected:
            return  # a new connection simply does not subscribe it again
        try:
            async with asyncio.timeout(_COMMAND_TIMEOUT):
                await pubsub.unsubscribe(channel)
        except Exception as exc:  # messages still arriving for it are filtered out
            _logger.debug("UNSUBSCRIBE %r on %s failed: %r", channel, self.where, exc)

    async def publish(self, channel: str, message: Any) -> None:
        """PUBLISH, or raise [`PubSubUnavailable`][fastapi_nova.PubSubUnavailable] at once."""
        if not self._connected or self._publisher is None:
            raise PubSubUnavailable(
                f"Redis at {self.where} is unreachable; message to {channel!r} was not sent"
            )
        try:
            async with asyncio.timeout(_COMMAND_TIMEOUT):
                await self._publisher.publish(channel, message)
        except TimeoutError as exc:
            raise PubSubUnavailable(
                f"Redis at {self.where} did not take the message to {channel!r} "
                f"within {_COMMAND_TIMEOUT}s"
            ) from exc
        except Exception as exc:
            raise PubSubUnavailable(
                f"Redis at {self.where} failed to publish to {channel!r}: {exc}"
            ) from exc

    async def next_published(self) -> Event:
        """The next message on a subscribed channel; waits through outages, never raises."""
        if self._queue is None:
            raise RuntimeError(f"RedisBackend for {self.where} is not connected")
        return await self._queue.get()

    # -- supervision -------------------------------------------------------------------------

    def _client(self, *, retries: int) -> Any:
        # Our supervisor does the reconnecting, so redis-py must not retry behind our back
        # (the publisher gets one retry: its pooled connection is stale after a Redis restart).
        return self._redis.Redis.from_url(
            self._url,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=_COMMAND_TIMEOUT,
            retry=self._retry_cls(self._no_backoff(), retries),
        )

    async def _supervise(self) -> None:
        failures = 0
        reported_down = False
        try:
            # Bounded in time by the backoff: at most one attempt per BACKOFF_MAX while down.
            while not self._stopping:
                error: Exception = ConnectionError("subscriber connection ended")
                self._session_up = False
                try:
                    await self._session()
                except Exception as exc:
                    error = exc
                finally:
                    if self._first_attempt is not None:
                        self._first_attempt.set()
                if self._stopping:
                    break
                was_up = self._session_up
                # One warning per outage, not one per attempt.
                if was_up:
                    _logger.warning("lost Redis at %s (%s); reconnecting", self.where, error)
                elif not reported_down:
                    _logger.warning("Redis at %s is unreachable (%s); retrying", self.where, error)
                else:
                    _logger.debug("Redis at %s still unreachable: %r", self.where, error)
                reported_down = True
                failures = 0 if was_up else failures + 1
                await asyncio.sleep(self.backoff(failures))  # a backoff pause, not a sync
        finally:
            self._cleaning_up = True
            self._connected = False  # no listener call: this is a deliberate shutdown
            publisher, self._publisher = self._publisher, None
            if publisher is not None:
                with contextlib.suppress(Exception):
                    await publisher.aclose()

    async def _session(self) -> None:
        """One connection's life: connect, restore subscriptions, read until it fails."""
        client = self._client(retries=0)
        pubsub = client.pubsub()
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT + _SUBSCRIBE_CONFIRM_TIMEOUT):
                await pubsub.connect()
                restored = await self._restore(pubsub)
            self._pubsub = pubsub
            self._session_up = True
            self._set_connected(True)
            if self._first_attempt is not None:
                self._first_attempt.set()
            _logger.info("connected to Redis at %s (%d channels)", self.where, len(self._channels))
            await self._catch_up(pubsub, restored)
            await self._listen(pubsub)  # ends by raising, or when stopping
        finally:
            self._cleaning_up = True
            self._pubsub = None
            self._set_connected(False)  # before any await: publish must fail from now on
            # Waiting subscribers return now; their channels are restored on reconnect.
            for waiters in self._waiters.values():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()
            self._cleaning_up = self._stopping

    async def _restore(self, pubsub: Any) -> set[str]:
        # Subscribe every channel on a new connection; returns the channels subscribed.
        for channel in list(self._channels):
            try:
                _check_channel(channel)
            except ValueError as exc:  # only if one got past subscribe(): it must not block
                _logger.warning("not restoring a channel Redis cannot carry: %s", exc)
                self._channels.discard(channel)
        confirmed: set[str] = set()
        for _ in range(_RESTORE_ROUNDS):
            missing = self._channels - confirmed
            if not missing:
                return confirmed
            await pubsub.subscribe(*sorted(missing))
            while not missing <= confirmed:
                message = await pubsub.get_message(timeout=_SUBSCRIBE_CONFIRM_TIMEOUT)
                if message is None:
                    raise TimeoutError(f"Redis did not confirm SUBSCRIBE of {sorted(missing)}")
                self._handle(message, confirmed)
        missing = self._channels - confirmed
        if missing:  # still growing after every round: confirmations arrive in _listen
            await pubsub.subscribe(*sorted(missing))
        return confirmed | missing

    async def _catch_up(self, pubsub: Any, restored: set[str]) -> None:
        # subscribe() and unsubscribe() called during the restore's awaits only updated
        # self._channels; from now on they send their own commands. Each set is computed just
        # before its command, which redis-py writes in call order, so no later call is undone.
        late = self._channels - restored
        if late:
            await pubsub.subscribe(*sorted(late))
        stale = restored - self._channels
        if stale:
            await pubsub.unsubscribe(*sorted(stale))

    async def _listen(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        ping_sent_at: float | None = None
        while not self._stopping:
            message = await pubsub.get_message(timeout=_PING_INTERVAL)
            if message is None:
                if ping_sent_at is not None and loop.time() - ping_sent_at >= _PING_INTERVAL:
                    raise ConnectionError(f"no reply to PING within {_PING_INTERVAL}s")
                if ping_sent_at is None:
                    await pubsub.ping()
                    ping_sent_at = loop.time()
                continue
            ping_sent_at = None
            self._handle(message, None)

    def _handle(self, message: dict[str, Any], confirmed: set[str] | None) -> None:
        kind = _text(message.get("type"))
        if kind == "message":
            channel = _text(message["channel"])
            if channel in self._channels and self._queue is not None:
                self._queue.put_nowait(Event(channel, _text(message["data"])))
        elif kind == "subscribe":
            channel = _text(message["channel"])
            if confirmed is not None:
                confirmed.add(channel)
            for waiter in self._waiters.pop(channel, []):
                if not waiter.done():
                    waiter.set_result(None)
