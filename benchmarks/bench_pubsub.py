"""Pub/sub fan-out to 1,000 local subscribers against a plain loop and broadcaster per socket.

What is measured: the latency of one broadcast, from the call that publishes it until every
one of the N subscribers in this process has "sent" it on its socket. Broadcasts run one after
another (the next starts when the previous one has reached everybody), so this is latency,
not pipelined throughput. Variants are measured interleaved, round after round (the order
rotates every round), and the median round is reported, as in ``bench_http.py``; the garbage
collector runs between batches, not inside them.

A subscriber stands for one WebSocket connection without the network: its socket is a fake
whose ``send_text`` builds the ASGI ``websocket.send`` message and keeps it (no I/O). Every
variant does the same work per subscriber: decode the JSON payload
``{"from": ..., "text": ...}`` once, take its ``text``, ``await socket.send_text(text)``;
except nova pubsub, which decodes once per broadcast and shares the decoded message among
its members (that saving is part of what it measures). The payload is encoded once per
broadcast, inside the timed region, in every variant.

* **nova pubsub**: N pids whose inboxes are real ``fastapi_nova.mailbox._Mailbox`` es, joined
  to one channel with ``join(CHANNEL, member=pid)`` and sent to with ``broadcast`` of a
  :class:`fastapi_nova.pubsub.PubSub` (the object behind the module functions ``pubsub.join``
  and ``pubsub.broadcast``; one per variant here, since memory:// and redis:// run side by
  side). Its hub holds one broadcaster subscription for the channel; its fan-out decodes the
  payload once and delivers the one ``PubSubMessage`` to each mailbox; each mailbox's consumer
  sends ``payload["text"]`` as the connection runtime does (``fastapi_nova.connection``): at
  once, in the deliverer's turn, when the consumer is idle; a send that suspends goes on in a
  task. It does not run a ``NovaWebSocket`` handler callback (a few more microseconds per
  message).
* **(a) plain loop**: ``for socket in sockets: await socket.send_text(...)``, what a
  hand-written chat does on one process: no tasks, no queues, no backend, one process only.
* **(b) broadcaster per socket**: N ``Broadcast.subscribe(channel)`` subscriptions, one per
  socket, each read by its own consumer task (broadcaster's ``_listener`` puts every event on
  each subscriber's queue in turn); the consumer decodes the event's JSON and sends.
* **(c) loop into mailboxes** (a reference, not a baseline): the plain loop, but delivering
  into each connection's ``_Mailbox`` and its consumer, as nova's fan-out does. It is the
  floor of a design with a mailbox per connection: the difference between (c) and nova pubsub
  is what the pub/sub layer itself costs.

Backends: ``memory://`` always; ``redis://`` too when a Redis is reachable: ``--redis-url``,
else a ``redis-server`` started on a free 127.0.0.1 port if the binary is installed (skipped
with a message otherwise). With Redis, (b) uses fastapi-nova's ``_RedisBackend`` as the hub
does (broadcaster 0.3.1's own loses the first subscription under redis-py 8), so (b) and
nova differ only in how they fan out; with gossip on, as in a cluster.

A second table isolates the hub side: one ``fastapi_nova.hub._fan_out`` call (decode the wire
message, deliver to N mailboxes, no consumer tasks) against the fan-out as it was before this
round (the payload decoded again for each member, kept here as a reference copy) and against
the floor, a bare ``for mailbox in mailboxes: mailbox.deliver(message)``.

A real socket costs more per frame than the fake one (uvicorn's framing and the write), so
against a real server the ratios move towards 1.00x.

    python benchmarks/bench_pubsub.py [--subscribers 1000] [--broadcasts 10] [--rounds 15]
                                      [--redis-url redis://127.0.0.1:6379/0 | --no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from broadcaster import Broadcast

from fastapi_nova.connection import _resume
from fastapi_nova.hub import _encode, _fan_out
from fastapi_nova.mailbox import _Mailbox
from fastapi_nova.pid import Pid, _spawn
from fastapi_nova.pubsub import PubSub, PubSubMessage

CHANNEL = "bench"
PAYLOAD = {"from": "ann", "text": "hello, everyone in the room"}
#: Seconds one broadcast may take to reach everybody before the benchmark gives up.
BROADCAST_TIMEOUT = 10.0
#: Seconds for setting up or tearing down one variant (joins, subscriptions, tasks).
SETUP_TIMEOUT = 60.0
#: Seconds a started redis-server may take to answer PING.
REDIS_READY_TIMEOUT = 10.0


class FakeSocket:
    """A WebSocket whose ``send_text`` does what Starlette's does, minus the network."""

    __slots__ = ("last", "sent")

    def __init__(self) -> None:
        self.last: dict[str, Any] | None = None
        self.sent = 0

    async def send_text(self, data: str) -> None:
        self.last = {"type": "websocket.send", "text": data}
        self.sent += 1


class Arrivals:
    """Counts the subscribers that have sent the current broadcast; completes at N."""

    def __init__(self) -> None:
        self.remaining = 0
        self.done: asyncio.Future[None] | None = None

    def expect(self, n: int) -> asyncio.Future[None]:
        self.remaining = n
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    def arrived(self) -> None:
        self.remaining -= 1
        if self.remaining == 0 and self.done is not None:
            self.done.set_result(None)


class Variant:
    """One way of fanning a broadcast out to N sockets."""

    name = ""

    def __init__(self, n: int) -> None:
        self.n = n
        self.sockets = [FakeSocket() for _ in range(n)]
        self.arrivals = Arrivals()
        self.sent = 0  # broadcasts sent, to check every socket got every one
        self.tasks: list[asyncio.Task[None]] = []

    async def setup(self) -> None:
        """Build the subscribers."""

    async def publish(self, payload: dict[str, str]) -> None:
        """Encode ``payload`` once and send it to every subscriber."""
        raise NotImplementedError

    async def broadcast_once(self) -> float:
        """Seconds from publishing one broadcast until every subscriber has sent it."""
        done = self.arrivals.expect(self.n)
        start = time.perf_counter()
        await self.publish(PAYLOAD)
        try:
            async with asyncio.timeout(BROADCAST_TIMEOUT):
                await done
        except TimeoutError:
            raise RuntimeError(
                f"{self.name}: {self.arrivals.remaining} of {self.n} subscribers did not get a "
                f"broadcast within {BROADCAST_TIMEOUT}s"
            ) from None
        elapsed = time.perf_counter() - start
        self.sent += 1
        return elapsed

    def check(self) -> None:
        counts = {sock.sent for sock in self.sockets}
        if counts != {self.sent}:
            raise RuntimeError(f"{self.name}: sockets got {sorted(counts)}, not {self.sent}")

    async def teardown(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=SETUP_TIMEOUT)
        for task in self.tasks:
            if task.done() and not task.cancelled():
                task.exception()  # seen (the broadcast that missed it has already said so)


class Consumer:
    """One connection's mailbox and consumer, run as the connection runtime runs them: a
    message for an idle consumer is sent in the deliverer's turn; one that suspends goes on in
    a task (``fastapi_nova.connection._resume``)."""

    def __init__(self, sock: FakeSocket, arrived: Callable[[], None], tasks: list[Any]) -> None:
        self.sock = sock
        self.arrived = arrived
        self.tasks = tasks
        self.busy = False
        self.mailbox = _Mailbox(1024, "close", name="bench", on_message=self.on_message)

    def on_message(self) -> None:
        if self.busy:
            return
        self.busy = True
        run = self.drain()
        try:
            step = run.send(None)
        except StopIteration:
            return
        self.tasks.append(asyncio.ensure_future(_resume(run, step)))

    async def drain(self) -> None:
        try:
            while self.mailbox:
                if self.mailbox.overflowed:
                    raise RuntimeError("a mailbox overflowed")
                message: PubSubMessage = self.mailbox.pop()
                await self.sock.send_text(message.payload["text"])
                self.arrived()
        finally:
            self.busy = False


class PlainLoop(Variant):
    name = "(a) plain loop over sockets"

    async def publish(self, payload: dict[str, str]) -> None:
        wire = json.dumps(payload)
        arrived = self.arrivals.arrived
        for sock in self.sockets:
            await sock.send_text(json.loads(wire)["text"])
            arrived()


class LoopIntoMailboxes(Variant):
    name = "(c) loop into mailboxes"

    async def setup(self) -> None:
        self.mailboxes = [
            Consumer(sock, self.arrivals.arrived, self.tasks).mailbox for sock in self.sockets
        ]

    async def publish(self, payload: dict[str, str]) -> None:
        wire = json.dumps(payload)
        for mailbox in self.mailboxes:
            value = json.loads(wire)
            mailbox.deliver(PubSubMessage("nova_pubsub", CHANNEL, None, "message", value))


class BroadcasterPerSocket(Variant):
    def __init__(self, n: int, url: str) -> None:
        super().__init__(n)
        self.name = f"(b) broadcaster, 1 sub/socket, {url.split(':', 1)[0]}://"
        if url.startswith("redis"):
            from fastapi_nova.redis_backend import _RedisBackend

            self.broadcast = Broadcast(backend=_RedisBackend(url))
        else:
            self.broadcast = Broadcast(url)

    async def setup(self) -> None:
        await self.broadcast.connect()
        ready = asyncio.Semaphore(0)
        async with asyncio.timeout(SETUP_TIMEOUT):
            for index, sock in enumerate(self.sockets):
                self.tasks.append(asyncio.create_task(self._consume(sock, ready)))
                if index == 0:
                    # broadcaster 0.3.1 races when several first subscriptions to a channel
                    # await the backend together (Redis): each replaces the channel's set of
                    # queues, and all but one subscriber never receive. So one goes first.
                    await ready.acquire()
            for _ in self.sockets[1:]:
                await ready.acquire()

    async def _consume(self, sock: FakeSocket, ready: asyncio.Semaphore) -> None:
        arrived = self.arrivals.arrived
        async with self.broadcast.subscribe(CHANNEL) as subscriber:
            ready.release()
            while True:
                event = await subscriber.get()
                await sock.send_text(json.loads(event.message)["text"])
                arrived()

    async def publish(self, payload: dict[str, str]) -> None:
        await self.broadcast.publish(CHANNEL, json.dumps(payload))

    async def teardown(self) -> None:
        await super().teardown()
        await self.broadcast.disconnect()


class NovaPubSub(Variant):
    def __init__(self, n: int, url: str) -> None:
        super().__init__(n)
        self.name = f"nova pubsub, {url.split(':', 1)[0]}://"
        self.url = url
        self.pids: list[Pid] = []

    async def setup(self) -> None:
        self.pubsub = PubSub()
        self.pubsub.configure(self.url)
        await self.pubsub.start()
        for sock in self.sockets:
            pid = _spawn(Consumer(sock, self.arrivals.arrived, self.tasks).mailbox)
            self.pids.append(pid)
        async with asyncio.timeout(SETUP_TIMEOUT):
            for pid in self.pids:
                await self.pubsub.join(CHANNEL, member=pid)

    async def publish(self, payload: dict[str, str]) -> None:
        # Encodes a small header (sender, topic) besides the payload: fastapi-nova's wire form.
        await self.pubsub.broadcast(CHANNEL, "message", payload)

    async def teardown(self) -> None:
        for pid in self.pids:
            pid.exit()
        await super().teardown()
        await self.pubsub.stop()


async def measure(variants: list[Variant], broadcasts: int, rounds: int) -> dict[str, list[float]]:
    """Each variant's median seconds per broadcast in each round."""
    for variant in variants:
        async with asyncio.timeout(SETUP_TIMEOUT):
            await variant.setup()
    try:
        for variant in variants:  # warm up: first-message paths, caches
            for _ in range(3):
                await variant.broadcast_once()
        per_round: dict[str, list[float]] = {v.name: [] for v in variants}
        for index in range(rounds):
            order = variants[index % len(variants) :] + variants[: index % len(variants)]
            for variant in order:
                gc.collect()  # and no collection inside the timed region (as timeit does)
                gc.disable()
                try:
                    samples = [await variant.broadcast_once() for _ in range(broadcasts)]
                finally:
                    gc.enable()
                per_round[variant.name].append(statistics.median(samples))
        for variant in variants:
            variant.check()
        return per_round
    finally:
        for variant in variants:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(SETUP_TIMEOUT):
                    await variant.teardown()


def _half_iqr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / 2


def report(
    per_round: dict[str, list[float]], n: int, baseline_b: dict[str, str], title: str
) -> None:
    seconds = {name: statistics.median(values) for name, values in per_round.items()}
    loop_us = seconds[PlainLoop.name] * 1e6
    print(title)
    print(
        f"{'variant':40} {'us/broadcast':>13} {'spread':>7} {'us/subscriber':>14} "
        f"{'vs (a)':>7} {'vs (b)':>7}"
    )
    for name, secs in seconds.items():
        us = secs * 1e6
        spread = _half_iqr(per_round[name]) / secs * 100
        vs_a = f"{loop_us / us:6.2f}x"
        b_name = baseline_b.get(name)
        vs_b = f"{seconds[b_name] * 1e6 / us:6.2f}x" if b_name is not None else f"{'-':>7}"
        print(f"{name:40} {us:13.0f} {f'±{spread:.0f}%':>7} {us / n:14.2f} {vs_a} {vs_b}")
    print(
        "(us: the median round; spread: half the interquartile range of the rounds; ratios are "
        "speed\n relative to the baseline, (b) on the same backend: above 1.00x is faster, below "
        "is slower)"
    )


async def main(subscribers: int, broadcasts: int, rounds: int, redis_url: str | None) -> None:
    urls = ["memory://"] + ([redis_url] if redis_url else [])
    variants: list[Variant] = [PlainLoop(subscribers), LoopIntoMailboxes(subscribers)]
    baseline_b: dict[str, str] = {}
    for url in urls:
        b = BroadcasterPerSocket(subscribers, url)
        ours = NovaPubSub(subscribers, url)
        variants += [b, ours]
        baseline_b[ours.name] = b.name
    per_round = await measure(variants, broadcasts, rounds)
    report(
        per_round,
        subscribers,
        baseline_b,
        f"one broadcast to {subscribers} local subscribers, until all have sent it; "
        f"{broadcasts} broadcasts x {rounds} interleaved rounds (median)",
    )


# -- the hub side alone: fan_out -------------------------------------------------------------


def fan_out_per_member_decode(members: list[Pid], channel: str, wire: str) -> int:
    """The fan-out before this round (reference copy): a fresh decode for every member."""
    head_text, _, body = wire.partition("\n")
    head = json.loads(head_text)
    sender = Pid.from_json(head["s"]) if head["s"] is not None else None
    topic = str(head["t"])
    payload = json.loads(body)
    shared = not isinstance(payload, dict | list)
    delivered = 0
    for index, pid in enumerate(members):
        value = payload if shared or index == 0 else json.loads(body)
        delivered += pid.deliver(PubSubMessage("nova_pubsub", channel, sender, topic, value))
    return delivered


def bare_deliver(members: list[Pid], channel: str, wire: str) -> int:
    """The floor: one prepared message, delivered to every mailbox."""
    message = PubSubMessage("nova_pubsub", channel, None, "message", PAYLOAD)
    for pid in members:
        pid.deliver(message)
    return len(members)


async def measure_fan_out(subscribers: int, rounds: int) -> None:
    """Print the hub side's cost per subscriber (mailboxes need a running loop)."""
    mailboxes = [_Mailbox(1_000_000, "close", name="bench") for _ in range(subscribers)]
    pids = [_spawn(mailbox) for mailbox in mailboxes]
    wire = _encode("message", PAYLOAD, None)
    variants: dict[str, Callable[[list[Pid], str, str], int]] = {
        "bare deliver loop (floor)": bare_deliver,
        "fan_out before (decode per member)": fan_out_per_member_decode,
        "fan_out now (decode once, shared)": _fan_out,
    }
    per_round: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for index in range(rounds):
        for name in names[index % 3 :] + names[: index % 3]:
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                for _ in range(10):
                    variants[name](pids, CHANNEL, wire)
                elapsed = (time.perf_counter() - start) / 10
            finally:
                gc.enable()
            per_round[name].append(elapsed)
            for mailbox in mailboxes:
                while mailbox:
                    mailbox.pop()
    for pid in pids:
        pid.exit()
    floor = statistics.median(per_round[names[0]])
    print(f"hub side only: one fan_out to {subscribers} mailboxes; {rounds} rounds (median)")
    print(f"{'variant':40} {'us/subscriber':>14} {'spread':>7} {'vs floor':>9}")
    for name, values in per_round.items():
        secs = statistics.median(values)
        spread = _half_iqr(values) / secs * 100
        print(
            f"{name:40} {secs * 1e6 / subscribers:14.3f} {f'±{spread:.0f}%':>7} "
            f"{floor / secs:8.2f}x"
        )
    print("(vs floor: speed relative to the bare loop; below 1.00x is slower)")


# -- a redis-server for the redis:// variants -----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_for_bench(url: str | None, enabled: bool) -> Iterator[str | None]:
    """The Redis URL to use: ``url``, else a redis-server started here, else None (skipped)."""
    if not enabled:
        print("redis://: skipped (--no-redis)")
        yield None
        return
    if importlib.util.find_spec("redis") is None:
        print("redis://: skipped (redis-py is not installed: pip install 'fastapi-nova[redis]')")
        yield None
        return
    if url is not None:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis://: skipped (no redis-server on PATH; pass --redis-url to use a running one)")
        yield None
        return
    port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + REDIS_READY_TIMEOUT
            while not _pings(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {port} did not answer PING")
                time.sleep(0.02)  # a starting server has no readiness event; poll, bounded
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.kill()
            proc.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--broadcasts", type=int, default=10, help="per variant per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--redis-url", default=None, help="a running Redis to use")
    parser.add_argument("--no-redis", action="store_true", help="measure memory:// only")
    args = parser.parse_args()
    asyncio.run(
        measure_fan_out(min(max(args.subscribers, 1), 10_000), min(max(args.rounds, 1), 50))
    )
    with redis_for_bench(args.redis_url, not args.no_redis) as redis_url:
        asyncio.run(
            main(
                min(max(args.subscribers, 1), 10_000),
                min(max(args.broadcasts, 1), 500),
                min(max(args.rounds, 1), 50),
                redis_url,
            )
        )
