"""NovaRouter routes against the plain FastAPI and raw Starlette routes they replace.

Every app answers ``GET /users/{id}`` with ``{"id": id}``. Requests are driven straight into
the ASGI app in process (no sockets, no HTTP client), so the numbers are the frameworks' own
cost. Apps are measured interleaved, round after round, and the median round is reported.

A ``def`` security function (or controller) runs in the threadpool, as FastAPI runs ``def``
endpoints and dependencies; the hop costs tens of microseconds, so hot paths use ``async def``.
Compare a secured NovaRouter route with the plain FastAPI route that has a dependency of the
same kind (``async def`` with ``async def``, ``def`` with ``def``).

    python benchmarks/bench_http.py [--requests 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fastapi_nova import NovaRequest, NovaRouter, controller

ASGIApp = Callable[..., Any]


def starlette_app() -> ASGIApp:
    async def show(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["id"]})

    return Starlette(routes=[Route("/users/{id}", show)])


def fastapi_app(dependency: Callable[..., Any] | None = None) -> ASGIApp:
    app = FastAPI()
    dependencies = [Depends(dependency)] if dependency is not None else None

    @app.get("/users/{id}", dependencies=dependencies)
    async def show(id: str) -> dict[str, str]:
        return {"id": id}

    return app


def fastapi_allow() -> bool:
    return True


async def fastapi_allow_async() -> bool:
    return True


async def nova_show(req: NovaRequest) -> Any:
    return ("json", {"id": req.bindings["id"]})


def nova_allow(req: NovaRequest) -> Any:
    return True


async def nova_allow_async(req: NovaRequest) -> Any:
    return True


def nova_app(security: Any = False, force_general: bool = False) -> ASGIApp:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [{"security": security, "routes": [("/users/:id", nova_show, {"methods": ["get"]})]}]
        )
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


async def run_requests(app: ASGIApp, n: int) -> float:
    """Seconds for ``n`` sequential GETs driven through the ASGI interface."""
    body_message = {"type": "http.request", "body": b"", "more_body": False}
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return body_message

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    start = time.perf_counter()
    for i in range(n):
        path = f"/users/{i}"
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
    elapsed = time.perf_counter() - start
    if status.count(200) != n:
        raise RuntimeError(f"expected {n} answers of 200, got {sorted(set(status))}")
    return elapsed


async def main(requests: int, rounds: int) -> None:
    apps: dict[str, ASGIApp] = {
        "raw Starlette": starlette_app(),
        "plain FastAPI": fastapi_app(),
        "plain FastAPI, async dependency": fastapi_app(fastapi_allow_async),
        "plain FastAPI, def dependency": fastapi_app(fastapi_allow),
        "NovaRouter, no security (lean)": nova_app(),
        "NovaRouter, async Nova security (lean)": nova_app(security=nova_allow_async),
        "NovaRouter, def Nova security (lean)": nova_app(security=nova_allow),
        "NovaRouter, forced general path": nova_app(force_general=True),
        "@controller on a FastAPI route": decorated_app(),
    }
    for app in apps.values():  # warm up: imports, caches, first-request set-up
        await run_requests(app, 200)
    timings: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            timings[name].append(await run_requests(app, requests) / requests)
    per_request = {name: statistics.median(t) * 1e6 for name, t in timings.items()}
    fastapi_us = per_request["plain FastAPI"]
    starlette_us = per_request["raw Starlette"]
    print(f"GET /users/{{id}} -> JSON, {requests} requests x {rounds} interleaved rounds (median)")
    print(f"{'app':42} {'us/req':>8} {'req/s':>9} {'vs FastAPI':>11} {'vs Starlette':>13}")
    for name, us in per_request.items():
        ratios = f"{fastapi_us / us:10.2f}x {starlette_us / us:12.2f}x"
        print(f"{name:42} {us:8.1f} {1e6 / us:9.0f} {ratios}")
    print("(ratios are throughput relative to the baseline: above 1.00x is faster)")
    print("\nlike for like (NovaRouter route vs the plain FastAPI route it replaces):")
    pairs = [
        ("NovaRouter, no security (lean)", "plain FastAPI"),
        ("NovaRouter, async Nova security (lean)", "plain FastAPI, async dependency"),
        ("NovaRouter, def Nova security (lean)", "plain FastAPI, def dependency"),
        ("@controller on a FastAPI route", "plain FastAPI"),
    ]
    for ours, theirs in pairs:
        print(f"  {ours:42} {per_request[theirs] / per_request[ours]:5.2f}x  ({theirs})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(min(args.requests, 20_000), min(args.rounds, 20)))
