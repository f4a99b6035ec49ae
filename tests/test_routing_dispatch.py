"""NovaRouter's dispatch through its compiled index, through a real app and a real server.

What users see must not change with the table's size or with how the router is reached
(included, nested, mounted, behind a ``root_path``); a 405 lists every method of the path;
the app's exception handlers come before a router's 500 status page.
"""

from __future__ import annotations

import gc
import logging
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import quote

import fastapi.routing
import httpx2 as httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket
from tests.support.servers import uvicorn_server
from tests.support.ws import connect as ws_connect


def show(req):
    return ("json", {"bindings": req.bindings, "path": req.path})


def named(name: str) -> Any:
    def ctrl(req):
        return ("json", name)

    return ctrl


def big_table(size: int, methods: bool = True) -> NovaRouter:
    options: dict[str, Any] = {"methods": ["get"]} if methods else {}
    routes: list[Any] = [(f"/r{k}/users/:id", named(f"r{k}"), options) for k in range(size - 1)]
    routes.append(("/api/users/:id", show, options))
    return NovaRouter([{"routes": routes}])


@pytest.fixture
def route_matches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts FastAPI's per-route matching (a linear scan calls it once per route tried)."""
    calls: list[str] = []
    original = fastapi.routing.APIRoute.matches

    def spy(self: fastapi.routing.APIRoute, scope: Any) -> Any:
        calls.append(self.path)
        return original(self, scope)

    monkeypatch.setattr(fastapi.routing.APIRoute, "matches", spy)
    return calls


@pytest.mark.parametrize("methods", [True, False], ids=["explicit methods", "default methods"])
def test_the_last_of_1001_routes_is_found_without_scanning_the_table(
    methods: bool, route_matches: list[str]
) -> None:
    app = FastAPI()
    app.include_router(big_table(1001, methods))
    client = TestClient(app)

    response = client.get("/api/users/7")

    assert response.json() == {"bindings": {"id": "7"}, "path": "/api/users/7"}
    assert route_matches == []  # no route was tried one by one
    assert client.get("/r500/users/1").json() == "r500"


def test_a_405_lists_the_methods_of_every_overlapping_path() -> None:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "routes": [
                        ("/users/me", named("me"), {"methods": ["get"]}),
                        ("/users/:id", named("id"), {"methods": ["delete", "patch"]}),
                    ]
                }
            ]
        )
    )
    client = TestClient(app)

    assert client.get("/users/me").json() == "me"
    assert client.delete("/users/me").json() == "id"
    response = client.put("/users/me")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH, DELETE"
    assert response.json() == {"detail": "Method Not Allowed"}
    assert client.put("/users/7").headers["allow"] == "PATCH, DELETE"


def test_table_order_still_decides_between_overlapping_paths() -> None:
    first = [
        ("/users/me", named("me"), {"methods": ["get"]}),
        ("/users/:id", show, {"methods": ["get"]}),
    ]
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": first}]), prefix="/a")
    app.include_router(NovaRouter([{"routes": first[::-1]}]), prefix="/b")
    client = TestClient(app)

    assert client.get("/a/users/me").json() == "me"
    assert client.get("/b/users/me").json()["bindings"] == {"id": "me"}


def test_include_time_prefix_dependencies_and_tags_apply() -> None:
    seen: list[str] = []
    app = FastAPI()
    app.include_router(
        big_table(3),
        prefix="/v1",
        tags=["v1"],
        dependencies=[Depends(lambda: seen.append("dep"))],
    )
    client = TestClient(app)

    assert client.get("/v1/api/users/1").json()["bindings"] == {"id": "1"}
    assert seen == ["dep"]
    assert client.get("/api/users/1").status_code == 404
    assert app.openapi()["paths"]["/v1/api/users/{id}"]["get"]["tags"] == ["v1"]


def test_a_router_nested_in_an_apirouter_and_url_for() -> None:
    outer = APIRouter(prefix="/outer")
    outer.include_router(big_table(3))
    app = FastAPI()
    app.include_router(outer)

    @app.get("/link")
    def link(request: Request) -> str:
        return str(request.url_for("show", id="9"))

    client = TestClient(app)
    assert client.get("/outer/api/users/2").json()["bindings"] == {"id": "2"}
    assert client.get("/link").json() == "http://testserver/outer/api/users/9"


def test_a_mounted_router_and_a_root_path() -> None:
    app = FastAPI()
    app.mount("/m", big_table(3))
    app.include_router(big_table(3))
    client = TestClient(app, root_path="/proxy")

    assert client.get("/proxy/m/api/users/3").json() == {
        "bindings": {"id": "3"},
        "path": "/proxy/m/api/users/3",
    }
    assert client.get("/proxy/api/users/4").json()["bindings"] == {"id": "4"}
    assert client.post("/proxy/m/api/users/3").status_code == 405
    assert client.get("/proxy/m/nothing").status_code == 404


def test_the_router_as_its_own_asgi_app_redirects_a_trailing_slash() -> None:
    client = TestClient(big_table(3))

    assert client.get("/api/users/5").json()["bindings"] == {"id": "5"}
    response = client.get("/api/users/5/", follow_redirects=False)
    assert response.status_code in (307, 308)
    assert response.headers["location"].endswith("/api/users/5")


def test_routes_added_after_inclusion_are_served() -> None:
    router = big_table(2)
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)
    assert client.get("/api/users/1").status_code == 200

    @router.get("/late")
    def late() -> str:
        return "late"

    assert client.get("/late").json() == "late"


# ------------------------------------------------- issue 7 item 4: app exception handlers first


class Conflict(Exception):
    pass


def conflict(req):
    raise Conflict("taken")


def crash(req):
    raise RuntimeError("boom")


def conflict_app() -> FastAPI:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "routes": [
                        ("/conflict", conflict, {"methods": ["post"]}),
                        ("/crash", crash, {"methods": ["post"]}),
                        (500, lambda req: ("json", 500, {}, {"page": "500"}), {}),
                    ]
                }
            ]
        )
    )

    @app.exception_handler(Conflict)
    async def on_conflict(request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"conflict": str(exc)}, status_code=409)

    return app


@pytest.mark.parametrize("forced_through_fastapi", [False, True])
def test_an_app_exception_handler_answers_before_the_500_status_page(
    forced_through_fastapi: bool, caplog: pytest.LogCaptureFixture
) -> None:
    app = conflict_app()
    if forced_through_fastapi:
        app.dependency_overrides[crash] = crash  # any override: FastAPI's own handler runs
    client = TestClient(app, raise_server_exceptions=False)

    response = client.post("/conflict")
    assert (response.status_code, response.json()) == (409, {"conflict": "taken"})
    with caplog.at_level(logging.ERROR, logger="fastapi_nova._route"):
        response = client.post("/crash")
    assert (response.status_code, response.json()) == (500, {"page": "500"})


#: Served by uvicorn in the real-server test.
served_conflict_app = conflict_app()


def test_the_app_handler_answers_through_a_real_server(tmp_path: Path) -> None:
    with uvicorn_server("tests.test_routing_dispatch:served_conflict_app", tmp_path) as server:
        response = httpx.post(f"{server.url}/conflict", timeout=10)
    assert (response.status_code, response.json()) == (409, {"conflict": "taken"})


# ------------------------------------------------------------------ any request path

PATH_TEXT = st.lists(
    st.sampled_from([*"ab1/.:%-_ ~é{}[]", "api", "users", "files", "r0", "me", "//", "7"]),
    max_size=10,
).map("".join)


@settings(max_examples=60, deadline=None)
@given(path=PATH_TEXT, method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "TRACE"]))
def test_any_request_path_gets_a_clear_answer_never_a_500(path: str, method: str) -> None:
    # Percent-encoded, so the client sends it as it is (a leading "//" would be a host).
    response = FUZZ_CLIENT.request(method, "/" + quote(path, safe="/~").lstrip("/"))

    assert response.status_code in (200, 307, 404, 405), (path, response.status_code)
    if response.status_code in (404, 405) and method != "HEAD":
        assert response.json()["detail"] in ("Not Found", "Method Not Allowed")


def _fuzz_app() -> FastAPI:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "routes": [
                        ("/api/users/:id", show, {"methods": ["get"]}),
                        ("/api/users/me", named("me")),
                        ("/api/files/[...]", show, {"methods": ["get"]}),
                        ("/r0/{n:int}", show, {"methods": ["get"]}),
                    ]
                }
            ]
        )
    )
    return app


#: One app for every example: the property is about requests, not about building routers.
FUZZ_CLIENT = TestClient(_fuzz_app(), raise_server_exceptions=False, follow_redirects=False)


def test_an_included_router_redirects_a_trailing_slash_like_fastapi() -> None:
    app = FastAPI()
    app.include_router(big_table(3))
    client = TestClient(app, follow_redirects=False)

    response = client.get("/api/users/5/")

    assert response.status_code == 307
    assert response.headers["location"] == "http://testserver/api/users/5"


def test_one_router_included_twice_answers_each_inclusion_405_with_its_methods() -> None:
    router = NovaRouter([{"routes": [("/a", named("a"), {"methods": ["get"]})]}])
    app = FastAPI()
    app.include_router(router, prefix="/x")
    app.include_router(router, prefix="/y")
    client = TestClient(app)

    assert client.get("/y/a").json() == "a"
    refused = client.post("/x/a")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET")


# ------------------------------------------ served below FastAPI's included-router wrapper
# After its first request, an inclusion's wrapper asks the router's index directly
# (_fastapi_compat.lean_inclusion); everything FastAPI does around it must still happen.


@pytest.fixture
def wrapper_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts calls of FastAPI's own per-request code of the included-router wrapper."""
    calls: list[str] = []
    wrapper = fastapi.routing._IncludedRouter
    for name in ("matches", "handle"):
        original = getattr(wrapper, name)

        def spy(self: Any, *args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(wrapper, name, spy)
    return calls


def test_after_the_first_request_fastapis_wrapper_code_is_skipped(
    wrapper_calls: list[str],
) -> None:
    app = FastAPI()
    app.include_router(big_table(3))
    client = TestClient(app)

    assert client.get("/api/users/1").json()["bindings"] == {"id": "1"}
    first = len(wrapper_calls)
    for k in range(2, 5):
        assert client.get(f"/api/users/{k}").json()["bindings"] == {"id": str(k)}
    assert client.post("/api/users/1").status_code == 405  # a 405 still goes through

    assert first > 0
    assert wrapper_calls[first:] == ["handle"]  # only the 405, handed back to FastAPI


def queued(req):
    return ("json", 202, {"x-queued": "yes", "set-cookie": "seen=1"}, {"queued": True})


def teapot(req):
    raise HTTPException(418, "teapot", headers={"x-tea": "1"})


ANSWERS = [
    ("GET", "/api/users/7"),
    ("POST", "/api/users/7"),  # 405 with Allow
    ("HEAD", "/api/users/7"),
    ("GET", "/api/users/7/"),  # trailing-slash redirect
    ("GET", "/api/queued"),
    ("POST", "/api/queued"),
    ("GET", "/api/none"),
    ("GET", "/api/teapot"),
    ("GET", "/api/crash"),
    ("GET", "/api/files/a/b"),
]


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_every_answer_is_byte_identical_once_the_inclusion_is_lean(prefix: str) -> None:
    # The first request goes through FastAPI's wrapper, later ones skip it; a route served
    # directly answers ("json", ...) with two raw ASGI messages, one served by FastAPI's own
    # handler through Response.__call__: status, headers in order and body are the same.
    router = NovaRouter(
        [
            {
                "prefix": "/api",
                "routes": [
                    ("/users/:id", show, {"methods": ["get"]}),
                    ("/queued", queued, {}),
                    ("/none", lambda req: ("status", 204), {}),
                    ("/teapot", teapot, {}),
                    ("/crash", crash, {}),
                    ("/files/[...]", show, {}),
                ],
            }
        ]
    )
    app = FastAPI()
    app.include_router(router, prefix=prefix)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)

    def answer(method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        response = client.request(method, prefix + path)
        return response.status_code, response.headers.multi_items(), response.content

    first = [answer(method, path) for method, path in ANSWERS]
    assert type(app.router.routes[-1]).__name__ == "_LeanInclusion"
    assert [answer(method, path) for method, path in ANSWERS] == first
    app.dependency_overrides[allow_all] = allow_all  # FastAPI's handler, Response.__call__
    assert [answer(method, path) for method, path in ANSWERS] == first
    assert first[4][:2] == (
        202,
        [
            ("x-queued", "yes"),
            ("set-cookie", "seen=1"),
            ("content-type", "application/json"),
            ("content-length", "15"),
        ],
    )


@pytest.mark.parametrize("overridden", ["matches", "handle"])
def test_a_subclass_overriding_matches_or_handle_is_asked_on_every_request(
    overridden: str,
) -> None:
    # FastAPI's wrapper calls the router's own `matches` and `handle`; a subclass that
    # overrides one (metrics, tracing, tenant selection) must keep being called after the
    # inclusion's first request, not only on it.
    seen: list[str] = []

    class Audited(NovaRouter):
        if overridden == "matches":

            def matches(self, scope: Any) -> Any:
                seen.append(scope["path"])
                return super().matches(scope)

        else:

            def handle(self, scope: Any, receive: Any, send: Any) -> Any:
                seen.append(scope["path"])
                return super().handle(scope, receive, send)

    app = FastAPI()
    app.include_router(Audited([{"routes": [("/users/:id", show, {"methods": ["get"]})]}]))
    client = TestClient(app)

    for k in range(3):
        assert client.get(f"/users/{k}").json()["bindings"] == {"id": str(k)}

    assert seen == ["/users/0", "/users/1", "/users/2"]


def test_a_nested_inclusion_is_served_with_url_for_and_the_outer_dependencies() -> None:
    seen: list[str] = []
    outer = APIRouter(prefix="/outer", dependencies=[Depends(lambda: seen.append("outer"))])
    outer.include_router(big_table(3), prefix="/in")
    plain = APIRouter(prefix="/plain")
    plain.include_router(big_table(3))
    app = FastAPI()
    app.include_router(outer)
    app.include_router(plain)

    @app.get("/link")
    def link(request: Request) -> str:
        return str(request.url_for("show", id="9"))

    client = TestClient(app)
    for k in range(3):
        assert client.get(f"/outer/in/api/users/{k}").json()["bindings"] == {"id": str(k)}
        assert client.get(f"/plain/api/users/{k}").json()["path"] == f"/plain/api/users/{k}"
        assert client.put(f"/plain/api/users/{k}").headers["allow"] == "GET"
    assert seen == ["outer"] * 3
    assert client.get("/link").json() == "http://testserver/outer/in/api/users/9"
    assert client.get("/in/api/users/1").status_code == 404


def test_one_router_included_twice_serves_each_prefix_after_many_requests() -> None:
    router = big_table(3)
    app = FastAPI()
    app.include_router(router, prefix="/x")
    app.include_router(router, prefix="/y")
    client = TestClient(app)

    for k in range(3):
        for prefix in ("/x", "/y"):
            response = client.get(f"{prefix}/api/users/{k}")
            assert response.json() == {
                "bindings": {"id": str(k)},
                "path": f"{prefix}/api/users/{k}",
            }
    assert client.get("/api/users/1").status_code == 404
    assert client.get("/x/y/api/users/1").status_code == 404


def test_middleware_and_exception_handlers_run_around_the_direct_route() -> None:
    app = conflict_app()

    @app.middleware("http")
    async def stamp(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-stamp"] = "1"
        return response

    client = TestClient(app, raise_server_exceptions=False)
    for _ in range(3):  # the first request finds the inclusion; the next ones skip its wrapper
        response = client.post("/conflict")
        assert (response.status_code, response.json()) == (409, {"conflict": "taken"})
        assert response.headers["x-stamp"] == "1"
        crashed = client.post("/crash")
        assert (crashed.status_code, crashed.json()) == (500, {"page": "500"})
        assert crashed.headers["x-stamp"] == "1"


def allow_all(req):
    return True


def test_dependency_overrides_set_after_the_first_requests_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    solved: list[str] = []  # FastAPI's parameter solving: the route went through FastAPI
    original = fastapi.routing.solve_dependencies

    async def spy(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", spy)
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [{"security": allow_all, "routes": [("/users/:id", show, {"methods": ["get"]})]}]
        )
    )
    client = TestClient(app)
    for k in range(3):
        assert client.get(f"/users/{k}").status_code == 200
    assert solved == []  # served directly

    app.dependency_overrides[allow_all] = lambda req: False
    assert client.get("/users/1").status_code == 401
    assert solved == ["/users/1"]  # any override: FastAPI's own way, as documented
    app.dependency_overrides.clear()
    assert client.get("/users/2").status_code == 200
    assert solved == ["/users/1"]


def test_a_root_path_and_a_trailing_slash_after_many_requests() -> None:
    app = FastAPI()
    app.include_router(big_table(3))
    client = TestClient(app, root_path="/proxy", follow_redirects=False)

    for k in range(3):
        assert client.get(f"/proxy/api/users/{k}").json() == {
            "bindings": {"id": str(k)},
            "path": f"/proxy/api/users/{k}",
        }
        redirect = client.get(f"/proxy/api/users/{k}/")
        assert redirect.status_code == 307
        assert redirect.headers["location"] == f"http://testserver/proxy/api/users/{k}"


def test_routes_added_after_many_requests_are_served() -> None:
    router = big_table(2)
    app = FastAPI()
    app.include_router(router, prefix="/v")
    client = TestClient(app)
    for k in range(3):
        assert client.get(f"/v/api/users/{k}").status_code == 200

    router.add_api_route("/late/{n}", lambda n: {"late": n})

    assert client.get("/v/late/3").json() == {"late": "3"}
    assert client.get("/v/api/users/4").json()["bindings"] == {"id": "4"}


@pytest.mark.anyio
@pytest.mark.parametrize("security", [False, allow_all], ids=["no security", "security"])
@pytest.mark.parametrize("forced_through_fastapi", [False, True])
async def test_a_served_request_leaves_no_reference_cycle(
    security: Any, forced_through_fastapi: bool
) -> None:
    # The scope held the NovaRequest, which held its Request, which held the scope: every
    # request's objects waited for the cyclic collector (about 15 per request).
    app = FastAPI()
    app.include_router(
        NovaRouter([{"security": security, "routes": [("/users/:id", show, {"methods": ["get"]})]}])
    )
    if forced_through_fastapi:
        app.dependency_overrides[named] = named
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    def scope(k: int) -> dict[str, Any]:
        path = f"/users/{k}"
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"test")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }

    await app(scope(0), receive, send)  # first request: imports, caches, the inclusion
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for k in range(1, 4):
            await app(scope(k), receive, send)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, NovaRequest | Request)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()

    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [200] * 4
    assert left == []


class Echo(NovaWebSocket):
    def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        return ("reply", frame, state)


def serve_once(router: NovaRouter, protocol: str) -> weakref.ref[FastAPI]:
    """A new app including `router`, used and dropped: a weak reference to it."""
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        if protocol == "http":
            for k in range(2):  # the second request goes through the lean inclusion
                assert client.get(f"/users/{k}").json()["bindings"] == {"id": str(k)}
        else:
            with ws_connect(client, "/echo") as session:
                session.send_text("hi")
                assert session.receive_text() == "hi"
    return weakref.ref(app)


@pytest.mark.parametrize("protocol", ["http", "websocket"])
def test_a_router_included_in_many_apps_keeps_none_of_them_alive(protocol: str) -> None:
    # A module-level router included by an app factory (one app per test, per worker): the
    # router's per-inclusion caches must not keep every app it was ever included in alive.
    router = NovaRouter(
        [
            {
                "routes": [
                    ("/users/:id", show, {"methods": ["get"]}),
                    ("/echo", Echo, {"protocol": "ws"}),
                ]
            }
        ]
    )
    apps = [serve_once(router, protocol) for _ in range(3)]

    gc.collect()
    assert [ref() for ref in apps] == [None, None, None]
