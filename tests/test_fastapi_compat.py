"""Every FastAPI/Starlette internal that ``fastapi_nova._fastapi_compat`` reads, pinned.

Each test names the internal it relies on. When a FastAPI or Starlette upgrade changes one,
the test here fails with that name, before any user sees a slower or different answer.
"""

from __future__ import annotations

import inspect
from contextlib import AsyncExitStack
from typing import Any

import fastapi.routing
from fastapi import Depends, FastAPI, Request
from starlette.testclient import TestClient

from fastapi_nova import NovaRouter, _fastapi_compat
from fastapi_nova.controllers import _REQUEST_PARAM


def show(req):
    return ("json", req.bindings)


def noop() -> None:
    return None


def probe_router(captured: dict[str, Any]) -> NovaRouter:
    """A NovaRouter whose ``matches`` records what FastAPI hands it."""

    class Probe(NovaRouter):
        def matches(self, scope: Any) -> Any:
            captured["included"] = _fastapi_compat.included_router(scope, self)
            return super().matches(scope)

    return Probe([{"routes": [("/users/:id", show, {"methods": ["get"]})]}])


def test_fastapi_scope_keys_are_the_ones_we_read() -> None:
    # fastapi.routing keeps per-request dispatch state under scope["fastapi"].
    assert fastapi.routing._FASTAPI_SCOPE_KEY == _fastapi_compat._FASTAPI_SCOPE_KEY
    assert fastapi.routing._FASTAPI_INCLUDED_ROUTER_KEY == _fastapi_compat._INCLUDED_ROUTER_KEY
    assert (
        fastapi.routing._FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY
        == _fastapi_compat._EFFECTIVE_CONTEXT_KEY
    )


def test_an_inclusion_is_found_in_the_scope_and_lists_its_routes_with_its_additions() -> None:
    captured: dict[str, Any] = {}
    router = probe_router(captured)
    app = FastAPI()
    app.include_router(router, prefix="/v1", dependencies=[Depends(noop)])

    assert TestClient(app).get("/v1/users/1").json() == {"id": "1"}

    included = captured["included"]
    assert isinstance(included, fastapi.routing._IncludedRouter)
    routes = _fastapi_compat.included_routes(included)
    assert routes is not None and len(routes) == 1
    route = routes[0]
    assert route.route is router.routes[0]
    assert route.path_format == "/v1/users/{id}"
    assert route.path_regex.match("/v1/users/1")
    assert set(route.convertors) == {"id"}
    assert route.methods == {"GET"}
    assert route.dependency_calls == [noop]  # the inclusion's dependency is visible
    assert route.max_body_size is None
    assert route.context.original_route is router.routes[0]


def test_routes_version_counts_changes_to_the_routes() -> None:
    router = NovaRouter([{"routes": [("/a", show, {"methods": ["get"]})]}])
    before = _fastapi_compat.routes_version(router)

    router.add_api_route("/b", noop)

    assert isinstance(before, int)
    assert _fastapi_compat.routes_version(router) == before + 1


def test_a_selected_context_is_served_by_the_route() -> None:
    # APIRoute.handle serves the effective context found under scope["fastapi"].
    source = inspect.getsource(fastapi.routing.APIRoute.handle)
    assert "_get_scope_effective_route_context" in source


def test_telemetry_hook_exists() -> None:
    from fastapi.telemetry._api import _route_selected

    assert set(inspect.signature(_route_selected).parameters) >= {"scope", "path"}


def test_route_path_strips_the_root_path() -> None:
    scope = {"path": "/proxy/a/b", "root_path": "/proxy"}
    assert _fastapi_compat.route_path(scope) == "/a/b"
    assert _fastapi_compat.route_path({"path": "/a", "root_path": ""}) == "/a"


def test_the_effective_context_variable_exists() -> None:
    # NovaRoute._security_first reads the dependant FastAPI builds an included route with.
    assert hasattr(fastapi.routing, "_effective_route_context_var")


def test_fastapi_apps_provide_a_response_exit_stack() -> None:
    app = FastAPI()
    found: list[bool] = []

    @app.get("/")
    def root(request: Request) -> None:
        found.append(isinstance(_fastapi_compat.response_exit_stack(request.scope), AsyncExitStack))

    TestClient(app).get("/")
    assert found == [True]
    assert _fastapi_compat.response_exit_stack({}) is None


def test_a_form_starlette_parsed_is_kept_on_the_request() -> None:
    app = FastAPI()
    seen: list[Any] = []

    @app.post("/")
    async def root(request: Request) -> None:
        await request.form()
        seen.append(dict(_fastapi_compat.consumed_form(request) or {}))

    TestClient(app).post("/", data={"a": "1"})
    assert seen == [{"a": "1"}]


def test_form_limits_are_read_as_fastapi_set_them_for_the_request() -> None:
    # fastapi.routing._apply_router_form_limits leaves the combined limits in the scope.
    assert fastapi.routing._FASTAPI_FORM_LIMITS_KEY == _fastapi_compat._FORM_LIMITS_KEY
    seen: list[dict[str, int]] = []
    router = fastapi.APIRouter(form_limits={"max_files": 3})

    @router.get("/")
    def root(request: Request) -> None:
        seen.append(_fastapi_compat.form_limits(request.scope))

    app = FastAPI(form_limits={"max_fields": 5})
    app.include_router(router, form_limits={"max_part_size": 7})
    TestClient(app).get("/")

    assert seen == [{"max_fields": 5, "max_files": 3, "max_part_size": 7}]
    assert _fastapi_compat.form_limits({}) == {}


def test_apiroute_options_are_read_from_its_signature() -> None:
    names = _fastapi_compat.apiroute_option_names()
    assert {"response_model", "status_code", "tags", "summary", "dependencies"} <= names
    assert _REQUEST_PARAM not in names


def test_a_websocket_exposes_the_asgi_channels_it_wraps() -> None:
    # Starlette's WebSocket keeps the ASGI receive and send as `_receive` and `_send`; the
    # connection runtime calls them directly (one coroutine less per frame and per send).
    from starlette.websockets import WebSocket

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        return None

    websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
    assert _fastapi_compat.websocket_channels(websocket) == (receive, send)
    assert _fastapi_compat.websocket_channels(object()) is None  # type: ignore[arg-type]


def test_an_included_router_sits_behind_fastapis_included_router_wrapper() -> None:
    # lean_inclusion swaps the class of the wrapper FastAPI 0.165 appends per inclusion.
    router = NovaRouter([{"routes": [("/users/:id", show, {"methods": ["get"]})]}])
    app = FastAPI()
    app.include_router(router)

    included = app.router.routes[-1]
    assert type(included) is fastapi.routing._IncludedRouter
    assert _fastapi_compat._IncludedRouter is fastapi.routing._IncludedRouter
    assert included.original_router is router
    assert included.include_context.form_limits == {}  # falsy: nothing for the wrapper to add
    # The wrapper's per-request entry points, which _LeanInclusion overrides.
    for name in ("matches", "handle"):
        assert name in vars(fastapi.routing._IncludedRouter)
        assert name in vars(_fastapi_compat._LeanInclusion)


def test_a_lean_inclusion_asks_its_router_first_and_is_still_fastapis_wrapper() -> None:
    router = NovaRouter([{"routes": [("/users/:id", show, {"methods": ["get"]})]}])
    app = FastAPI()
    app.include_router(router, prefix="/v1")
    included = app.router.routes[-1]

    _fastapi_compat.lean_inclusion(included, router)

    assert type(included) is _fastapi_compat._LeanInclusion
    assert isinstance(included, fastapi.routing._IncludedRouter)  # OpenAPI, url_for read it
    client = TestClient(app)
    assert client.get("/v1/users/3").json() == {"id": "3"}
    assert client.post("/v1/users/3").status_code == 405
    assert app.openapi()["paths"]["/v1/users/{id}"]["get"]


def test_a_lean_inclusion_falls_back_to_fastapis_wrapper_when_the_router_declines() -> None:
    class Declining(NovaRouter):
        def _inclusion_matches(self, inclusion: Any, scope: Any) -> Any:
            return None

        def _inclusion_handle(self, inclusion: Any, scope: Any, receive: Any, send: Any) -> Any:
            return None

    router = Declining([{"routes": [("/users/:id", show, {"methods": ["get"]})]}])
    app = FastAPI()
    app.include_router(router, prefix="/v1")
    _fastapi_compat.lean_inclusion(app.router.routes[-1], router)

    assert TestClient(app).get("/v1/users/4").json() == {"id": "4"}


def test_an_inclusion_with_form_limits_or_of_another_router_stays_fastapis() -> None:
    router = NovaRouter([{"routes": [("/a", show, {"methods": ["get"]})]}])
    other = NovaRouter([{"routes": [("/b", show, {"methods": ["get"]})]}])
    app = FastAPI()
    app.include_router(router, form_limits={"max_files": 1})
    app.include_router(other)
    limited, plain = app.router.routes[-2:]

    _fastapi_compat.lean_inclusion(limited, router)
    _fastapi_compat.lean_inclusion(plain, router)  # not `router`'s inclusion

    assert type(limited) is fastapi.routing._IncludedRouter
    assert type(plain) is fastapi.routing._IncludedRouter


def test_in_fastapi_app_tells_whether_the_app_provides_the_exit_stack() -> None:
    app = FastAPI()
    found: list[bool] = []

    @app.get("/")
    def root(request: Request) -> None:
        found.append(_fastapi_compat.in_fastapi_app(request.scope))

    TestClient(app).get("/")
    assert found == [True]
    assert _fastapi_compat.in_fastapi_app({}) is False
