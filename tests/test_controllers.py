"""@controller and fallbacks: tuples to responses, signatures kept, invalid returns never 200."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel
from starlette.requests import Request
from starlette.testclient import TestClient

from fastapi_nova import AuthData, NovaRequest, NovaRouter, controller
from tests.apps import (
    bad_fallback_controllers,
    fallback_controllers,
    my_fallback,
    no_fallback_controllers,
)

APPS = Path(my_fallback.__file__).parent


@pytest.fixture(autouse=True)
def clear_fallback_calls() -> Iterator[None]:
    my_fallback.calls.clear()
    yield
    my_fallback.calls.clear()


def router_client(routes: list[Any], **group: Any) -> TestClient:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": routes, **group}], templates=APPS / "templates"))
    return TestClient(app, raise_server_exceptions=False)


def errors(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


# --------------------------------------------------------------------------- the decorator


class Item(BaseModel):
    name: str
    price: float = 0


def current_user(token: str = Query("anon")) -> str:
    return f"user:{token}"


def test_decorator_on_an_async_function() -> None:
    app = FastAPI()

    @app.get("/hello/{name}")
    @controller
    async def hello(name: str) -> Any:
        return ("json", {"hello": name})

    response = TestClient(app).get("/hello/ann")

    assert response.status_code == 200
    assert response.json() == {"hello": "ann"}


def test_decorator_on_a_sync_function_runs_it_in_the_threadpool() -> None:
    import threading

    app = FastAPI()
    threads: list[str] = []

    @app.post("/items")
    @controller
    def create(item: Item) -> Any:
        threads.append(threading.current_thread().name)
        return ("json", item)

    response = TestClient(app).post("/items", json={"name": "pen", "price": 2.5})

    assert response.status_code == 201
    assert response.json() == {"name": "pen", "price": 2.5}
    assert threads and threads[0] != threading.main_thread().name


def test_decorator_keeps_path_query_body_and_depends() -> None:
    app = FastAPI()

    @app.put("/items/{item_id}")
    @controller
    async def update(
        item_id: int,
        item: Item,
        user: Annotated[str, Depends(current_user)],
        verbose: bool = False,
    ) -> Any:
        return ("json", {"id": item_id, "item": item, "user": user, "verbose": verbose})

    client = TestClient(app)

    response = client.put("/items/3?verbose=true&token=t1", json={"name": "pen"})
    assert response.json() == {
        "id": 3,
        "item": {"name": "pen", "price": 0},
        "user": "user:t1",
        "verbose": True,
    }
    assert client.put("/items/x", json={"name": "pen"}).status_code == 422
    assert client.put("/items/3", json={"price": 1}).status_code == 422  # body model kept


def test_decorator_keeps_the_function_identity() -> None:
    async def documented(x: int) -> Any:
        """Say hello."""
        return ("json", x)

    wrapped = controller(documented)

    assert wrapped.__name__ == "documented"
    assert wrapped.__doc__ == "Say hello."
    assert wrapped.__module__ == documented.__module__


def test_decorator_openapi_shows_params_and_no_tuple_response_model() -> None:
    app = FastAPI()

    @app.put("/items/{item_id}")
    @controller
    def update(
        item_id: int,
        item: Item,
        user: Annotated[str, Depends(current_user)],
        verbose: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        return ("json", {})

    operation = app.openapi()["paths"]["/items/{item_id}"]["put"]
    params = {(p["name"], p["in"]) for p in operation["parameters"]}

    assert params == {("item_id", "path"), ("verbose", "query"), ("token", "query")}
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item"
    }
    # No response model read from the tuple return annotation: an empty schema.
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {}
    assert "prefixItems" not in str(app.openapi())
    assert "_nova_request_" not in str(operation)


def test_decorator_keeps_a_request_parameter_the_user_declared() -> None:
    app = FastAPI()

    @app.get("/r")
    @controller
    async def r(request: Request) -> Any:
        return ("json", {"path": request.url.path})

    assert TestClient(app).get("/r").json() == {"path": "/r"}


def test_decorator_with_auth_data_under_a_router() -> None:
    async def show(id: int, user: AuthData) -> Any:
        return ("json", {"id": id, "user": user})

    client = router_client(
        [("/items/:id", show, {"methods": ["get"]})],
        security=lambda req: (True, {"name": "ann"}),
    )

    assert client.get("/items/4").json() == {"id": 4, "user": {"name": "ann"}}


def test_auth_data_is_none_without_security() -> None:
    app = FastAPI()

    @app.get("/a")
    @controller
    def a(user: AuthData) -> Any:
        return ("json", {"user": user})

    assert TestClient(app).get("/a").json() == {"user": None}


def test_nova_style_function_under_the_decorator() -> None:
    app = FastAPI()

    @app.post("/n/{id}")
    @controller
    def n(req: NovaRequest) -> Any:
        return ("json", {"id": req.bindings["id"], "json": req.json})

    response = TestClient(app).post("/n/9", json=[1])

    assert response.status_code == 201
    assert response.json() == {"id": "9", "json": [1]}


def test_decorator_options_form() -> None:
    app = FastAPI()

    @app.get("/x")
    @controller()
    def x() -> Any:
        return ("json", "plain")

    assert TestClient(app).get("/x").json() == "plain"


def test_http_exception_from_a_controller_keeps_fastapi_behaviour() -> None:
    app = FastAPI()

    @app.get("/x")
    @controller
    def x() -> Any:
        raise HTTPException(status_code=409, detail="conflict")

    response = TestClient(app).get("/x")

    assert response.status_code == 409
    assert response.json() == {"detail": "conflict"}


# --------------------------------------------------------------------------- fallbacks


def test_module_fallback_answers_an_unknown_tag() -> None:
    client = router_client([("/u/:id", fallback_controllers.unknown_tag)])

    response = client.get("/u/7")

    assert response.status_code == 502
    assert response.headers["x-fallback"] == "my_fallback"
    assert response.json() == {"invalid": "('nope', '7')"}
    req, invalid = my_fallback.calls[0]
    assert isinstance(req, NovaRequest) and req.bindings == {"id": "7"}
    assert invalid == ("nope", "7")


@pytest.mark.parametrize(
    ("ctrl", "invalid"),
    [
        (fallback_controllers.non_tuple, {"not": "a tuple"}),
        (fallback_controllers.wrong_arity, ("json", 200, {})),
    ],
    ids=["non-tuple", "wrong-arity"],
)
def test_module_fallback_answers_non_tuples_and_wrong_shapes(
    ctrl: Callable[..., Any], invalid: Any
) -> None:
    client = router_client([("/x", ctrl)])

    response = client.get("/x")

    assert response.status_code == 502
    assert response.json() == {"invalid": repr(invalid)}


def test_module_fallback_for_a_fastapi_style_controller() -> None:
    client = router_client([("/f/:id", fallback_controllers.fastapi_style)])

    response = client.get("/f/5")

    assert response.status_code == 502
    assert response.json() == {"invalid": "('nope', 5)"}
    assert isinstance(my_fallback.calls[0][0], NovaRequest)


def test_module_fallback_on_a_plain_decorated_route() -> None:
    app = FastAPI()
    app.get("/f/{id}")(controller(fallback_controllers.fastapi_style))

    response = TestClient(app).get("/f/6")

    assert response.status_code == 502
    assert response.json() == {"invalid": "('nope', 6)"}


def test_valid_returns_do_not_call_the_fallback() -> None:
    client = router_client([("/g", fallback_controllers.good)])

    assert client.get("/g").json() == {"good": True}
    assert my_fallback.calls == []


def test_fallback_views_are_named_after_the_fallback_module() -> None:
    client = router_client([("/r", fallback_controllers.render)])

    response = client.get("/r")

    assert response.status_code == 200
    assert response.text == "<i>from fallback</i>"


def test_decorator_fallback_wins_over_the_module_one() -> None:
    app = FastAPI()

    @app.get("/d")
    @controller(fallback=fallback_controllers.OwnFallback)
    def d() -> Any:
        return ("nope",)

    response = TestClient(app).get("/d")

    assert response.status_code == 203  # OwnFallback's async resolve, not my_fallback
    assert response.json() == {"own": "('nope',)"}
    assert my_fallback.calls == []


def test_decorated_controller_in_a_route_table_keeps_its_fallback() -> None:
    client = router_client([("/dec/:id", fallback_controllers.decorated, {"methods": ["get"]})])

    response = client.get("/dec/3")

    assert response.status_code == 203
    assert response.json() == {"own": "('nope', '3')"}
    assert my_fallback.calls == []


def test_decorated_controller_in_a_route_table_is_a_route_like_any_other() -> None:
    @controller
    def not_found(req):
        return ("status", 404)

    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "routes": [
                        ("/dec/:id", fallback_controllers.decorated, {"methods": ["get"]}),
                        ("/nf", not_found, {"methods": ["get"]}),
                        (404, lambda req: ("json", 404, {}, {"page": req.status_code}), {}),
                    ]
                }
            ]
        )
    )
    client = TestClient(app)

    params = app.openapi()["paths"]["/dec/{id}"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in params] == [("id", "path")]
    assert client.get("/nf").json() == {"page": 404}  # the router's status page


def test_async_resolve_on_a_plain_object() -> None:
    class Resolver:
        def __init__(self) -> None:
            self.seen: list[Any] = []

        async def resolve(self, req: NovaRequest, invalid_return: Any) -> Any:
            self.seen.append((req.path, invalid_return))
            return ("status", 500, {}, {"error": "internal server error"})

    resolver = Resolver()
    app = FastAPI()

    @app.get("/o")
    @controller(fallback=resolver)
    async def o() -> Any:
        return ["a", "list"]

    response = TestClient(app).get("/o")

    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}
    assert resolver.seen == [("/o", ["a", "list"])]


# --------------------------------------------------------------------------- every 500 path


@pytest.mark.parametrize(
    ("ctrl", "value", "logged"),
    [
        (no_fallback_controllers.unknown_tag, "('nope', 1)", "no fallback_controller"),
        (no_fallback_controllers.non_tuple, "'just a string'", "no fallback_controller"),
        (no_fallback_controllers.wrong_arity, "('redirect', '/a', '/b')", "no fallback_controller"),
        (no_fallback_controllers.empty_tuple, "()", "no fallback_controller"),
        (no_fallback_controllers.none, "None", "no fallback_controller"),
        (bad_fallback_controllers.unknown_tag, "('nope', 2)", "<NoResolve> has no resolve"),
        (fallback_controllers.invalid_again, "('again',)", "('still', 'invalid'), also invalid"),
        (fallback_controllers.fallback_raises, "('explode',)", "my_fallback.resolve raised"),
    ],
    ids=[
        "no-fallback-unknown-tag",
        "no-fallback-non-tuple",
        "no-fallback-wrong-arity",
        "no-fallback-empty-tuple",
        "no-fallback-none",
        "fallback-without-resolve",
        "fallback-returns-invalid",
        "resolve-raises",
    ],
)
def test_invalid_returns_answer_500_and_log_controller_and_value(
    ctrl: Callable[..., Any], value: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = router_client([("/bad", ctrl)])

    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        response = client.get("/bad")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    logs = errors(caplog)
    assert f"{ctrl.__module__}.{ctrl.__qualname__}" in logs
    assert value in logs
    assert logged in logs


def test_resolve_that_raises_logs_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    client = router_client([("/bad", fallback_controllers.fallback_raises)])

    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        client.get("/bad")

    record = next(r for r in caplog.records if r.levelno >= logging.ERROR)
    assert record.exc_info is not None
    assert "fallback exploded" in str(record.exc_info[1])


@pytest.mark.parametrize("value", [("nope", 1), "text", ("json",), None])
def test_invalid_returns_on_a_plain_route_without_fallback_are_500(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()

    @app.get("/p")
    @controller
    def plain_invalid() -> Any:
        return value

    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        response = TestClient(app).get("/p")

    assert response.status_code == 500
    assert "plain_invalid" in errors(caplog)
    assert repr(value) in errors(caplog)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_controller_that_raises_is_500_and_the_server_survives(is_async: bool) -> None:
    def boom(req):
        raise RuntimeError("boom")

    async def aboom(req):
        raise RuntimeError("boom")

    client = router_client(
        [("/boom", aboom if is_async else boom), ("/ok", lambda req: ("json", "fine"))]
    )

    response = client.get("/boom")

    assert response.status_code == 500
    assert client.get("/ok").json() == "fine"


def test_controller_that_raises_on_a_plain_route_is_500() -> None:
    app = FastAPI()

    @app.get("/boom")
    @controller
    async def boom() -> Any:
        raise ValueError("bad")

    client = TestClient(app, raise_server_exceptions=False)

    assert client.get("/boom").status_code == 500
