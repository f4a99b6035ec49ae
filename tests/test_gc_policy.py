"""NovaRouter's garbage-collector policy (issue 11): applied for the lifespan, undone after,
shared by several routers, and off with `gc_policy=False`."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from fastapi_nova import NovaRouter, gc_policy


def _hello(req):  # unannotated: a Nova-style controller
    return ("json", "hello")


def _app(*routers: NovaRouter) -> FastAPI:
    app = FastAPI()
    for router in routers:
        app.include_router(router)
    return app


@pytest.fixture(autouse=True)
def _collector_as_found() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], 10)  # CPython's default oldest threshold
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_lifespan_freezes_the_start_up_heap_and_keeps_the_thresholds() -> None:
    app = _app(NovaRouter([{"routes": [("/h", _hello)]}]))
    start_up = gc.get_threshold()
    with TestClient(app) as client:
        assert client.get("/h").json() == "hello"
        assert gc.get_freeze_count() > 0
        # Raising the oldest threshold only postponed a large full collection into a fan-out.
        assert gc.get_threshold() == start_up
    assert gc.get_threshold() == start_up
    assert gc.get_freeze_count() == 0  # handed back when the app shut down


def test_gc_policy_false_leaves_the_collector_alone() -> None:
    app = _app(NovaRouter([{"routes": [("/h", _hello)]}], gc_policy=False))
    start_up = gc.get_threshold()
    with TestClient(app) as client:
        assert client.get("/h").json() == "hello"
        assert gc.get_threshold() == start_up
        assert gc.get_freeze_count() == 0


def test_two_routers_apply_it_once_and_the_last_one_out_restores_it() -> None:
    events: list[int] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        events.append(gc.get_freeze_count())  # before the policy: the user's start-up runs first
        yield

    start_up = gc.get_threshold()
    first = NovaRouter([{"routes": [("/a", _hello)]}], lifespan=lifespan)
    second = NovaRouter([{"routes": [("/b", _hello)]}])
    with TestClient(_app(first, second)) as client:
        assert client.get("/a").json() == client.get("/b").json() == "hello"
        assert gc.get_freeze_count() > 0
    assert events == [0]
    assert gc.get_threshold() == start_up and gc.get_freeze_count() == 0


def test_a_start_up_that_fails_leaves_the_collector_as_it_was() -> None:
    @asynccontextmanager
    async def broken(app: Any) -> AsyncIterator[None]:
        raise RuntimeError("start-up failed")
        yield

    start_up = gc.get_threshold()
    app = _app(NovaRouter([{"routes": [("/h", _hello)]}], lifespan=broken))
    with pytest.raises(RuntimeError, match="start-up failed"), TestClient(app):
        pass
    assert gc.get_threshold() == start_up and gc.get_freeze_count() == 0


def test_garbage_left_by_the_start_up_is_collected_not_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Collected at the first start-up in a process (a server's only one): be the first.
    monkeypatch.setattr(gc_policy, "_collected", False)

    class Cycle:
        me: Any

    refs: list[weakref.ref[Cycle]] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        junk = Cycle()
        junk.me = junk  # a reference cycle: only the collector frees it
        refs.append(weakref.ref(junk))
        del junk
        yield

    app = _app(NovaRouter([{"routes": [("/h", _hello)]}], lifespan=lifespan))
    gc.disable()  # no collection of our own may free it before the policy runs
    try:
        with TestClient(app):
            assert gc.get_freeze_count() > 0
            gc.collect()
            assert refs[0]() is None  # collected, not frozen for the server's life
    finally:
        gc.enable()
