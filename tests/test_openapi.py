"""OpenAPI tells the truth: what a route documents is what it answers (fastapi_nova/openapi.py).

Each test builds a small app, reads its OpenAPI document and calls the route, checking the
answer against the document; the last one runs schemathesis against the example app on a
real uvicorn.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.responses import Response
from starlette.testclient import TestClient

from fastapi_nova import HandlerRegistry, NovaRequest, NovaRouter, RouteConfigError
from tests.support.servers import uvicorn_server


class Item(BaseModel):
    id: int
    name: str


def app_with(groups: Any, **router_kwargs: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(NovaRouter(groups, **router_kwargs))
    return app


def operation(app: FastAPI, path: str, method: str = "get") -> dict[str, Any]:
    return app.openapi()["paths"][path][method]  # type: ignore[no-any-return]


def assert_documented(app: FastAPI, path: str, method: str, response: Any) -> None:
    """The answer's status is documented, with its media type (or no body if none is)."""
    responses = operation(app, path, method)["responses"]
    key = str(response.status_code)
    assert key in responses or "default" in responses, (key, list(responses))
    documented = responses.get(key, responses.get("default", {}))
    content_type = response.headers.get("content-type", "").split(";")[0]
    media = set(documented.get("content", {}))
    if media and not (response.content == b"" and "empty body" in documented["description"]):
        assert content_type in media, (content_type, media)
    elif not media:
        assert response.content == b"", response.content


# --------------------------------------------------------------------------- statuses


def test_post_json_documents_the_201_it_answers() -> None:
    def create(req: NovaRequest) -> tuple[Literal["json"], Item]:
        return ("json", Item(id=1, name="a"))

    app = app_with([{"routes": [("/items", create, {"methods": ["post", "put"]})]}])
    post = operation(app, "/items", "post")
    assert "200" not in post["responses"]
    assert post["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item"
    }
    assert set(operation(app, "/items", "put")["responses"]) >= {"200"}
    client = TestClient(app)
    for method in ("post", "put"):
        response = client.request(method, "/items")
        assert response.status_code == (201 if method == "post" else 200)
        assert_documented(app, "/items", method, response)


def test_the_status_code_option_wins_over_201() -> None:
    def create(req: NovaRequest) -> tuple[Literal["json"], dict[str, int]]:
        return ("json", {"id": 1})

    app = app_with([{"routes": [("/x", create, {"methods": ["post"], "status_code": 202})]}])
    assert set(operation(app, "/x", "post")["responses"]) == {"202", "400"}
    response = TestClient(app).post("/x")
    assert response.status_code == 202
    assert_documented(app, "/x", "post", response)


def test_an_undeclared_post_documents_both_200_and_201() -> None:
    """Without an annotation the router cannot know; a POST json return answers 201."""

    def create(req):
        return ("json", {"id": 1})

    app = app_with([{"routes": [("/x", create, {"methods": ["post"]})]}])
    responses = operation(app, "/x", "post")["responses"]
    assert {"200", "201"} <= set(responses)
    assert_documented(app, "/x", "post", TestClient(app).post("/x"))


# --------------------------------------------------------------------------- media types


def test_each_builtin_handler_documents_its_media_type(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>{{ name }}</p>")

    def page(req: NovaRequest) -> tuple[Literal["view"], dict[str, str], dict[str, str]]:
        return ("view", {"name": "ann"}, {"view": "page"})

    def gone(req: NovaRequest) -> tuple[Literal["status"], Literal[204]]:
        return ("status", 204)

    def away(req: NovaRequest) -> tuple[Literal["redirect"], str]:
        return ("redirect", "/elsewhere")

    app = app_with(
        [
            {
                "routes": [
                    ("/page", page, {"methods": ["get"]}),
                    ("/gone", gone, {"methods": ["delete"]}),
                    ("/away", away, {"methods": ["get"]}),
                    ("/heartbeat", lambda req: ("status", 200), {"returns": ("status", 200)}),
                ]
            }
        ],
        templates=[tmp_path],
    )
    assert operation(app, "/page")["responses"]["200"]["content"] == {
        "text/html": {"schema": {"type": "string"}}
    }
    assert "content" not in operation(app, "/gone", "delete")["responses"]["204"]
    assert set(operation(app, "/away")["responses"]) == {"302"}
    heartbeat = operation(app, "/heartbeat")
    assert heartbeat["responses"]["200"] == {"description": "Successful Response"}
    client = TestClient(app, follow_redirects=False)
    for path, method in (
        ("/page", "get"),
        ("/gone", "delete"),
        ("/away", "get"),
        ("/heartbeat", "get"),
    ):
        assert_documented(app, path, method, client.request(method, path))


def test_a_custom_handler_documents_the_media_type_it_was_registered_with() -> None:
    registry = HandlerRegistry()

    def xml(status: int, headers: dict[str, str], payload: Any) -> Response:
        return Response(f"<v>{payload}</v>", status, {"content-type": "application/xml"})

    registry.register("xml", xml, media_type="application/xml")

    def show(req: NovaRequest) -> tuple[Literal["xml"], str]:
        return ("xml", "x")

    app = app_with(
        [{"routes": [("/x", show, {"methods": ["get"]}), ("/y", show, {"returns": "xml"})]}],
        registry=registry,
    )
    for path in ("/x", "/y"):
        assert operation(app, path)["responses"]["200"]["content"] == {
            "application/xml": {"schema": {"type": "string"}}
        }
        assert_documented(app, path, "get", TestClient(app).get(path))


def test_a_media_type_must_look_like_one() -> None:
    registry = HandlerRegistry()
    with pytest.raises(
        ValueError, match="^media_type must be type/subtype such as 'application/xml', got 'xml'$"
    ):
        registry.register("x", lambda s, h, p: Response(), media_type="xml")
    with pytest.raises(
        TypeError, match="^media_type must be a str such as 'application/xml', got 1$"
    ):
        registry.register("x", lambda s, h, p: Response(), media_type=1)  # type: ignore[arg-type]
    assert "x" not in registry


def test_json_or_status_documents_both() -> None:
    def show(
        req: NovaRequest,
    ) -> tuple[Literal["json"], Item] | tuple[Literal["status"], Literal[404]]:
        return ("status", 404) if req.bindings["id"] != "1" else ("json", Item(id=1, name="a"))

    app = app_with([{"routes": [("/items/:id", show, {"methods": ["get"]})]}])
    responses = operation(app, "/items/{id}")["responses"]
    assert set(responses) == {"200", "404"}
    client = TestClient(app)
    for item in ("1", "2"):
        assert_documented(app, "/items/{id}", "get", client.get(f"/items/{item}"))


# --------------------------------------------------------------------------- status pages


def not_found(req: NovaRequest) -> tuple[Literal["json"], dict[str, str]]:
    return ("json", {"message": "not found"})


def test_a_status_page_documents_its_own_media_type_at_its_code() -> None:
    def show(req: NovaRequest) -> tuple[Literal["status"], Literal[404]]:
        return ("status", 404)

    def undeclared(req):
        return ("status", 404)

    app = app_with(
        [
            {
                "routes": [
                    ("/declared", show, {"methods": ["get"]}),
                    ("/undeclared", undeclared, {"methods": ["get"]}),
                    (404, not_found, {}),
                ]
            }
        ]
    )
    for path in ("/declared", "/undeclared"):
        documented = operation(app, path)["responses"]["404"]
        assert documented["description"] == "Status page (test_openapi.not_found)"
        assert "application/json" in documented["content"]
        response = TestClient(app).get(path)
        assert response.json() == {"message": "not found"}
        assert_documented(app, path, "get", response)


# --------------------------------------------------------------------------- security


def test_security_denials_are_documented() -> None:
    def plain(req):
        return req.headers.get("x-key") == "k"

    def forbidding(
        req: NovaRequest,
    ) -> Literal[True] | tuple[Literal[False], Literal[403], dict[str, str]]:
        return True if req.headers.get("x-key") == "k" else (False, 403, {})

    def ok(req: NovaRequest) -> tuple[Literal["json"], dict[str, str]]:
        return ("json", {})

    app = app_with(
        [
            {"prefix": "/a", "security": plain, "routes": [("/x", ok, {"methods": ["get"]})]},
            {"prefix": "/b", "security": forbidding, "routes": [("/x", ok, {"methods": ["get"]})]},
        ]
    )
    assert set(operation(app, "/a/x")["responses"]) == {"200", "401"}
    assert set(operation(app, "/b/x")["responses"]) == {"200", "401", "403"}
    client = TestClient(app)
    for path in ("/a/x", "/b/x"):
        for headers in ({}, {"x-key": "k"}):
            assert_documented(app, path, "get", client.get(path, headers=headers))
    assert client.get("/b/x").status_code == 403


# --------------------------------------------------------------------------- parameters


def test_bindings_are_documented_without_a_422_that_cannot_happen() -> None:
    def show(req: NovaRequest) -> tuple[Literal["json"], dict[str, str]]:
        return ("json", req.bindings)

    app = app_with([{"routes": [("/org/:org/users/:id", show, {"methods": ["get"]})]}])
    op = operation(app, "/org/{org}/users/{id}")
    assert "422" not in op["responses"]
    assert [(p["name"], p["in"], p["required"], p["schema"]) for p in op["parameters"]] == [
        ("org", "path", True, {"type": "string", "title": "Org"}),
        ("id", "path", True, {"type": "string", "title": "Id"}),
    ]
    assert TestClient(app).get("/org/o/users/7").json() == {"org": "o", "id": "7"}


def test_openapi_extra_may_describe_a_binding() -> None:
    described = {"name": "id", "in": "path", "required": True, "description": "The user's id"}
    extra = {"parameters": [described], "x-note": "kept"}
    app = app_with(
        [{"routes": [("/u/:org/:id", lambda req: ("status", 200), {"openapi_extra": extra})]}]
    )
    op = operation(app, "/u/{org}/{id}")
    assert [p["name"] for p in op["parameters"]] == ["org", "id"]
    assert op["parameters"][1] == described
    assert op["x-note"] == "kept"


def test_a_body_model_keeps_fastapis_422_and_documents_its_400() -> None:
    def create(item: Item) -> tuple[Literal["json"], Item]:
        return ("json", item)

    app = app_with([{"routes": [("/items", create, {"methods": ["post"]})]}])
    assert set(operation(app, "/items", "post")["responses"]) == {"201", "400", "422"}
    client = TestClient(app)
    for body in (b'{"id": 1, "name": "a"}', b'{"id": "x"}', b"\xff\xfe"):
        response = client.post("/items", content=body, headers={"content-type": "application/json"})
        assert_documented(app, "/items", "post", response)


def test_a_yield_endpoint_is_documented_by_fastapi_alone() -> None:
    """FastAPI streams a generator controller's items (JSON Lines): no 201 JSON is added."""

    async def ticks(count: int) -> AsyncIterator[Item]:
        for n in range(count):
            yield Item(id=n, name="tick")

    app = app_with([{"routes": [("/ticks", ticks, {"methods": ["post"]})]}])
    responses = operation(app, "/ticks", "post")["responses"]
    assert set(responses) == {"200", "422"}  # 422: the count query parameter
    assert set(responses["200"]["content"]) == {"application/jsonl"}
    response = TestClient(app).post("/ticks?count=2")
    assert response.status_code == 200
    assert_documented(app, "/ticks", "post", response)


def test_a_lambda_is_summarised_by_its_path() -> None:
    app = app_with([{"routes": [("/health/live_check", lambda req: ("status", 200))]}])
    assert operation(app, "/health/live_check")["summary"] == "Health Live Check"


# --------------------------------------------------------------------------- any return

#: A return a controller may declare: its annotation, and the value it then returns.
RETURNS = st.sampled_from(["json", "json4", "status", "status_body", "redirect", "any_status"])


def declared(kind: str, code: int) -> tuple[Any, tuple[Any, ...]]:
    if kind in ("json4", "status_body") and code == 204:
        code = 202  # a 204 has no body by definition
    if kind == "json":
        return tuple[Literal["json"], dict[str, int]], ("json", {"n": 1})
    if kind == "json4":
        ann = tuple[Literal["json"], Literal[code], dict[str, str], list[int]]  # type: ignore[valid-type]
        return ann, ("json", code, {}, [1])
    if kind == "status":
        return tuple[Literal["status"], Literal[code]], ("status", code)  # type: ignore[valid-type]
    if kind == "status_body":
        ann = tuple[Literal["status"], Literal[code], dict[str, str], dict[str, str]]  # type: ignore[valid-type]
        return ann, ("status", code, {}, {"error": "x"})
    if kind == "redirect":
        return tuple[Literal["redirect"], str], ("redirect", "/elsewhere")
    return tuple[Literal["status"], int], ("status", code)


@settings(max_examples=30, deadline=3000)
@given(
    kinds=st.lists(RETURNS, min_size=1, max_size=3, unique=True),
    codes=st.lists(st.sampled_from([200, 202, 204, 400, 404, 409, 500]), min_size=3, max_size=3),
    method=st.sampled_from(["get", "post", "put", "delete"]),
    page=st.booleans(),
)
def test_every_declared_return_is_answered_as_documented(
    kinds: list[str], codes: list[int], method: str, page: bool
) -> None:
    """Whatever mix of returns a controller declares, each one's answer is documented."""
    pairs = [declared(kind, code) for kind, code in zip(kinds, codes, strict=False)]
    annotation: Any = pairs[0][0]
    for ann, _ in pairs[1:]:
        annotation = annotation | ann

    def controller(req: NovaRequest) -> Any:
        return pairs[int(req.bindings["n"])][1]

    controller.__annotations__ = {"req": NovaRequest, "return": annotation}
    routes: list[Any] = [("/r/:n", controller, {"methods": [method]})]
    if page:
        routes.append((404, not_found, {}))
    app = app_with([{"routes": routes}])
    client = TestClient(app, follow_redirects=False)
    for n in range(len(pairs)):
        response = client.request(method, f"/r/{n}")
        assert_documented(app, "/r/{n}", method, response)


# --------------------------------------------------------------------------- the option


def test_a_bad_returns_option_names_group_and_route() -> None:
    with pytest.raises(
        RouteConfigError,
        match=r"^group 0 \(prefix ''\), route '/x': returns must be a handler name, a "
        r"\(name, status\) pair such as \('status', 200\), or a list of them; got 200$",
    ):
        NovaRouter([{"routes": [("/x", lambda req: ("status", 200), {"returns": 200})]}])


@settings(max_examples=40, deadline=2000)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner),
        max_leaves=6,
    )
)
def test_any_returns_option_builds_or_is_a_route_config_error(value: Any) -> None:
    """A ``returns`` value is accepted (and documented) or refused by name, nothing else."""
    try:
        router = NovaRouter([{"routes": [("/x", lambda req: ("status", 200), {"returns": value})]}])
    except RouteConfigError as exc:
        assert str(exc).startswith("group 0 (prefix ''), route '/x': returns ")
        return
    app = FastAPI()
    app.include_router(router)
    assert "/x" in app.openapi()["paths"]


# --------------------------------------------------------------------------- schemathesis


@pytest.mark.slow
def test_schemathesis_finds_no_failure_in_the_example_app(tmp_path: Path) -> None:
    """Every check of schemathesis, bounded (30 examples, seed 1), on a real uvicorn.

    ``/api/broken`` is left out: it answers 500 on purpose (its fallback's page).
    """
    st_cli = Path(sys.executable).with_name("st")
    with uvicorn_server("example_app.main:app", tmp_path) as server:
        run = subprocess.run(
            [
                str(st_cli),
                "run",
                f"{server.url}/openapi.json",
                "--max-examples=30",
                "--seed=1",
                "--checks=all",
                "--exclude-path=/api/broken",
                "--generation-database=none",
                "--request-timeout=10",
                "--no-color",
            ],
            cwd=tmp_path,  # its report folder goes there, not into the checkout
            capture_output=True,
            text=True,
            timeout=300,
        )
    # schemathesis exits non-zero on any failure; the summary names each one.
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "unique failure" not in run.stdout, run.stdout[-6000:]
