"""A route's ``response_model`` applies to ``("json", ...)`` as FastAPI applies it (issue 7.2).

Each case is compared with plain FastAPI returning the same value from the same route, so the
test says "exactly as FastAPI", not what we think FastAPI does.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import ResponseValidationError
from pydantic import BaseModel, Field

from fastapi_nova import NovaRequest, NovaRouter
from fastapi_nova._fastapi_compat import response_field, serialize_response
from tests.support.ws import TestClient


class UserOut(BaseModel):
    id: int
    name: str
    nick: str | None = Field(default=None, alias="nickName")


ANN = {"id": 1, "name": "ann", "password_hash": "x1"}

#: Route options and the payload returned, per case.
CASES: dict[str, tuple[dict[str, Any], Any]] = {
    "filtered": ({"response_model": UserOut}, ANN),
    "a list": ({"response_model": list[UserOut]}, [ANN, {**ANN, "id": 2}]),
    "exclude_none": ({"response_model": UserOut, "response_model_exclude_none": True}, ANN),
    "exclude": ({"response_model": UserOut, "response_model_exclude": {"name"}}, ANN),
    "include": ({"response_model": UserOut, "response_model_include": {"id"}}, ANN),
    "by_alias off": ({"response_model": UserOut, "response_model_by_alias": False}, ANN),
    "exclude_unset": (
        {"response_model": UserOut, "response_model_exclude_unset": True},
        UserOut(id=1, name="ann"),
    ),
    "exclude_defaults": (
        {"response_model": UserOut, "response_model_exclude_defaults": True},
        {**ANN, "nickName": None},
    ),
}


def plain_fastapi(options: dict[str, Any], payload: Any, method: str) -> tuple[int, Any]:
    app = FastAPI()
    status = 201 if method == "post" else 200

    @app.api_route("/u", methods=[method.upper()], status_code=status, **options)
    def u() -> Any:
        return payload

    response = TestClient(app).request(method, "/u")
    return response.status_code, response.json()


def nova_app(options: dict[str, Any], payload: Any, method: str, style: str) -> FastAPI:
    def nova(req: NovaRequest) -> Any:
        return ("json", payload)

    def fastapi_style(x: int = 0) -> Any:
        return ("json", payload)

    app = FastAPI()
    ctrl = nova if style == "nova" else fastapi_style
    app.include_router(NovaRouter([{"routes": [("/u", ctrl, {"methods": [method], **options})]}]))
    return app


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("style", ["nova", "fastapi"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_response_model_shapes_a_json_payload_as_fastapi_does(
    case: str, style: str, method: str
) -> None:
    options, payload = CASES[case]
    response = TestClient(nova_app(options, payload, method, style)).request(method, "/u")

    assert (response.status_code, response.json()) == plain_fastapi(options, payload, method)
    assert "password_hash" not in response.text


@pytest.mark.parametrize("style", ["nova", "fastapi"])
def test_the_four_element_json_form_is_shaped_too(style: str) -> None:
    def nova(req: NovaRequest) -> Any:
        return ("json", 202, {"x-h": "1"}, ANN)

    def fastapi_style(x: int = 0) -> Any:
        return ("json", 202, {"x-h": "1"}, ANN)

    app = FastAPI()
    ctrl = nova if style == "nova" else fastapi_style
    app.include_router(NovaRouter([{"routes": [("/u", ctrl, {"response_model": UserOut})]}]))

    response = TestClient(app).get("/u")

    assert response.status_code == 202 and response.headers["x-h"] == "1"
    assert response.json() == {"id": 1, "name": "ann", "nickName": None}


@pytest.mark.parametrize("style", ["nova", "fastapi"])
def test_a_payload_that_does_not_fit_is_a_500_as_in_fastapi(style: str) -> None:
    options, payload = {"response_model": UserOut}, {"id": "not a number"}
    app = nova_app(options, payload, "get", style)

    with pytest.raises(ResponseValidationError):  # what FastAPI raises (and logs) for it
        TestClient(app).get("/u")
    response = TestClient(app, raise_server_exceptions=False).get("/u")
    assert response.status_code == 500

    plain = FastAPI()

    @plain.get("/u", response_model=UserOut)
    def u() -> Any:
        return payload

    assert TestClient(plain, raise_server_exceptions=False).get("/u").status_code == 500


def test_other_returns_are_left_alone() -> None:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "routes": [
                        ("/s", lambda req: ("status", 404), {"response_model": UserOut}),
                        ("/r", lambda req: ("redirect", "/x"), {"response_model": UserOut}),
                    ]
                }
            ]
        )
    )
    client = TestClient(app)

    assert client.get("/s").status_code == 404
    assert client.get("/r", follow_redirects=False).headers["location"] == "/x"


def test_the_fastapi_internals_read_for_it_are_still_there() -> None:
    """Fails loudly when FastAPI renames or reshapes what _fastapi_compat reads."""
    import fastapi.routing

    params = inspect.signature(fastapi.routing.serialize_response).parameters
    for name in (
        "field",
        "response_content",
        "include",
        "exclude",
        "by_alias",
        "exclude_unset",
        "exclude_defaults",
        "exclude_none",
        "is_coroutine",
    ):
        assert name in params, f"fastapi.routing.serialize_response lost {name!r}"


@pytest.mark.anyio
async def test_compat_serializes_with_a_field_it_builds() -> None:
    model_field = response_field(UserOut, "Response_test")

    dumped = await serialize_response(model_field, ANN, exclude={"nick"})

    assert dumped == {"id": 1, "name": "ann"}
    with pytest.raises(ResponseValidationError):
        await serialize_response(model_field, {"id": "x"})
