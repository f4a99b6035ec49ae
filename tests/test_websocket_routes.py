"""WebSocket routes in a NovaRouter: group security on the upgrade (both styles), bindings,
plugins, options validation, and denials that never reach a handler nor the error log."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.security import APIKeyHeader
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket, RouteConfigError
from fastapi_nova.testing import WebSocketRefused, connect
from tests.support.servers import uvicorn_server

pytestmark = pytest.mark.anyio

CREATED: list[str] = []


class Recorder(NovaWebSocket):
    """Replies with the state it was given; counts instances to prove denials create none."""

    def __init__(self) -> None:
        super().__init__()
        CREATED.append(type(self).__name__)

    def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        req: NovaRequest = state["req"]
        seen = {"auth_data": state.get("auth_data", "<absent>"), "bindings": req.bindings}
        return ("reply", ("text", repr(seen)), state)


class Refuser(NovaWebSocket):
    def init(self, state: dict[str, Any]) -> Any:
        return ("stop", state)


def app_with(groups: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()
    app.include_router(NovaRouter(groups))
    return app


async def reply(app: FastAPI, path: str, **kwargs: Any) -> str:
    async with connect(app, path, **kwargs) as ws:
        await ws.send_text("?")
        return await ws.receive_text()


async def refused(app: FastAPI, path: str, **kwargs: Any) -> WebSocketRefused:
    with pytest.raises(WebSocketRefused) as info:
        async with connect(app, path, **kwargs):
            pass
    return info.value


def nova_security(req: NovaRequest) -> Any:
    match req.parsed_qs.get("as"):
        case "data":
            return (True, {"user": "ada"})
        case "plain":
            return True
        case "teapot":
            return (False, 418, {"x-why": "teapot"})
        case "redirect":
            return ("redirect", "/login")
    return False


async def test_nova_security_allows_with_and_without_auth_data() -> None:
    app = app_with([{"security": nova_security, "routes": [("/ws", Recorder, {"protocol": "ws"})]}])
    assert "'auth_data': {'user': 'ada'}" in await reply(app, "/ws", query="as=data")
    # Plain True gives no "auth_data" key at all (DESIGN: only when security returned data).
    assert "'auth_data': '<absent>'" in await reply(app, "/ws", query="as=plain")


@pytest.mark.parametrize(
    ("query", "status", "header"),
    [
        ("", 401, None),
        ("as=teapot", 418, ("x-why", "teapot")),
        ("as=redirect", 302, ("location", "/login")),
    ],
)
async def test_nova_security_denials_answer_with_their_status_and_no_handler(
    query: str, status: int, header: tuple[str, str] | None
) -> None:
    app = app_with([{"security": nova_security, "routes": [("/ws", Recorder, {"protocol": "ws"})]}])
    CREATED.clear()
    denial = await refused(app, "/ws", query=query)
    assert denial.status == status
    if header is not None:
        assert denial.headers[header[0]] == header[1]
    assert CREATED == []


api_key = APIKeyHeader(name="x-key", auto_error=False)


def fastapi_security(key: Annotated[str | None, Depends(api_key)]) -> Any:
    return (True, {"key": key}) if key == "secret" else (False, 403, {})


async def test_fastapi_style_security_reads_headers_on_the_upgrade() -> None:
    app = app_with(
        [{"security": fastapi_security, "routes": [("/ws", Recorder, {"protocol": "ws"})]}]
    )
    assert "'auth_data': {'key': 'secret'}" in await reply(app, "/ws", headers={"x-key": "secret"})
    CREATED.clear()
    assert (await refused(app, "/ws", headers={"x-key": "wrong"})).status == 403
    assert (await refused(app, "/ws")).status == 403
    assert CREATED == []


async def test_security_that_raises_refuses_with_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(req: NovaRequest) -> Any:
        raise RuntimeError("database down")

    app = app_with([{"security": broken, "routes": [("/ws", Recorder, {"protocol": "ws"})]}])
    CREATED.clear()
    assert (await refused(app, "/ws")).status == 500
    assert CREATED == []
    assert "database down" in caplog.text


async def test_plugins_run_before_security_on_the_upgrade() -> None:
    order: list[str] = []

    def security(req: NovaRequest) -> Any:
        order.append("security")
        return True

    async def plugin_dep() -> None:
        order.append("plugin")

    app = app_with(
        [
            {
                "security": security,
                "plugins": [plugin_dep],
                "routes": [("/ws", Recorder, {"protocol": "ws"})],
            }
        ]
    )
    await reply(app, "/ws")
    assert order == ["plugin", "security"]


async def test_bindings_reach_init_state() -> None:
    app = app_with([{"prefix": "/rooms", "routes": [("/:room", Recorder, {"protocol": "ws"})]}])
    assert "'bindings': {'room': 'lobby'}" in await reply(app, "/rooms/lobby")


async def test_init_stop_refuses_with_403() -> None:
    app = app_with([{"routes": [("/ws", Refuser, {"protocol": "ws"})]}])
    assert (await refused(app, "/ws")).status == 403


async def test_router_included_with_a_prefix_still_serves_and_denies() -> None:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [{"security": nova_security, "routes": [("/ws", Recorder, {"protocol": "ws"})]}]
        ),
        prefix="/v1",
    )
    assert "ada" in await reply(app, "/v1/ws", query="as=data")
    assert (await refused(app, "/v1/ws")).status == 401


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"idle_timeout": "soon"}, "idle_timeout"),
        ({"max_frame_size": -1}, "max_frame_size"),
        ({"on_overflow": "explode"}, "on_overflow"),
        ({"mailbox_size": 0}, "mailbox_size"),
        ({"methods": ["get"]}, "methods"),
    ],
)
def test_bad_websocket_options_fail_at_startup_naming_the_route(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(
        RouteConfigError, match=rf"group 0 \(prefix '/x'\), route '/ws': .*{message}"
    ):
        NovaRouter([{"prefix": "/x", "routes": [("/ws", Recorder, {"protocol": "ws", **options})]}])


def test_a_function_is_not_a_websocket_handler() -> None:
    def handler(req: NovaRequest) -> Any:
        return ("ok", {})

    with pytest.raises(RouteConfigError, match="a 'ws' route takes a NovaWebSocket subclass"):
        NovaRouter([{"routes": [("/ws", handler, {"protocol": "ws"})]}])


@pytest.mark.slow
def test_denials_on_real_uvicorn_are_not_logged_as_errors(tmp_path: Path) -> None:
    """Nova-style, FastAPI-style and a FastAPI scheme's own 401: no ERROR, no traceback."""
    with uvicorn_server("tests.apps.ws_security_app:app", tmp_path) as server:
        cases = [
            ("/nova/ws", {}, 401),
            ("/key/ws", {}, 403),
            ("/basic/ws", {}, 401),  # HTTPBasic(auto_error) raises FastAPI's HTTPException
            ("/basic/ws", {"Authorization": "Basic " + base64.b64encode(b"u:no").decode()}, 401),
        ]
        for path, headers, status in cases:
            with pytest.raises(InvalidStatus) as info:
                with ws_connect(
                    f"{server.ws_url}{path}", additional_headers=headers, open_timeout=5, proxy=None
                ):
                    pass
            assert info.value.response.status_code == status, path
        with ws_connect(f"{server.ws_url}/nova/ws?token=good", open_timeout=5, proxy=None) as ws:
            ws.send("?")
            assert ws.recv(timeout=5) == "{'token': 'good'}"
        log = server.log()
    assert "ERROR" not in log and "Traceback" not in log, log
