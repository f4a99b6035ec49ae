"""WebSocket routes FastAPI has nothing to solve for are served as plain Starlette WebSocket
routes (issue 11: FastAPI's WebSocket wrapper costs ~6 KiB per connection), and everything
that needs FastAPI still goes through it: plugins, dependencies (the group's or an
inclusion's), FastAPI-style security, ``app.dependency_overrides``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, WebSocket

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket
from fastapi_nova.testing import WebSocketRefused, connect

pytestmark = pytest.mark.anyio

DEPENDENCY_CALLS: list[str] = []


class Scope(NovaWebSocket):
    """Replies whether FastAPI's WebSocket wrapper ran (it leaves its exit stack in the
    scope) and what url_for gives for this route."""

    def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        req: NovaRequest = state["req"]
        scope = req.request.scope
        through = "fastapi_inner_astack" in scope
        url = str(req.request.url_for("Scope", **req.bindings))
        seen = f"{'fastapi' if through else 'direct'} {url} {state.get('auth_data', '-')}"
        return ("reply", ("text", seen), state)


def nova_check(req: NovaRequest) -> Any:
    if req.headers.get("x-key") == "k":
        return (True, "alice")
    return (False, 401, {"x-why": "no key"})


def fastapi_check(websocket: WebSocket) -> bool:
    return websocket.headers.get("x-key") == "k"


def dependency() -> None:
    DEPENDENCY_CALLS.append("called")


def router(**group: Any) -> NovaRouter:
    return NovaRouter(
        [
            {
                "prefix": "/g",
                "security": False,
                **group,
                "routes": [("/ws/:room", Scope, {"protocol": "ws"})],
            }
        ]
    )


async def reply(app: FastAPI, path: str, **kwargs: Any) -> str:
    async with connect(app, path, **kwargs) as ws:
        await ws.send_text("?")
        return await ws.receive_text()


async def test_no_dependencies_is_served_directly_with_prefix_and_url_for() -> None:
    app = FastAPI()
    app.include_router(router(), prefix="/api")
    assert await reply(app, "/api/g/ws/r1") == "direct ws://testserver/api/g/ws/r1 -"


async def test_nova_security_runs_on_the_direct_path_and_denies_before_accept() -> None:
    app = FastAPI()
    app.include_router(router(security=nova_check))
    assert await reply(app, "/g/ws/r1", headers={"x-key": "k"}) == (
        "direct ws://testserver/g/ws/r1 alice"
    )
    with pytest.raises(WebSocketRefused) as denied:
        async with connect(app, "/g/ws/r1"):
            pass
    assert denied.value.status == 401
    assert denied.value.headers.get("x-why") == "no key"


async def test_overridden_security_goes_through_fastapi_and_the_override_runs() -> None:
    app = FastAPI()
    app.include_router(router(security=nova_check))
    app.dependency_overrides[nova_check] = lambda req: (True, "override")
    assert await reply(app, "/g/ws/r1") == "fastapi ws://testserver/g/ws/r1 override"


async def test_include_time_dependencies_go_through_fastapi_and_run() -> None:
    DEPENDENCY_CALLS.clear()
    app = FastAPI()
    app.include_router(router(), dependencies=[Depends(dependency)])
    assert (await reply(app, "/g/ws/r1")).startswith("fastapi ")
    assert DEPENDENCY_CALLS == ["called"]


async def test_nested_inclusion_with_dependencies_goes_through_fastapi() -> None:
    DEPENDENCY_CALLS.clear()
    outer = APIRouter(dependencies=[Depends(dependency)])
    outer.include_router(router())
    app = FastAPI()
    app.include_router(outer, prefix="/o")
    assert (await reply(app, "/o/g/ws/r1")).startswith("fastapi ws://testserver/o/g/ws/r1")
    assert DEPENDENCY_CALLS == ["called"]


async def test_the_same_router_included_twice_decides_per_inclusion() -> None:
    DEPENDENCY_CALLS.clear()
    nova = router()
    app = FastAPI()
    app.include_router(nova, prefix="/plain")
    app.include_router(nova, prefix="/guarded", dependencies=[Depends(dependency)])
    assert (await reply(app, "/plain/g/ws/r")).startswith("direct ")
    assert (await reply(app, "/guarded/g/ws/r")).startswith("fastapi ")
    assert DEPENDENCY_CALLS == ["called"]


async def test_group_dependencies_and_fastapi_security_go_through_fastapi() -> None:
    DEPENDENCY_CALLS.clear()
    app = FastAPI()
    app.include_router(router(dependencies=[Depends(dependency)]))
    assert (await reply(app, "/g/ws/r1")).startswith("fastapi ")
    assert DEPENDENCY_CALLS == ["called"]
    app = FastAPI()
    app.include_router(router(security=fastapi_check))
    assert (await reply(app, "/g/ws/r1", headers={"x-key": "k"})).startswith("fastapi ")


async def test_router_used_as_the_app_is_served_directly() -> None:
    assert (await reply(router(), "/g/ws/r1")).startswith("direct ")


class Slow(NovaWebSocket):
    """Blocks in the first frame's callback until the test lets it go; echoes the rest."""

    entered: asyncio.Event
    release: asyncio.Event

    async def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        if frame[1] == "0":
            Slow.entered.set()
            await Slow.release.wait()
        return ("reply", frame, state)


async def test_the_reader_holds_at_most_one_message_ahead_and_order_is_kept() -> None:
    """While a callback runs, the connection takes at most two more messages from the
    server (one waiting for the callback, one held by the reader; the rest wait in the
    socket), and every frame is answered in order."""
    Slow.entered, Slow.release = asyncio.Event(), asyncio.Event()
    app = NovaRouter(
        [{"prefix": "", "security": False, "routes": [("/slow", Slow, {"protocol": "ws"})]}]
    )
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await incoming.put({"type": "websocket.connect"})
    for n in range(5):
        await incoming.put({"type": "websocket.receive", "text": str(n)})
    taken = 0
    sent: list[dict[str, Any]] = []
    replies_done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal taken
        message = await incoming.get()
        taken += 1
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if sum(m["type"] == "websocket.send" for m in sent) == 5:
            replies_done.set()

    scope = {
        "type": "websocket",
        "path": "/slow",
        "raw_path": b"/slow",
        "root_path": "",
        "headers": [],
        "query_string": b"",
        "scheme": "ws",
        "server": ("t", 80),
        "client": ("c", 1),
        "subprotocols": [],
        "asgi": {"version": "3.0"},
    }
    served = asyncio.create_task(app(scope, receive, send))
    await asyncio.wait_for(Slow.entered.wait(), 5)
    for _ in range(10):  # let the reader run as far as it would
        await asyncio.sleep(0)
    # At most: connect, "0" (in the callback), "1" (handed over) and "2" (held by the reader).
    assert 2 <= taken <= 4
    Slow.release.set()
    await asyncio.wait_for(replies_done.wait(), 5)
    assert [m.get("text") for m in sent if m["type"] == "websocket.send"] == list("01234")
    await incoming.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(served, 5)


async def test_websocket_routes_are_served_after_the_inclusion_answered_http() -> None:
    # After its first HTTP request an inclusion's FastAPI wrapper asks the router first
    # (_fastapi_compat.lean_inclusion); a WebSocket connection still goes the same way.
    nova = NovaRouter(
        [
            {
                "prefix": "/g",
                "security": False,
                "routes": [
                    ("/ws/:room", Scope, {"protocol": "ws"}),
                    ("/ping", lambda req: ("json", "pong"), {"methods": ["get"]}),
                ],
            }
        ]
    )
    app = FastAPI()
    app.include_router(nova, prefix="/api")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for _ in range(2):
            assert (await http.get("/api/g/ping")).json() == "pong"

    assert type(app.router.routes[-1]).__name__ == "_LeanInclusion"
    assert await reply(app, "/api/g/ws/r1") == "direct ws://testserver/api/g/ws/r1 -"
