"""NovaRouter: route tables to FastAPI routes, methods, 405s, status pages, and the lean path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import fastapi.routing
import pytest
from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.testclient import TestClient

from fastapi_nova import NovaRequest, NovaRouter

ALL = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def app_with(router: NovaRouter, **include: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(router, **include)
    return app


def client_for(groups: Any, **router_kwargs: Any) -> TestClient:
    return TestClient(app_with(NovaRouter(groups, **router_kwargs)), raise_server_exceptions=False)


def echo(req):
    return ("json", {"method": req.method, "bindings": req.bindings, "pathinfo": req.pathinfo})


def named(name: str) -> Callable[..., Any]:
    def ctrl(req):
        return ("json", name)

    return ctrl


# --------------------------------------------------------------------------- set-up


def test_include_router_alone_is_enough() -> None:
    def security(req):
        return (True, "ann") if req.headers.get("x-user") else False

    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "routes": [
                        ("/heartbeat", lambda req: ("status", 200), {"methods": ["get"]}),
                        (404, lambda req: ("json", 404, {}, {"missing": req.path}), {}),
                    ]
                },
                {
                    "prefix": "/api",
                    "security": security,
                    "routes": [
                        (
                            "/users/:id",
                            lambda req: ("json", [req.bindings["id"], req.auth_data]),
                            {"methods": ["get"]},
                        ),
                        ("/gone", lambda req: ("status", 404), {"methods": ["get"]}),
                    ],
                },
            ]
        )
    )
    client = TestClient(app)

    assert client.get("/heartbeat").status_code == 200
    assert client.get("/api/users/3", headers={"x-user": "1"}).json() == ["3", "ann"]
    assert client.get("/api/users/3").status_code == 401
    assert client.get("/api/gone", headers={"x-user": "1"}).json() == {"missing": "/api/gone"}


def test_routes_as_a_list() -> None:
    client = client_for([{"routes": [("/a", named("a"))]}])
    assert client.get("/a").json() == "a"


def test_routes_as_a_callable_gets_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOVA_ENV", raising=False)
    seen: list[str] = []

    def routes(environment: str) -> list[Any]:
        seen.append(environment)
        path = "/debug" if environment == "dev" else "/prod"
        return [{"routes": [(path, named(environment))]}]

    default = NovaRouter(routes)
    explicit = NovaRouter(routes, environment="prod")
    monkeypatch.setenv("NOVA_ENV", "staging")
    from_env = NovaRouter(routes)
    explicit_beats_env = NovaRouter(routes, environment="test")

    assert seen == ["dev", "prod", "staging", "test"]
    assert (default.environment, explicit.environment) == ("dev", "prod")
    assert (from_env.environment, explicit_beats_env.environment) == ("staging", "test")
    assert TestClient(app_with(default)).get("/debug").json() == "dev"
    assert TestClient(app_with(explicit)).get("/prod").json() == "prod"


def test_apirouter_kwargs_are_passed_on() -> None:
    app = app_with(
        NovaRouter(
            [{"routes": [("/a", named("a"), {"methods": ["get"]})]}], prefix="/root", tags=["nova"]
        )
    )

    assert TestClient(app).get("/root/a").json() == "a"
    assert app.openapi()["paths"]["/root/a"]["get"]["tags"] == ["nova"]


def test_a_lifespan_given_to_the_router_runs_inside_its_own() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        events.append("start")
        yield {"greeting": "hello"}
        events.append("stop")

    def greet(req):
        return ("json", req.request.state.greeting)

    app = app_with(NovaRouter([{"routes": [("/g", greet)]}], lifespan=lifespan))

    with TestClient(app) as client:
        assert events == ["start"]
        assert client.get("/g").json() == "hello"
    assert events == ["start", "stop"]


# --------------------------------------------------------------------------- paths and methods


def test_bindings_are_path_parameters_in_openapi() -> None:
    app = app_with(
        NovaRouter(
            [{"prefix": "/org/:org", "routes": [("/users/:id", echo, {"methods": ["get"]})]}]
        )
    )

    operation = app.openapi()["paths"]["/org/{org}/users/{id}"]["get"]

    assert [
        (p["name"], p["in"], p["required"], p["schema"]["type"]) for p in operation["parameters"]
    ] == [
        ("org", "path", True, "string"),
        ("id", "path", True, "string"),
    ]
    assert "requestBody" not in operation
    assert TestClient(app).get("/org/o1/users/7").json()["bindings"] == {"org": "o1", "id": "7"}


def test_a_fastapi_style_controller_that_does_not_name_a_binding_still_documents_it() -> None:
    # OpenAPI requires every {name} of a path to be a declared parameter.
    def by_request(request: Request) -> Any:
        return ("json", dict(request.path_params))

    def by_alias(user_id: Annotated[int, Path(alias="id")]) -> Any:
        return ("json", user_id)

    app = app_with(
        NovaRouter(
            [
                {
                    "prefix": "/org/:org",
                    "routes": [
                        ("/raw/:id/[...]", by_request, {"methods": ["get"]}),
                        ("/typed/:id", by_alias, {"methods": ["get"]}),
                    ],
                }
            ]
        )
    )
    paths = app.openapi()["paths"]

    def params(path: str) -> list[tuple[str, str, str]]:
        operation = paths[path]["get"]
        return [(p["name"], p["in"], p["schema"]["type"]) for p in operation["parameters"]]

    assert params("/org/{org}/raw/{id}/{pathinfo}") == [
        ("org", "path", "string"),
        ("id", "path", "string"),
        ("pathinfo", "path", "string"),
    ]
    assert params("/org/{org}/typed/{id}") == [("id", "path", "integer"), ("org", "path", "string")]
    client = TestClient(app)
    assert client.get("/org/o/raw/1/a/b").json() == {"org": "o", "id": "1", "pathinfo": "a/b"}
    assert client.get("/org/o/typed/2").json() == 2


def test_bindings_are_strings_even_when_they_look_like_numbers() -> None:
    client = client_for([{"routes": [("/u/:id", echo)]}])
    assert client.get("/u/007").json()["bindings"] == {"id": "007"}


def test_default_route_answers_every_method() -> None:
    client = client_for([{"routes": [("/any", echo)]}])

    for method in ALL:
        response = client.request(method, "/any")
        assert response.status_code == (201 if method == "POST" else 200), method
        if method != "HEAD":
            assert response.json()["method"] == method


def test_default_route_documents_five_methods() -> None:
    app = app_with(NovaRouter([{"routes": [("/any", echo)]}]))

    assert set(app.openapi()["paths"]["/any"]) == {"get", "post", "put", "patch", "delete"}


def test_trace_on_a_default_route_is_405_with_every_method() -> None:
    response = client_for([{"routes": [("/any", echo)]}]).request("TRACE", "/any")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"


def test_explicit_methods_only() -> None:
    client = client_for([{"routes": [("/x", echo, {"methods": ["get", "delete"]})]}])

    assert client.get("/x").status_code == 200
    assert client.delete("/x").status_code == 200
    response = client.post("/x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, DELETE"
    assert response.json() == {"detail": "Method Not Allowed"}
    assert client.head("/x").status_code == 405  # no automatic HEAD, as in Nova


def test_405_allow_lists_methods_from_separate_entries_and_groups() -> None:
    client = client_for(
        [
            {"routes": [("/users/:id", named("show"), {"methods": ["get"]})]},
            {
                "prefix": "/users",
                "security": lambda req: True,
                "routes": [("/:uid", named("update"), {"methods": ["put", "patch"]})],
            },
            {"routes": [("/users/:id", named("delete"), {"methods": ["delete"]})]},
        ]
    )

    assert client.get("/users/1").json() == "show"
    assert client.put("/users/1").json() == "update"
    assert client.delete("/users/1").json() == "delete"
    for method in ("POST", "OPTIONS"):
        response = client.request(method, "/users/1")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, PUT, PATCH, DELETE"


def test_405_allow_for_explicit_plus_default_routes() -> None:
    client = client_for(
        [
            {
                "routes": [
                    ("/x", named("default"), {"methods": ["get"]}),
                    ("/x", named("other"), {"methods": ["post"]}),
                ]
            }
        ]
    )

    response = client.put("/x")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


def test_unknown_path_is_404() -> None:
    assert client_for([{"routes": [("/x", echo)]}]).get("/nope").status_code == 404


def test_doubled_and_trailing_slashes_in_the_table_are_ignored() -> None:
    client = client_for([{"prefix": "/api/", "routes": [("//users//:id/", echo)]}])
    assert client.get("/api/users/1").json()["bindings"] == {"id": "1"}


# --------------------------------------------------------------------------- wildcard


def test_wildcard_matches_zero_or_more_segments() -> None:
    client = client_for([{"routes": [("/files/:bucket/[...]", echo, {"methods": ["get"]})]}])

    assert client.get("/files/b/a/b/c").json()["pathinfo"] == ["a", "b", "c"]
    assert client.get("/files/b/a").json()["pathinfo"] == ["a"]
    assert client.get("/files/b/").json()["pathinfo"] == []
    bare = client.get("/files/b")
    assert bare.status_code == 200
    assert bare.json() == {"method": "GET", "bindings": {"bucket": "b"}, "pathinfo": []}


def test_wildcard_in_openapi_once() -> None:
    app = app_with(NovaRouter([{"routes": [("/files/[...]", echo, {"methods": ["get"]})]}]))

    assert list(app.openapi()["paths"]) == ["/files/{pathinfo}"]


def test_an_explicit_route_for_the_bare_path_beats_the_wildcard() -> None:
    client = client_for(
        [
            {
                "routes": [
                    ("/f/[...]", named("wild"), {"methods": ["get", "post"]}),
                    ("/f", named("bare"), {"methods": ["get"]}),
                ]
            }
        ]
    )

    assert client.get("/f").json() == "bare"
    assert client.post("/f").json() == "wild"
    assert client.get("/f/x").json() == "wild"
    response = client.put("/f")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


def test_a_binding_beside_a_wildcard() -> None:
    client = client_for(
        [
            {
                "routes": [
                    ("/f/:id", named("one"), {"methods": ["get"]}),
                    ("/f/[...]", named("many"), {"methods": ["get"]}),
                ]
            }
        ]
    )

    assert client.get("/f/1").json() == "one"
    assert client.get("/f/1/2").json() == "many"


# --------------------------------------------------------------------------- route options


class Out(BaseModel):
    id: int


def test_fastapi_options_reach_openapi() -> None:
    ran: list[str] = []

    def route_dep() -> None:
        ran.append("route_dep")

    app = app_with(
        NovaRouter(
            [
                {
                    "tags": ["group"],
                    "routes": [
                        (
                            "/users/:id",
                            lambda req: ("json", {"id": req.bindings["id"], "extra": 1}),
                            {
                                "methods": ["get"],
                                "summary": "Show a user",
                                "description": "Long text.",
                                "tags": ["users"],
                                "status_code": 203,
                                "responses": {404: {"description": "No such user"}},
                                "deprecated": True,
                                "name": "user_show",
                                "dependencies": [Depends(route_dep)],
                                "response_model": Out,
                            },
                        ),
                        (
                            "/hidden",
                            named("hidden"),
                            {"methods": ["get"], "include_in_schema": False},
                        ),
                    ],
                }
            ]
        )
    )
    client = TestClient(app)

    schema = app.openapi()
    operation = schema["paths"]["/users/{id}"]["get"]
    assert operation["summary"] == "Show a user"
    assert operation["description"] == "Long text."
    assert operation["tags"] == ["group", "users"]
    assert operation["deprecated"] is True
    # A Nova-style controller whose only input is a binding can send no 422: none documented.
    assert set(operation["responses"]) == {"203", "404"}
    assert operation["responses"]["404"]["description"] == "No such user"
    assert operation["responses"]["203"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Out"
    }
    assert "/hidden" not in schema["paths"]
    assert app.url_path_for("user_show", id="3") == "/users/3"

    response = client.get("/users/3")
    assert response.status_code == 203  # status_code is the default for ("json", data)
    assert response.json() == {"id": 3}  # and response_model shaped the payload
    assert ran == ["route_dep"]
    assert client.get("/hidden").json() == "hidden"


def test_status_code_option_does_not_override_explicit_statuses() -> None:
    client = client_for(
        [
            {
                "routes": [
                    ("/s", lambda req: ("status", 204), {"methods": ["post"], "status_code": 202}),
                    (
                        "/j",
                        lambda req: ("json", 409, {}, {}),
                        {"methods": ["post"], "status_code": 202},
                    ),
                ]
            }
        ]
    )

    assert client.post("/s").status_code == 204
    assert client.post("/j").status_code == 409


def test_group_tags_and_dependencies() -> None:
    ran: list[str] = []
    app = app_with(
        NovaRouter(
            [
                {
                    "tags": ["g"],
                    "dependencies": [lambda: ran.append("dep")],
                    "routes": [("/a", named("a"), {"methods": ["get"]})],
                }
            ]
        )
    )

    assert app.openapi()["paths"]["/a"]["get"]["tags"] == ["g"]
    assert TestClient(app).get("/a").json() == "a"
    assert ran == ["dep"]


# --------------------------------------------------------------------------- status pages


def not_found_page(req):
    return (
        "json",
        404,
        {"x-page": "404"},
        {"error": "not found", "path": req.path, "status": req.status_code},
    )


def test_status_page_answers_status_returns() -> None:
    seen: list[NovaRequest] = []

    def page(req):
        seen.append(req)
        return not_found_page(req)

    client = client_for(
        [
            {
                "routes": [
                    ("/items/:id", lambda req: ("status", 404), {"methods": ["get"]}),
                    (404, page, {}),
                ]
            }
        ]
    )

    response = client.get("/items/9")

    assert response.status_code == 404
    assert response.headers["x-page"] == "404"
    assert response.json() == {"error": "not found", "path": "/items/9", "status": 404}
    assert seen[0].status_code == 404 and seen[0].bindings == {"id": "9"}


def test_status_page_keeps_the_headers_of_the_status_return() -> None:
    client = client_for(
        [
            {
                "routes": [
                    ("/x", lambda req: ("status", 404, {"x-from": "ctrl"}), {"methods": ["get"]}),
                    (404, not_found_page, {}),
                ]
            }
        ]
    )

    response = client.get("/x")

    assert response.headers["x-from"] == "ctrl"
    assert response.headers["x-page"] == "404"


def test_status_with_a_body_is_not_replaced_by_the_page() -> None:
    client = client_for(
        [
            {
                "routes": [
                    ("/x", lambda req: ("status", 404, {}, {"own": True}), {"methods": ["get"]}),
                    (404, not_found_page, {}),
                ]
            }
        ]
    )

    assert client.get("/x").json() == {"own": True}


def test_status_page_answers_http_exceptions_in_both_styles() -> None:
    def nova(req):
        raise HTTPException(status_code=404, headers={"x-exc": "1"})

    async def fastapi_style(id: int) -> Any:
        raise HTTPException(status_code=404)

    client = client_for(
        [
            {"routes": [("/nova", nova, {"methods": ["get"]})]},
            {
                "prefix": "/b",
                "routes": [
                    ("/fa/:id", fastapi_style, {"methods": ["get"]}),
                    (404, not_found_page, {}),
                ],
            },
        ]
    )

    nova_response = client.get("/nova")
    assert nova_response.json() == {"error": "not found", "path": "/nova", "status": 404}
    assert nova_response.headers["x-exc"] == "1"
    assert client.get("/b/fa/1").json()["path"] == "/b/fa/1"


def test_status_page_answers_a_status_a_page_may_return_itself() -> None:
    client = client_for(
        [
            {
                "routes": [
                    ("/x", lambda req: ("status", 410), {"methods": ["get"]}),
                    (410, lambda req: ("status", 410), {}),  # must not recurse
                ]
            }
        ]
    )

    response = client.get("/x")

    assert response.status_code == 410
    assert response.content == b""


def test_status_page_for_a_view(tmp_path: Any) -> None:
    (tmp_path / "gone.html").write_text("<h1>gone {{ code }}</h1>")
    client = client_for(
        [
            {
                "routes": [
                    ("/x", lambda req: ("status", 410), {"methods": ["get"]}),
                    (410, lambda req: ("ok", {"code": req.status_code}, {"view": "gone"}), {}),
                ]
            }
        ],
        templates=tmp_path,
    )

    response = client.get("/x")

    assert response.status_code == 410  # the page's code, not the view's default 200
    assert response.text == "<h1>gone 410</h1>"


def test_500_page_answers_a_raising_controller(caplog: pytest.LogCaptureFixture) -> None:
    def boom(req):
        raise RuntimeError("kaput")

    client = client_for(
        [
            {
                "routes": [
                    ("/boom", boom, {"methods": ["get"]}),
                    (
                        500,
                        lambda req: (
                            "json",
                            500,
                            {},
                            {"error": "server", "status": req.status_code},
                        ),
                        {},
                    ),
                ]
            }
        ]
    )

    response = client.get("/boom")

    assert response.status_code == 500
    assert response.json() == {"error": "server", "status": 500}
    assert "kaput" in caplog.text


def test_500_page_answers_an_invalid_return() -> None:
    client = client_for(
        [
            {
                "routes": [
                    ("/bad", lambda req: ("nope",), {"methods": ["get"]}),
                    (500, lambda req: ("json", 500, {}, {"page": 500}), {}),
                ]
            }
        ]
    )

    assert client.get("/bad").json() == {"page": 500}


def test_status_pages_for_405_and_400() -> None:
    client = client_for(
        [
            {
                "routes": [
                    ("/x", echo, {"methods": ["post"]}),
                    (405, lambda req: ("json", 405, {}, {"page": 405}), {}),
                    (400, lambda req: ("json", 400, {}, {"page": 400}), {}),
                ]
            }
        ]
    )

    not_allowed = client.get("/x")
    assert not_allowed.json() == {"page": 405}
    assert not_allowed.headers["allow"] == "POST"
    bad = client.post("/x", content=b"{", headers={"content-type": "application/json"})
    assert bad.json() == {"page": 400}


def test_status_pages_do_not_replace_security_denials() -> None:
    client = client_for(
        [
            {
                "security": lambda req: False,
                "routes": [
                    ("/x", echo),
                    (401, lambda req: ("json", 401, {}, {"page": 401}), {}),
                ],
            }
        ]
    )

    response = client.get("/x")

    assert response.status_code == 401
    assert response.content == b""  # the security table: 401, empty body


def test_status_pages_belong_to_the_router() -> None:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": [(404, not_found_page, {})]}]))

    @app.get("/plain")
    def plain() -> Any:
        raise HTTPException(status_code=404)

    client = TestClient(app)

    assert client.get("/plain").json() == {"detail": "Not Found"}
    assert client.get("/no/route").json() == {"detail": "Not Found"}


# --------------------------------------------------------------------------- include_router


def test_include_with_prefix_and_dependencies() -> None:
    ran: list[str] = []

    def include_dep() -> None:
        ran.append("include")

    router = NovaRouter(
        [
            {
                "security": lambda req: (True, "u"),
                "routes": [
                    (
                        "/u/:id",
                        lambda req: ("json", [req.bindings, req.auth_data]),
                        {"methods": ["get"]},
                    ),
                ],
            }
        ]
    )
    app = app_with(router, prefix="/v1", dependencies=[Depends(include_dep)], tags=["v1"])
    client = TestClient(app)

    assert client.get("/v1/u/1").json() == [{"id": "1"}, "u"]
    assert ran == ["include"]
    assert client.get("/u/1").status_code == 404
    assert app.openapi()["paths"]["/v1/u/{id}"]["get"]["tags"] == ["v1"]


def test_include_dependency_that_raises_denies() -> None:
    def deny() -> None:
        raise HTTPException(status_code=403)

    router = NovaRouter([{"routes": [("/a", named("a"))]}])
    client = TestClient(app_with(router, dependencies=[Depends(deny)]))

    assert client.get("/a").status_code == 403


def test_405_through_an_include_prefix() -> None:
    router = NovaRouter([{"routes": [("/a", named("a"), {"methods": ["get"]})]}])
    client = TestClient(app_with(router, prefix="/v1"))

    response = client.post("/v1/a")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


# --------------------------------------------------------------------------- the lean path


@pytest.fixture
def solve_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Counts FastAPI's per-request parameter solving (the general path)."""
    calls: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["request"].url.path)
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", spy)
    yield calls


def nova_security(req):
    if req.headers.get("x-deny") == "redirect":
        return ("redirect", "/login")
    if req.headers.get("x-deny"):
        return (False, 403, {"x-denied": "yes"}, {"denied": req.headers["x-deny"]})
    return (True, {"user": req.headers.get("x-user", "anon")})


def nova_show(req):
    return (
        "json",
        {
            "bindings": req.bindings,
            "qs": req.parsed_qs,
            "auth": req.auth_data,
            "json": req.json,
            "params": req.params,
            "method": req.method,
            "pathinfo": req.pathinfo,
        },
    )


def nova_raise(req):
    raise HTTPException(status_code=404)


def unrelated() -> None:
    return None  # pragma: no cover - only used as a dependency_overrides key


def lean_test_app() -> FastAPI:
    return app_with(
        NovaRouter(
            [
                {
                    "routes": [
                        ("/open/:id", nova_show, {"methods": ["get", "post"]}),
                        ("/any", nova_show),
                        ("/files/[...]", nova_show, {"methods": ["get"]}),
                        ("/invalid", lambda req: ("unknown",), {"methods": ["get"]}),
                        ("/missing", nova_raise, {"methods": ["get"]}),
                        ("/gone", lambda req: ("status", 404), {"methods": ["get"]}),
                        (404, lambda req: ("json", 404, {}, {"page": req.path}), {}),
                    ]
                },
                {
                    "prefix": "/secure",
                    "security": nova_security,
                    "routes": [
                        ("/items/:id", nova_show, {"methods": ["get", "post", "delete"]}),
                    ],
                },
            ]
        )
    )


LEAN_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/open/42?x=1&y=2", {}),
    ("POST", "/open/42", {"json": {"a": [1, 2]}}),
    ("POST", "/open/42", {"content": b"{bad", "headers": {"content-type": "application/json"}}),
    ("POST", "/open/42", {"data": {"f": "v"}}),
    ("PUT", "/open/42", {}),
    ("HEAD", "/any", {}),
    ("OPTIONS", "/any", {}),
    ("TRACE", "/any", {}),
    ("GET", "/files/a/b", {}),
    ("GET", "/files", {}),
    ("GET", "/invalid", {}),
    ("GET", "/missing", {}),
    ("GET", "/gone", {}),
    ("GET", "/secure/items/1", {"headers": {"x-user": "ann"}}),
    ("POST", "/secure/items/1", {"json": [1], "headers": {"x-user": "ann"}}),
    (
        "POST",
        "/secure/items/1",
        {"content": b"{", "headers": {"content-type": "application/json", "x-deny": "bad"}},
    ),
    ("POST", "/secure/items/1", {"content": b"{", "headers": {"content-type": "application/json"}}),
    ("GET", "/secure/items/1", {"headers": {"x-deny": "redirect"}}),
    ("PATCH", "/secure/items/1", {"headers": {"x-deny": "bad"}}),
]


def answer(client: TestClient, method: str, path: str, kwargs: dict[str, Any]) -> Any:
    response = client.request(method, path, follow_redirects=False, **kwargs)
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    return response.status_code, headers, response.content


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), LEAN_REQUESTS, ids=[f"{m} {p}" for m, p, _ in LEAN_REQUESTS]
)
def test_lean_and_general_paths_answer_identically(
    method: str, path: str, kwargs: dict[str, Any], solve_calls: list[str]
) -> None:
    lean_app = lean_test_app()
    general_app = lean_test_app()
    general_app.dependency_overrides[unrelated] = lambda: None

    lean = answer(TestClient(lean_app, raise_server_exceptions=False), method, path, kwargs)
    assert solve_calls == []  # really the lean path
    general = answer(TestClient(general_app, raise_server_exceptions=False), method, path, kwargs)
    if lean[0] != 405:  # 405 is answered before any handler runs
        assert solve_calls, "the general path was not taken"

    assert lean == general


def test_lean_and_general_openapi_are_identical() -> None:
    general_app = lean_test_app()
    general_app.dependency_overrides[unrelated] = lambda: None

    assert lean_test_app().openapi() == general_app.openapi()


def test_lean_path_is_taken_for_nova_style_routes(solve_calls: list[str]) -> None:
    client = TestClient(lean_test_app())

    assert client.get("/open/1").status_code == 200
    assert client.get("/secure/items/1").status_code == 200
    assert solve_calls == []


@pytest.mark.parametrize(
    "variant",
    [
        "fastapi-controller",
        "fastapi-security",
        "plugins",
        "group-dependencies",
        "route-dependencies",
        "include-dependencies",
        "app-dependencies",
        "overrides",
    ],
)
def test_general_path_when_fastapi_must_solve_something(
    variant: str, solve_calls: list[str]
) -> None:
    key = APIKeyHeader(name="x-key", auto_error=False)

    def fastapi_security(k: str | None = Depends(key)) -> Any:
        return True

    async def fastapi_controller(id: str) -> Any:
        return ("json", id)

    def noop() -> None:
        return None

    group: dict[str, Any] = {"routes": [("/x/:id", nova_show, {"methods": ["get"]})]}
    include: dict[str, Any] = {}
    app_kwargs: dict[str, Any] = {}
    if variant == "fastapi-controller":
        group["routes"] = [("/x/:id", fastapi_controller, {"methods": ["get"]})]
    elif variant == "fastapi-security":
        group["security"] = fastapi_security
    elif variant == "plugins":
        group["plugins"] = [noop]
    elif variant == "group-dependencies":
        group["dependencies"] = [noop]
    elif variant == "route-dependencies":
        group["routes"] = [("/x/:id", nova_show, {"methods": ["get"], "dependencies": [noop]})]
    elif variant == "include-dependencies":
        include["dependencies"] = [Depends(noop)]
    elif variant == "app-dependencies":
        app_kwargs["dependencies"] = [Depends(noop)]
    app = FastAPI(**app_kwargs)
    app.include_router(NovaRouter([group]), **include)
    if variant == "overrides":
        app.dependency_overrides[unrelated] = lambda: None

    assert TestClient(app).get("/x/1").status_code == 200
    assert solve_calls == ["/x/1"]


def test_one_router_included_twice_is_lean_only_where_eligible(solve_calls: list[str]) -> None:
    ran: list[str] = []
    router = NovaRouter([{"routes": [("/a", named("a"), {"methods": ["get"]})]}])
    app = FastAPI()
    app.include_router(router, prefix="/lean")
    app.include_router(router, prefix="/checked", dependencies=[Depends(lambda: ran.append("x"))])
    client = TestClient(app)

    assert client.get("/lean/a").json() == "a"
    assert solve_calls == []
    assert client.get("/checked/a").json() == "a"
    assert solve_calls == ["/checked/a"]
    assert ran == ["x"]


def test_nested_routers_keep_the_lean_path(solve_calls: list[str]) -> None:
    outer = fastapi.APIRouter(prefix="/outer")
    outer.include_router(NovaRouter([{"routes": [("/a/:id", echo, {"methods": ["get"]})]}]))
    app = FastAPI()
    app.include_router(outer)

    assert TestClient(app).get("/outer/a/1").json()["bindings"] == {"id": "1"}
    assert solve_calls == []
