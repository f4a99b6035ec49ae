"""A group's security behaves like any FastAPI dependency (issue 7, items 1, 5 and 8).

* ``app.dependency_overrides[security_fn]`` replaces it, in both styles, on HTTP routes
  (the lean path and FastAPI's path) and WebSocket routes;
* ``raise HTTPException(...)`` in a Nova-style function answers what FastAPI answers;
* a Nova-style function can declare the scheme it reads (``security_scheme``) for ``/docs``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from fastapi_nova import AuthData, NovaRequest, NovaRouter, NovaWebSocket, security_scheme
from tests.support.ws import TestClient, connect, denied_status

STYLES = ["nova", "fastapi"]

api_key = APIKeyHeader(name="x-key", auto_error=False)


def nova_check(req: NovaRequest) -> Any:
    return (True, {"user": "real"}) if req.headers.get("x-key") == "real" else False


def fastapi_check(key: Annotated[str | None, Depends(api_key)]) -> Any:
    return (True, {"user": "real"}) if key == "real" else False


CHECKS: dict[str, Callable[..., Any]] = {"nova": nova_check, "fastapi": fastapi_check}


class Who(NovaWebSocket):
    """Sends who security let in, then closes."""

    async def init(self, state: dict[str, Any]) -> Any:
        return ("ok", state)

    async def websocket_handle(self, frame: Any, state: dict[str, Any]) -> Any:
        return ("reply", ("text", str(state.get("auth_data"))), state)


async def fastapi_style(user: AuthData) -> Any:
    return ("json", {"auth": user})


def make_app(security: Callable[..., Any]) -> FastAPI:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "security": security,
                    "routes": [
                        (
                            "/lean",
                            lambda req: ("json", {"auth": req.auth_data}),
                            {"methods": ["get"]},
                        ),
                        ("/full", fastapi_style, {"methods": ["get"]}),
                        ("/ws", Who, {"protocol": "ws"}),
                    ],
                }
            ]
        )
    )
    return app


# --------------------------------------------------------------------------- overrides

#: Replacements a test may write: Nova-style, no parameters, or a FastAPI signature.
REPLACEMENTS: dict[str, Callable[..., Any]] = {
    "nova": lambda req: (True, {"user": "test"}),
    "no-params": lambda: (True, {"user": "test"}),
}


def fastapi_replacement(x_test: Annotated[str, Header()]) -> Any:
    return (True, {"user": x_test})


REPLACEMENTS["fastapi"] = fastapi_replacement


#: A FastAPI-style function's override is solved by FastAPI itself, as any override is: a
#: Nova-style ``lambda req: ...`` would read ``req`` as a query parameter there.
OVERRIDE_CASES = [
    (style, replacement)
    for style in STYLES
    for replacement in sorted(REPLACEMENTS)
    if (style, replacement) != ("fastapi", "nova")
]


@pytest.mark.parametrize(("style", "replacement"), OVERRIDE_CASES)
@pytest.mark.parametrize("path", ["/lean", "/full"])
def test_dependency_overrides_replace_a_groups_security(
    style: str, replacement: str, path: str
) -> None:
    app = make_app(CHECKS[style])
    client = TestClient(app)
    assert client.get(path).status_code == 401  # the real function denies

    app.dependency_overrides[CHECKS[style]] = REPLACEMENTS[replacement]
    response = client.get(path, headers={"x-test": "test"})

    assert response.status_code == 200, response.text
    assert response.json() == {"auth": {"user": "test"}}
    app.dependency_overrides.clear()
    assert client.get(path).status_code == 401


@pytest.mark.parametrize("style", STYLES)
def test_dependency_overrides_replace_a_groups_security_on_websocket_routes(style: str) -> None:
    app = make_app(CHECKS[style])
    client = TestClient(app)
    assert denied_status(client, "/ws") == 401

    app.dependency_overrides[CHECKS[style]] = lambda: (True, "tester")
    with connect(client, "/ws") as ws:
        ws.send_text("who?")
        assert ws.receive_text() == "tester"


def test_an_override_that_denies_denies() -> None:
    app = make_app(nova_check)
    app.dependency_overrides[nova_check] = lambda req: (False, 403, {"x-why": "test"})

    response = TestClient(app).get("/lean", headers={"x-key": "real"})

    assert response.status_code == 403 and response.headers["x-why"] == "test"


def test_an_override_with_a_bad_fastapi_signature_is_fastapis_422() -> None:
    app = make_app(nova_check)
    app.dependency_overrides[nova_check] = fastapi_replacement

    response = TestClient(app).get("/lean")  # no x-test header

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "x-test"]


# --------------------------------------------------------------------------- HTTPException


def nova_raises(req: NovaRequest) -> Any:
    raise HTTPException(401, "token expired", headers={"WWW-Authenticate": "Bearer"})


def fastapi_raises() -> Any:
    raise HTTPException(401, "token expired", headers={"WWW-Authenticate": "Bearer"})


def plain_fastapi_answer() -> tuple[int, dict[str, str], bytes]:
    """What plain FastAPI answers for that exception raised by a dependency."""
    app = FastAPI()

    @app.get("/r", dependencies=[Depends(fastapi_raises)])
    def r() -> int:
        return 1

    response = TestClient(app).get("/r")
    return response.status_code, dict(response.headers), response.content


@pytest.mark.parametrize("security", [nova_raises, fastapi_raises], ids=STYLES)
@pytest.mark.parametrize("path", ["/lean", "/full"])
@pytest.mark.parametrize("fastapi_path", [False, True], ids=["lean-path", "fastapi-path"])
def test_http_exception_from_security_is_what_fastapi_answers(
    security: Callable[..., Any], path: str, fastapi_path: bool
) -> None:
    app = make_app(security)
    if fastapi_path:  # any override sends every route through FastAPI's own solving
        app.dependency_overrides[print] = print

    response = TestClient(app).get(path)

    assert (response.status_code, dict(response.headers), response.content) == (
        plain_fastapi_answer()
    )
    assert response.json() == {"detail": "token expired"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_http_exception_from_nova_security_on_a_websocket_route_carries_its_status() -> None:
    client = TestClient(make_app(nova_raises))

    from starlette.testclient import WebSocketDenialResponse

    with pytest.raises(WebSocketDenialResponse) as denial:
        with connect(client, "/ws"):
            pass

    assert denial.value.status_code == 401
    assert denial.value.headers["www-authenticate"] == "Bearer"
    assert denial.value.json() == {"detail": "token expired"}


def test_a_crash_in_nova_security_is_still_a_500_not_an_http_answer() -> None:
    def broken(req: NovaRequest) -> Any:
        raise KeyError("bug")

    response = TestClient(make_app(broken)).get("/lean")

    assert response.status_code == 500 and response.content == b""


# --------------------------------------------------------------------------- security_scheme


@security_scheme(HTTPBearer(description="A token from /login"))
def bearer_check(req: NovaRequest) -> Any:
    if req.headers.get("authorization") == "Bearer good":
        return (True, {"user": "bearer"})
    return (False, {"www-authenticate": 'Bearer realm="nova"'})


def test_a_declared_scheme_is_in_openapi_on_every_route_of_the_group() -> None:
    schema = make_app(bearer_check).openapi()

    assert schema["components"]["securitySchemes"] == {
        "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "A token from /login"}
    }
    for path in ("/lean", "/full"):
        assert schema["paths"][path]["get"]["security"] == [{"HTTPBearer": []}]
        assert "parameters" not in schema["paths"][path]["get"]


@pytest.mark.parametrize("path", ["/lean", "/full"])
def test_the_credential_swagger_sends_reaches_the_nova_function(path: str) -> None:
    client = TestClient(make_app(bearer_check))

    ok = client.get(path, headers={"Authorization": "Bearer good"})
    assert ok.status_code == 200 and ok.json() == {"auth": {"user": "bearer"}}


@pytest.mark.parametrize("path", ["/lean", "/full"])
@pytest.mark.parametrize("fastapi_path", [False, True], ids=["lean-path", "fastapi-path"])
def test_a_declared_scheme_never_answers_by_itself(path: str, fastapi_path: bool) -> None:
    app = make_app(bearer_check)
    if fastapi_path:
        app.dependency_overrides[print] = print
    client = TestClient(app)

    for headers in ({}, {"Authorization": "Basic xyz"}, {"Authorization": "Bearer bad"}):
        response = client.get(path, headers=headers)
        # HTTPBearer(auto_error=True) would answer 401/403 {"detail": "Not authenticated"}.
        assert response.status_code == 401 and response.content == b""
        assert response.headers["www-authenticate"] == 'Bearer realm="nova"'


def test_a_declared_scheme_works_on_websocket_routes() -> None:
    client = TestClient(make_app(bearer_check))

    assert denied_status(client, "/ws") == 401
    with connect(client, "/ws", headers={"Authorization": "Bearer good"}) as ws:
        ws.send_text("who?")
        assert ws.receive_text() == "{'user': 'bearer'}"


def test_the_users_scheme_instance_is_left_as_it_was() -> None:
    scheme = APIKeyHeader(name="x-key")  # auto_error=True: it answers by itself elsewhere

    security_scheme(scheme)(nova_check)

    assert scheme.auto_error is True


def test_security_scheme_refuses_what_is_not_a_scheme() -> None:
    with pytest.raises(TypeError, match="takes a fastapi.security scheme instance"):
        security_scheme(HTTPAuthorizationCredentials)  # type: ignore[arg-type]


@security_scheme(APIKeyHeader(name="x-key"))
def fastapi_check_declared(key: Annotated[str | None, Header(alias="x-key")] = None) -> Any:
    return (True, {"user": "real"}) if key == "real" else False


def test_a_fastapi_style_function_may_declare_its_scheme_too() -> None:
    app = make_app(fastapi_check_declared)

    operation = app.openapi()["paths"]["/full"]["get"]
    assert operation["security"] == [{"APIKeyHeader": []}]
    client = TestClient(app)
    assert client.get("/full", headers={"x-key": "real"}).json() == {"auth": {"user": "real"}}
    missing = client.get("/full")  # the function's answer, not APIKeyHeader's own
    assert (missing.status_code, missing.content) == (401, b"")
