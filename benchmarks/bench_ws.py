"""WebSocket fan-out, memory per connection and echo through real uvicorn and real sockets.

Every variant is a uvicorn process serving one app of ``benchmarks/ws_apps.py`` on 127.0.0.1;
this process is the client: K raw WebSocket connections on asyncio (a minimal client, the same
for every variant, so the client's cost is the same in every row). Variants run one after the
other inside every round, their order rotating from round to round; the median round is
reported, and every ratio is taken between rows of this one run.

* **fan-out**: K sockets connect to ``/fan``; then ``--messages`` times, ``POST /publish``
  stamps ``time.monotonic()`` (one clock for every process on the machine) into a message the
  server fans out to all K; the next publish starts when all K have it. Reported: the latency
  of every delivery (publish -> arrival at the client) as p50 and p99, the p99 over messages
  of the *last* delivery, deliveries/s (all deliveries over the time from the first publish to
  the last arrival), and no loss (every socket got every message, else the run fails).
* **memory per connection**: the server's resident memory (``/proc/PID/status`` VmRSS) after
  the K sockets connected, minus before, over K.
* **echo**: ``--echo-clients`` sockets on ``/echo`` each send a text frame and wait for it to
  come back, for ``--echo-seconds``; round-trips/s for raw Starlette and for a
  ``NovaWebSocket``.
* **GC**: the server's collections during the run and their longest pause (``GET /gc``).
* **server CPU**: the server process's CPU time (``/proc/PID/stat``) during the fan-out per
  delivery, and during the echo per round trip; on a loaded machine this moves much less
  than wall-clock figures. Ratios are speed: bare's CPU over the row's, above 1.00x is
  cheaper than bare.

Variants: **bare loop** (Starlette, ``for ws in sockets: await ws.send_text(m)``),
**plain FastAPI** (the same loop on FastAPI WebSocket routes, which NovaRouter's are),
**broadcaster** (one ``memory://`` subscription and task per socket), **nova memory://** and
**nova redis://** (``pubsub.broadcast`` to ``NovaWebSocket`` members; redis:// when a
redis-server is on PATH or ``--redis-url`` is given, else skipped with a message), and
**nova memory://, gc.freeze() only** (the router's collector policy off, the app freezing its
start-up heap itself), **nova memory://, gc_policy=False**.

Client and server share the machine: on a loaded 2-core machine read the ratios, not the
absolute numbers.

    python benchmarks/bench_ws.py [--connections 1000] [--messages 60] [--rounds 3]
                                  [--echo-clients 50] [--echo-seconds 3] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pubsub import redis_for_bench  # noqa: E402  (a sibling script, not a package)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: Seconds one publish may take to reach every socket before the run fails.
DELIVERY_TIMEOUT = 30.0
#: Seconds to connect all sockets of one variant.
CONNECT_TIMEOUT = 120.0
#: Connections opened at once (uvicorn's backlog is 2048).
CONNECT_CONCURRENCY = 200
#: Seconds a server may take to listen.
START_TIMEOUT = 30.0
#: Round trips one echo client makes at most (the time bound usually ends it first).
ECHO_MAX_ROUND_TRIPS = 1_000_000


# -- a minimal WebSocket client ------------------------------------------------------------


class Client(asyncio.Protocol):
    """One raw WebSocket connection: upgrade, then every text frame goes to ``on_frame``."""

    def __init__(self, path: str, port: int, on_frame: Callable[[bytes, float], None]) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.on_frame = on_frame
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the upgrade"))

    def send_text(self, payload: bytes) -> None:
        self.send_frame(0x81, payload)

    def send_frame(self, head: int, payload: bytes) -> None:
        # Client frames must be masked; an all-zero mask leaves the payload as it is.
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([head, 0x80 | len(payload), 0, 0, 0, 0]) + payload)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()  # one timestamp per read: every frame in it arrived by now
        buffer = self.buffer
        buffer += data
        if not self.upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(bytes(buffer[:end]).decode()))
                return
            del buffer[: end + 4]
            self.upgraded.set_result(None)
        while len(buffer) >= 2:
            size, head = buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, head = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, head = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < head + size:
                return
            opcode = buffer[0] & 0x0F
            payload = bytes(buffer[head : head + size])
            del buffer[: head + size]
            if opcode == 1:
                self.on_frame(payload, now)
            elif opcode == 9:  # uvicorn pings every 20 s and drops a client that never pongs
                self.send_frame(0x8A, payload)


async def open_clients(
    port: int, path: str, count: int, on_frame: Callable[[bytes, float], None]
) -> list[Client]:
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> Client:
        async with limit:
            _, client = await loop.create_connection(
                lambda: Client(path, port, on_frame), "127.0.0.1", port
            )
            await client.upgraded
            return client

    async with asyncio.timeout(CONNECT_TIMEOUT):
        return list(await asyncio.gather(*(one() for _ in range(count))))


def close_clients(clients: list[Client]) -> None:
    for client in clients:
        if client.transport is not None:
            client.transport.abort()


async def http(port: int, method: str, path: str) -> bytes:
    """One HTTP/1.1 request on a fresh connection; the response body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{method} {path}: {head.splitlines()[0]!r} {body!r}")
        return body
    finally:
        writer.close()


# -- servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextlib.contextmanager
def serve(app: str, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """Run ``ws_apps:<app>`` under uvicorn; yields (port, pid)."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            f"ws_apps:{app}",
            "--app-dir",
            str(HERE),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--backlog",
            "4096",
        ],
        # cwd is benchmarks/, not the checkout: "python -m" puts the cwd first on sys.path,
        # and fastapi_nova must come from PYTHONPATH (this checkout, or --baseline's).
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn {app} exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # a starting server has no readiness event; poll, bounded
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


# -- measurements ---------------------------------------------------------------------------


@dataclass
class FanOut:
    latencies: list[float] = field(default_factory=list)  # every delivery, seconds
    last: list[float] = field(default_factory=list)  # per message, the last delivery
    deliveries_per_s: float = 0.0
    mem_kib_per_conn: float = 0.0
    cpu_us_per_delivery: float = 0.0  # the server's CPU time: robust on a loaded machine
    gc: dict[str, Any] = field(default_factory=dict)


def ratio(a: float, b: float) -> float:
    """a / b; NaN when b is 0 (CPU time is counted in 10 ms ticks: tiny runs may show 0)."""
    return a / b if b else math.nan


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def fan_out(app: str, env: dict[str, str], k: int, messages: int) -> FanOut:
    result = FanOut()
    counts: dict[bytes, int] = {}
    state: dict[str, Any] = {}

    def on_frame(payload: bytes, now: float) -> None:
        latency = now - float(payload)
        result.latencies.append(latency)
        seen = counts[payload] = counts.get(payload, 0) + 1
        if seen == k:
            result.last.append(latency)
            state["end"] = now
            done = state.get("done")
            if done is not None and not done.done():
                done.set_result(None)

    loop = asyncio.get_running_loop()
    with serve(app, env) as (port, pid):
        await http(port, "GET", "/gc")  # warm: the first request imports lazily
        before = rss_kib(pid)
        clients = await open_clients(port, "/fan", k, on_frame)
        try:
            await asyncio.sleep(0.5)  # let the server finish what the last upgrades started
            result.mem_kib_per_conn = (rss_kib(pid) - before) / k
            await http(port, "GET", "/gc")  # from here on: the collections during the fan-out
            cpu = cpu_seconds(pid)
            start = time.monotonic()
            for _ in range(messages):
                state["done"] = loop.create_future()
                await http(port, "POST", "/publish")
                try:
                    await asyncio.wait_for(state["done"], DELIVERY_TIMEOUT)
                except TimeoutError:
                    raise RuntimeError(
                        f"{app} {env}: message {len(result.last) + 1} reached "
                        f"{max(counts.values(), default=0)} of {k} sockets in {DELIVERY_TIMEOUT} s"
                    ) from None
            result.deliveries_per_s = len(result.latencies) / (state["end"] - start)
            result.cpu_us_per_delivery = (cpu_seconds(pid) - cpu) * 1e6 / len(result.latencies)
            result.gc = json.loads(await http(port, "GET", "/gc"))
        finally:
            close_clients(clients)
    if len(result.latencies) != k * messages or len(result.last) != messages:
        raise RuntimeError(f"{app}: lost messages: {len(result.latencies)} of {k * messages}")
    return result


async def echo(
    app: str, clients_n: int, seconds: float, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Round trips per second of ``clients_n`` sockets doing send/await-reply for ``seconds``,
    and the server's CPU microseconds per round trip."""
    loop = asyncio.get_running_loop()
    waiters: dict[int, asyncio.Future[None]] = {}
    trips = 0

    with serve(app, env or {}) as (port, pid):
        clients: list[Client] = []
        for index in range(clients_n):

            def on_frame(payload: bytes, now: float, index: int = index) -> None:
                waiters[index].set_result(None)

            clients += await open_clients(port, "/echo", 1, on_frame)
        try:
            stop = time.monotonic() + seconds

            async def run(index: int, client: Client) -> None:
                nonlocal trips
                for _ in range(ECHO_MAX_ROUND_TRIPS):
                    if time.monotonic() >= stop:
                        return
                    waiters[index] = loop.create_future()
                    client.send_text(b"ping")
                    await asyncio.wait_for(waiters[index], DELIVERY_TIMEOUT)
                    trips += 1

            started, cpu = time.monotonic(), cpu_seconds(pid)
            await asyncio.gather(*(run(i, c) for i, c in enumerate(clients)))
            elapsed, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu
        finally:
            close_clients(clients)
    return trips / elapsed, cpu * 1e6 / max(trips, 1)


# -- the run ---------------------------------------------------------------------------------


def median_run(runs: list[FanOut]) -> FanOut:
    return sorted(runs, key=lambda r: pct(r.latencies, 0.99))[len(runs) // 2]


async def main(args: argparse.Namespace, redis_url: str | None) -> None:
    variants: dict[str, tuple[str, dict[str, str]]] = {
        "bare send loop": ("bare", {}),
        "plain FastAPI send loop": ("fastapi_plain", {}),
        "broadcaster, 1 sub/socket": ("broadcaster", {}),
        "nova memory://": ("nova", {"NOVA_PUBSUB_URL": "memory://"}),
        "nova memory://, gc.freeze() only": ("nova_frozen", {"NOVA_PUBSUB_URL": "memory://"}),
        "nova memory://, gc_policy=False": ("nova_no_gc_policy", {"NOVA_PUBSUB_URL": "memory://"}),
    }
    if args.baseline:  # another checkout of fastapi-nova, e.g. before a change
        variants["nova memory:// (baseline)"] = (
            "nova",
            {"NOVA_PUBSUB_URL": "memory://", "PYTHONPATH": args.baseline},
        )
    if redis_url is not None:
        variants["nova redis://"] = ("nova", {"NOVA_PUBSUB_URL": redis_url})
    if args.only:
        variants = {n: v for n, v in variants.items() if n in args.only or n == "bare send loop"}
    names = list(variants)
    for k in args.connections:
        runs: dict[str, list[FanOut]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                app, env = variants[name]
                runs[name].append(await fan_out(app, env, k, args.messages))
        report_fan_out(k, args, {name: median_run(r) for name, r in runs.items()})
    if args.echo_clients:
        pairs: list[tuple[str, str, dict[str, str]]] = [
            ("raw Starlette echo", "bare", {}),
            ("nova echo", "nova", {}),
        ]
        if args.baseline:
            pairs.append(("nova echo (baseline)", "nova", {"PYTHONPATH": args.baseline}))
        echo_runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in pairs}
        for round_ in range(args.rounds):
            order = pairs[round_ % len(pairs) :] + pairs[: round_ % len(pairs)]
            for name, app, env in order:
                echo_runs[name].append(await echo(app, args.echo_clients, args.echo_seconds, env))
        medians = {
            name: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs))
            for name, runs in echo_runs.items()
        }
        (raw, raw_cpu), (ours, our_cpu) = medians["raw Starlette echo"], medians["nova echo"]
        print(
            f"\nWS echo, {args.echo_clients} connections, {args.echo_seconds:g} s, "
            f"median of {args.rounds} round(s); server CPU us per round trip"
        )
        print(
            f"{'raw Starlette echo':<28}{raw:>10.0f} round-trips/s   1.00x"
            f"{raw_cpu:>10.1f} us   1.00x"
        )
        print(
            f"{'nova echo':<28}{ours:>10.0f} round-trips/s  {ours / raw:5.2f}x"
            f"{our_cpu:>10.1f} us  {ratio(raw_cpu, our_cpu):5.2f}x   (target >= 0.90x)"
        )
        if "nova echo (baseline)" in medians:
            base, base_cpu = medians["nova echo (baseline)"]
            print(
                f"{'nova echo (baseline)':<28}{base:>10.0f} round-trips/s  {base / raw:5.2f}x"
                f"{base_cpu:>10.1f} us  {ratio(raw_cpu, base_cpu):5.2f}x"
            )


def report_fan_out(k: int, args: argparse.Namespace, best: dict[str, FanOut]) -> None:
    bare = best["bare send loop"]
    bc = best.get("broadcaster, 1 sub/socket")
    print(
        f"\nfan-out K={k:,}, {args.messages} messages, median of {args.rounds} round(s) "
        "(latency ms: publish -> arrival at the client)"
    )
    print(
        f"{'':<28}{'p50':>8}{'p99':>8}{'last p99':>10}{'deliv/s':>10}{'KiB/conn':>10}"
        f"{'p99 ratio':>11}{'deliv/s ratio':>15}{'gc max ms':>11}{'CPU us/deliv':>14}"
        f"{'CPU ratio':>11}"
    )
    for name, run in best.items():
        p99 = pct(run.latencies, 0.99)
        print(
            f"{name:<28}{pct(run.latencies, 0.5) * 1e3:>8.1f}{p99 * 1e3:>8.1f}"
            f"{pct(run.last, 0.99) * 1e3:>10.1f}{run.deliveries_per_s:>10.0f}"
            f"{run.mem_kib_per_conn:>10.1f}{p99 / pct(bare.latencies, 0.99):>10.2f}x"
            f"{run.deliveries_per_s / bare.deliveries_per_s:>14.2f}x"
            f"{run.gc.get('max', 0.0) * 1e3:>11.1f}{run.cpu_us_per_delivery:>14.1f}"
            f"{ratio(bare.cpu_us_per_delivery, run.cpu_us_per_delivery):>10.2f}x"
        )
    nova = best.get("nova memory://")
    if nova is None:
        return
    p99 = pct(nova.latencies, 0.99)
    print(
        f"  nova p99 / bare loop p99: {p99 / pct(bare.latencies, 0.99):.2f}x "
        "(target <= 1.50x, goal 1.20x)"
    )
    if bc is not None:
        print(
            f"  nova deliveries/s / broadcaster's: "
            f"{nova.deliveries_per_s / bc.deliveries_per_s:.2f}x (target >= 1.00x)"
        )
    print(
        f"  nova memory per connection - bare Starlette: "
        f"{nova.mem_kib_per_conn - bare.mem_kib_per_conn:+.1f} KiB (target <= +6, goal +4)"
    )
    fastapi_row = best.get("plain FastAPI send loop")
    if fastapi_row is not None:
        print(
            f"  nova memory per connection - plain FastAPI: "
            f"{nova.mem_kib_per_conn - fastapi_row.mem_kib_per_conn:+.1f} KiB "
            "(what fastapi-nova itself adds)"
        )
    cpu_ratio = ratio(bare.cpu_us_per_delivery, nova.cpu_us_per_delivery)
    print(
        f"  nova server CPU per delivery: {nova.cpu_us_per_delivery:.1f} us, bare loop "
        f"{bare.cpu_us_per_delivery:.1f} us ({cpu_ratio:.2f}x)"
    )
    redis = best.get("nova redis://")
    if redis is not None:
        print(
            f"  nova redis:// p99 / memory:// p99: {pct(redis.latencies, 0.99) / p99:.2f}x"
            " (target <= 1.30x)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--connections",
        type=int,
        nargs="+",
        default=[1000],
        help="K, one fan-out table each (at most 10,000)",
    )
    parser.add_argument("--messages", type=int, default=60, help="publishes per variant")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--echo-clients", type=int, default=50, help="0 skips the echo")
    parser.add_argument("--echo-seconds", type=float, default=3.0)
    parser.add_argument("--redis-url", default=None, help="a running Redis to use")
    parser.add_argument("--no-redis", action="store_true", help="measure memory:// only")
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="VARIANT",
        help="run only these fan-out rows (the bare loop always runs)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="DIR",
        help="also run nova from DIR (a directory holding fastapi_nova/)",
    )
    args = parser.parse_args()
    args.connections = [min(max(k, 1), 10_000) for k in args.connections]
    args.messages = min(max(args.messages, 1), 1000)
    args.rounds = min(max(args.rounds, 1), 20)
    args.echo_clients = min(max(args.echo_clients, 0), 1000)
    args.echo_seconds = min(max(args.echo_seconds, 0.1), 60.0)
    with redis_for_bench(args.redis_url, not args.no_redis) as redis_url:
        asyncio.run(main(args, redis_url))
