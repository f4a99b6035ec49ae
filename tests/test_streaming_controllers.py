"""FastAPI's ``yield`` endpoints work as FastAPI-style controllers (issue 7, item 6).

Server-Sent Events (``EventSourceResponse``) and JSON Lines, async and sync generators, in a
route table and under ``@controller``: each answer is compared with plain FastAPI serving the
same function.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel

from fastapi_nova import NovaRouter, RouteConfigError, controller
from tests.support.ws import TestClient


class Tick(BaseModel):
    n: int


async def ticks_async(count: int = 3) -> AsyncIterable[Tick]:
    for n in range(count):
        yield Tick(n=n)


def ticks_sync(count: int = 3) -> Iterable[Tick]:
    for n in range(count):
        yield Tick(n=n)


GENERATORS: dict[str, Callable[..., Any]] = {"async": ticks_async, "sync": ticks_sync}
KINDS: dict[str, dict[str, Any]] = {
    "jsonl": {},
    "sse": {"response_class": EventSourceResponse},
}


def plain(fn: Callable[..., Any], options: dict[str, Any]) -> tuple[str, bytes]:
    app = FastAPI()
    app.get("/ticks", **options)(fn)
    response = TestClient(app).get("/ticks", params={"count": 2})
    return response.headers["content-type"], response.content


@pytest.mark.parametrize("gen", sorted(GENERATORS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_yield_controller_in_a_route_table_streams_as_in_fastapi(gen: str, kind: str) -> None:
    fn, options = GENERATORS[gen], KINDS[kind]
    app = FastAPI()
    app.include_router(
        NovaRouter([{"prefix": "/s", "routes": [("/ticks", fn, {"methods": ["get"], **options})]}])
    )

    response = TestClient(app).get("/s/ticks", params={"count": 2})

    assert response.status_code == 200
    assert (response.headers["content-type"], response.content) == plain(fn, options)
    expected_type = "text/event-stream" if kind == "sse" else "application/jsonl"
    assert response.headers["content-type"].startswith(expected_type)
    assert b'{"n":1}' in response.content


@pytest.mark.parametrize("gen", sorted(GENERATORS))
def test_a_yield_function_under_controller_streams(gen: str) -> None:
    app = FastAPI()
    app.get("/ticks", response_class=EventSourceResponse)(controller(GENERATORS[gen]))

    response = TestClient(app).get("/ticks", params={"count": 2})

    assert (response.headers["content-type"], response.content) == plain(
        GENERATORS[gen], KINDS["sse"]
    )


def test_a_yield_controller_is_documented_as_fastapi_documents_it() -> None:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": [("/ticks", ticks_async, {"methods": ["get"]})]}]))
    twin = FastAPI()
    twin.get("/ticks")(ticks_async)

    ours = app.openapi()["paths"]["/ticks"]["get"]
    theirs = twin.openapi()["paths"]["/ticks"]["get"]
    assert ours["responses"] == theirs["responses"]
    assert ours["parameters"] == theirs["parameters"]


def test_a_yield_controller_still_runs_after_the_groups_security() -> None:
    app = FastAPI()
    app.include_router(
        NovaRouter([{"security": lambda req: False, "routes": [("/ticks", ticks_async)]}])
    )

    response = TestClient(app).get("/ticks")

    assert response.status_code == 401 and response.content == b""


def test_a_nova_style_generator_is_refused_at_build_time() -> None:
    async def events(req):  # type: ignore[no-untyped-def]
        yield ("json", 1)

    with pytest.raises(
        RouteConfigError,
        match=r"group 0 \(prefix ''\), route '/events': a Nova-style controller .* cannot "
        r"yield",
    ):
        NovaRouter([{"routes": [("/events", events)]}])
