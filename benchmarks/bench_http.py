"""NovaRouter routes against the plain FastAPI and raw Starlette routes they replace.

Every app answers ``GET .../users/{id}`` with ``{"id": id}``. Requests are driven straight into
the ASGI app in process (no sockets, no HTTP client), so the numbers are the frameworks' own
cost, measured as CPU time of the benchmark process (threadpool included). Apps are measured
interleaved, round after round, and the median round is reported.

Three tables:

* **per route**: one route per app, NovaRouter vs plain FastAPI (``async def`` and ``def``,
  with and without security of the same kind) and raw Starlette;
* **table size**: the same route placed last behind 100 or 1,000 other routes (and behind 100
  routes without ``methods``), as a ratio to the route alone; FastAPI's own beside it;
* **real server** (``--wrk``): uvicorn, 1 worker, loaded by ``wrk`` on loopback, plain FastAPI vs
  NovaRouter, requests per second.

A ``def`` security function (or controller) runs in the threadpool, as FastAPI runs ``def``
endpoints and dependencies; compare like with like (``async def`` with ``async def``).

    python benchmarks/bench_http.py [--requests 1000] [--rounds 7] [--wrk | --wrk-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fastapi_nova import NovaRequest, NovaRouter, controller

ASGIApp = Callable[..., Any]

#: The target route's path in the table-size apps (the per-route apps use ``/users/{id}``).
TABLE_PREFIX = "/api"
#: Hard caps so that a mistyped option cannot make a run take hours.
MAX_REQUESTS, MAX_ROUNDS, MAX_WRK_SECONDS = 20_000, 20, 30


def starlette_app() -> ASGIApp:
    async def show(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["id"]})

    return Starlette(routes=[Route("/users/{id}", show)])


def fastapi_app(dependency: Callable[..., Any] | None = None, sync: bool = False) -> ASGIApp:
    app = FastAPI()
    dependencies = [Depends(dependency)] if dependency is not None else None
    if sync:

        @app.get("/users/{id}", dependencies=dependencies)
        def show_sync(id: str) -> dict[str, str]:
            return {"id": id}

    else:

        @app.get("/users/{id}", dependencies=dependencies)
        async def show(id: str) -> dict[str, str]:
            return {"id": id}

    return app


def fastapi_included_app() -> ASGIApp:
    """The plain FastAPI route declared in an ``APIRouter`` that the app includes: what
    FastAPI's included-router wrapper costs it (NovaRouter is always included)."""
    app = FastAPI()
    router = APIRouter()

    @router.get("/users/{id}")
    async def show(id: str) -> dict[str, str]:
        return {"id": id}

    app.include_router(router)
    return app


def fastapi_allow() -> bool:
    return True


async def fastapi_allow_async() -> bool:
    return True


async def nova_show(req: NovaRequest) -> Any:
    return ("json", {"id": req.bindings["id"]})


def nova_show_sync(req: NovaRequest) -> Any:
    return ("json", {"id": req.bindings["id"]})


def nova_allow(req: NovaRequest) -> Any:
    return True


async def nova_allow_async(req: NovaRequest) -> Any:
    return True


def nova_app(
    security: Any = False, force_general: bool = False, show: Callable[..., Any] = nova_show
) -> ASGIApp:
    app = FastAPI()
    app.include_router(
        NovaRouter([{"security": security, "routes": [("/users/:id", show, {"methods": ["get"]})]}])
    )
    if force_general:
        # Any dependency override sends every NovaRouter route through FastAPI's solving.
        app.dependency_overrides[nova_allow] = nova_allow
    return app


def decorated_app() -> ASGIApp:
    app = FastAPI()

    @app.get("/users/{id}")
    @controller
    async def show(id: str) -> Any:
        return ("json", {"id": id})

    return app


def nova_table_app(size: int, methods_given: bool = True) -> ASGIApp:
    """``size`` routes; the measured one, ``/api/users/:id``, is the last of them."""
    options: dict[str, Any] = {"methods": ["get"]} if methods_given else {}
    routes: list[Any] = [(f"/r{k}/users/:id", nova_show, options) for k in range(size - 1)]
    routes.append((f"{TABLE_PREFIX}/users/:id", nova_show, options))
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": routes}]))
    return app


def fastapi_table_app(size: int) -> ASGIApp:
    app = FastAPI()

    async def show(id: str) -> dict[str, str]:
        return {"id": id}

    for k in range(size - 1):
        app.add_api_route(f"/r{k}/users/{{id}}", show, methods=["GET"], name=f"show{k}")
    app.add_api_route(f"{TABLE_PREFIX}/users/{{id}}", show, methods=["GET"])
    return app


async def run_requests(app: ASGIApp, n: int, prefix: str = "") -> float:
    """CPU seconds of this process (all its threads, the threadpool's included) for ``n``
    sequential GETs driven through the ASGI interface: on a shared machine, other processes
    move CPU time much less than wall-clock time."""
    body_message = {"type": "http.request", "body": b"", "more_body": False}
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return body_message

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    start = time.process_time()
    for i in range(n):
        path = f"{prefix}/users/{i}"
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        await app(scope, receive, send)
    elapsed = time.process_time() - start
    if status.count(200) != n:
        raise RuntimeError(f"expected {n} answers of 200, got {sorted(set(status))}")
    return elapsed


async def measure(
    apps: dict[str, tuple[ASGIApp, str]], requests: int, rounds: int
) -> dict[str, float]:
    """Median microseconds per request of each app, measured interleaved round by round."""
    for app, prefix in apps.values():  # warm up: imports, caches, first-request set-up
        await run_requests(app, min(requests, 200), prefix)
    timings: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, (app, prefix) in apps.items():
            timings[name].append(await run_requests(app, requests, prefix) / requests)
    return {name: statistics.median(t) * 1e6 for name, t in timings.items()}


async def per_route(requests: int, rounds: int) -> None:
    apps: dict[str, tuple[ASGIApp, str]] = {
        name: (app, "")
        for name, app in {
            "raw Starlette": starlette_app(),
            "plain FastAPI": fastapi_app(),
            "plain FastAPI, def": fastapi_app(sync=True),
            "plain FastAPI, async dependency": fastapi_app(fastapi_allow_async),
            "plain FastAPI, def dependency": fastapi_app(fastapi_allow),
            "FastAPI route in an included APIRouter": fastapi_included_app(),
            "NovaRouter": nova_app(),
            "NovaRouter, def": nova_app(show=nova_show_sync),
            "NovaRouter, async Nova security": nova_app(security=nova_allow_async),
            "NovaRouter, def Nova security": nova_app(security=nova_allow),
            "NovaRouter, forced through FastAPI": nova_app(force_general=True),
            "@controller on a FastAPI route": decorated_app(),
        }.items()
    }
    us = await measure(apps, requests, rounds)
    fastapi_us, starlette_us = us["plain FastAPI"], us["raw Starlette"]
    print(f"GET /users/{{id}} -> JSON, {requests} requests x {rounds} interleaved rounds (median)")
    print(f"{'app':42} {'us/req':>8} {'req/s':>9} {'vs FastAPI':>11} {'vs Starlette':>13}")
    for name, value in us.items():
        ratios = f"{fastapi_us / value:10.2f}x {starlette_us / value:12.2f}x"
        print(f"{name:42} {value:8.1f} {1e6 / value:9.0f} {ratios}")
    print("(ratios are throughput relative to the baseline: above 1.00x is faster)")
    print("\nlike for like (NovaRouter route vs the plain FastAPI route it replaces; target):")
    pairs = [
        ("NovaRouter", "plain FastAPI", ">= 2.00x"),
        ("NovaRouter, def", "plain FastAPI, def", ">= 1.00x"),
        ("NovaRouter, async Nova security", "plain FastAPI, async dependency", ""),
        ("NovaRouter, def Nova security", "plain FastAPI, def dependency", ""),
        ("@controller on a FastAPI route", "plain FastAPI", ""),
        ("NovaRouter", "FastAPI route in an included APIRouter", "(context: both included)"),
    ]
    for ours, theirs, target in pairs:
        ratio = us[theirs] / us[ours]
        print(f"  {ours:42} {ratio:5.2f}x  vs {theirs}  {target}")


async def table_size(requests: int, rounds: int) -> None:
    sizes = (1, 101, 1001)
    apps: dict[str, tuple[ASGIApp, str]] = {}
    for size in sizes:
        apps[f"NovaRouter, {size}"] = (nova_table_app(size), TABLE_PREFIX)
        apps[f"plain FastAPI, {size}"] = (fastapi_table_app(size), TABLE_PREFIX)
    apps["NovaRouter, 101 default-method"] = (nova_table_app(101, False), TABLE_PREFIX)
    us = await measure(apps, requests, rounds)
    print(f"\ntable size: GET {TABLE_PREFIX}/users/{{id}} placed last ({requests} x {rounds})")
    print(f"{'routes in the table':34} {'Nova us':>8} {'ratio':>7} {'FastAPI us':>11} {'ratio':>7}")
    nova_1, fastapi_1 = us["NovaRouter, 1"], us["plain FastAPI, 1"]
    for size in sizes:
        nova, plain = us[f"NovaRouter, {size}"], us[f"plain FastAPI, {size}"]
        target = "  (target <= 1.20x)" if size > 1 else ""
        print(
            f"{size:<34} {nova:8.1f} {nova / nova_1:6.2f}x {plain:11.1f} "
            f"{plain / fastapi_1:6.2f}x{target}"
        )
    default = us["NovaRouter, 101 default-method"]
    print(
        f"{'101 without methods (any method)':34} {default:8.1f} {default / nova_1:6.2f}x "
        f"{'-':>11} {'-':>7}  (target <= 1.20x)"
    )
    print("(ratio: time per request relative to the same route alone; 1.00x = size costs nothing)")


# ------------------------------------------------------------------------- real server (wrk)


def wrk_nova() -> ASGIApp:
    return nova_app()


def wrk_fastapi() -> ASGIApp:
    return fastapi_app()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not listen on port {port} within {timeout}s")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk_run(factory: str, seconds: int) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request) for one wrk run."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"bench_http:{factory}",
            "--app-dir",
            str(Path(__file__).parent),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--workers",
            "1",
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    try:
        _wait_for(port)
        cpu_before = _cpu_seconds(server.pid)
        out = subprocess.run(
            ["wrk", "-t1", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}/users/7"],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
        cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=15)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk output not understood:\n{out}")
    return float(rate.group(1)), cpu / int(count.group(1)) * 1e6


def real_server(seconds: int, rounds: int) -> None:
    if shutil.which("wrk") is None or not Path("/proc/self/stat").exists():
        print("\nreal server: skipped, needs wrk (apt-get install wrk) and Linux /proc")
        return
    runs: dict[str, list[tuple[float, float]]] = {"plain FastAPI": [], "NovaRouter": []}
    for _ in range(rounds):
        runs["plain FastAPI"].append(_wrk_run("wrk_fastapi", seconds))
        runs["NovaRouter"].append(_wrk_run("wrk_nova", seconds))
    rps = {name: statistics.median(r for r, _ in v) for name, v in runs.items()}
    cpu = {name: statistics.median(c for _, c in v) for name, v in runs.items()}
    print(f"\nreal server: uvicorn, 1 worker, wrk -t1 -c16 -d{seconds}s, {rounds} rounds (median)")
    print(f"{'':16} {'req/s':>8} {'ratio':>7} {'server CPU us/req':>18} {'ratio':>7}")
    for name in runs:
        print(
            f"{name:16} {rps[name]:8.0f} {rps[name] / rps['plain FastAPI']:6.2f}x "
            f"{cpu[name]:18.1f} {cpu['plain FastAPI'] / cpu[name]:6.2f}x"
        )
    print("(req/s moves with the machine's load; server CPU per request much less)")


async def main(requests: int, rounds: int) -> None:
    await per_route(requests, rounds)
    await table_size(requests, rounds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--wrk", action="store_true", help="also measure a real uvicorn server")
    parser.add_argument("--wrk-seconds", type=int, default=3)
    parser.add_argument("--wrk-only", action="store_true", help="only the real-server run")
    args = parser.parse_args()
    if not args.wrk_only:
        asyncio.run(main(min(args.requests, MAX_REQUESTS), min(args.rounds, MAX_ROUNDS)))
    if args.wrk or args.wrk_only:
        real_server(min(args.wrk_seconds, MAX_WRK_SECONDS), min(args.rounds, 3))
