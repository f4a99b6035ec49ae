"""Security: each row of the table in docs/security.md in both styles, order, OpenAPI schemes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Form, HTTPException
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.requests import Request
from starlette.testclient import TestClient

from fastapi_nova import AuthData, NovaRequest, NovaRouter
from fastapi_nova._shapes import parse_headers
from fastapi_nova.errors import _InvalidReturn
from fastapi_nova.security import _verdict

api_key = APIKeyHeader(name="x-key", auto_error=False)
basic = HTTPBasic()

STYLES = ["nova", "fastapi"]


def security_returning(
    style: str, result: Any, seen: list[Any] | None = None, order: list[str] | None = None
) -> Any:
    """A security function of ``style`` returning ``result``; records what it saw in ``seen``
    and appends ``"security"`` to ``order`` when it runs."""
    if style == "nova":

        def nova_security(req):
            if seen is not None:
                seen.append(req)
            if order is not None:
                order.append("security")
            return result

        return nova_security

    def fastapi_security(key: Annotated[str | None, Depends(api_key)]) -> Any:
        if seen is not None:
            seen.append(key)
        if order is not None:
            order.append("security")
        return result

    return fastapi_security


def raising_security(style: str, sync: bool) -> Any:
    if style == "nova":

        async def nova_raises(req):
            raise RuntimeError("security bug")

        def nova_raises_sync(req):
            raise RuntimeError("security bug")

        return nova_raises_sync if sync else nova_raises

    async def fastapi_raises(key: Annotated[str | None, Depends(api_key)]) -> Any:
        raise RuntimeError("security bug")

    def fastapi_raises_sync(key: Annotated[str | None, Depends(api_key)]) -> Any:
        raise RuntimeError("security bug")

    return fastapi_raises_sync if sync else fastapi_raises


class Controllers:
    """A Nova-style and a FastAPI-style controller that record their runs."""

    def __init__(self) -> None:
        self.runs: list[Any] = []

        def nova(req):
            self.runs.append(req.auth_data)
            return ("json", {"auth": req.auth_data})

        async def fastapi(user: AuthData) -> Any:
            self.runs.append(user)
            return ("json", {"auth": user})

        self.nova, self.fastapi = nova, fastapi


def make_client(security: Any, ctrl: Callable[..., Any], **group: Any) -> TestClient:
    app = FastAPI()
    app.include_router(NovaRouter([{"security": security, "routes": [("/r", ctrl)], **group}]))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(params=["nova", "fastapi"])
def controller_style(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pick(controllers: Controllers, style: str) -> Callable[..., Any]:
    return controllers.nova if style == "nova" else controllers.fastapi


# --------------------------------------------------------------------------- allowing


@pytest.mark.parametrize("style", STYLES)
def test_true_goes_on(style: str, controller_style: str) -> None:
    ctrls = Controllers()
    client = make_client(security_returning(style, True), pick(ctrls, controller_style))

    response = client.get("/r")

    assert response.status_code == 200
    assert response.json() == {"auth": None}
    assert ctrls.runs == [None]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("data", [{"user": "ann", "roles": ["admin"]}, "ann", None, 0])
def test_true_with_auth_data(style: str, controller_style: str, data: Any) -> None:
    ctrls = Controllers()
    client = make_client(security_returning(style, (True, data)), pick(ctrls, controller_style))

    response = client.get("/r")

    assert response.status_code == 200
    assert response.json() == {"auth": data}
    assert ctrls.runs == [data]


def test_nova_security_sees_the_parsed_request() -> None:
    seen: list[Any] = []
    ctrls = Controllers()
    client = make_client(security_returning("nova", True, seen), ctrls.nova)

    client.post("/r?x=1", json={"a": 1})

    req = seen[0]
    assert isinstance(req, NovaRequest)
    assert req.json == {"a": 1} and req.parsed_qs == {"x": "1"} and req.method == "POST"


def test_fastapi_security_gets_its_dependencies() -> None:
    seen: list[Any] = []
    ctrls = Controllers()
    client = make_client(security_returning("fastapi", True, seen), ctrls.nova)

    client.get("/r", headers={"x-key": "k1"})

    assert seen == ["k1"]


# --------------------------------------------------------------------------- denying


DENIED_401 = [
    False,
    None,
    "yes",
    1,
    (True,),
    (False, "x"),
    (True, 1, 2),
    [True],
    ("redirect",),
    ("redirect", b"/bytes"),
    (False, 99, {}),
    (False, 200, "h"),
    (False, 200, {}, 3.5),
    (),
    {"ok": True},
]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("result", DENIED_401, ids=repr)
def test_false_and_anything_else_is_401_with_an_empty_body(
    style: str, controller_style: str, result: Any
) -> None:
    ctrls = Controllers()
    client = make_client(security_returning(style, result), pick(ctrls, controller_style))

    response = client.get("/r")

    assert response.status_code == 401
    assert response.content == b""
    assert ctrls.runs == []


def test_anything_else_is_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(security_returning("nova", "yes"), Controllers().nova)

    with caplog.at_level(logging.WARNING, logger="fastapi_nova"):
        client.get("/r")

    assert "returned 'yes', which is not a security result; denying (401)" in caplog.text
    assert "nova_security" in caplog.text


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    "headers", [{"www-authenticate": 'Basic realm="x"'}, [("www-authenticate", 'Basic realm="x"')]]
)
def test_false_with_headers_is_401_with_those_headers(
    style: str, controller_style: str, headers: Any
) -> None:
    ctrls = Controllers()
    client = make_client(security_returning(style, (False, headers)), pick(ctrls, controller_style))

    response = client.get("/r")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="x"'
    assert response.content == b""
    assert ctrls.runs == []


@pytest.mark.parametrize("style", STYLES)
def test_false_with_status_and_headers(style: str, controller_style: str) -> None:
    ctrls = Controllers()
    result = (False, 403, {"x-reason": "banned"})
    client = make_client(security_returning(style, result), pick(ctrls, controller_style))

    response = client.get("/r")

    assert response.status_code == 403
    assert response.headers["x-reason"] == "banned"
    assert response.content == b""
    assert ctrls.runs == []


@pytest.mark.parametrize("style", STYLES)
def test_false_with_a_dict_body_is_json(style: str, controller_style: str) -> None:
    ctrls = Controllers()
    result = (False, 429, {"retry-after": "5"}, {"error": "slow down"})
    client = make_client(security_returning(style, result), pick(ctrls, controller_style))

    response = client.get("/r")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "slow down"}
    assert ctrls.runs == []


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("body", ["go away", b"go away"])
def test_false_with_a_str_body_is_sent_as_is(
    style: str, controller_style: str, body: str | bytes
) -> None:
    ctrls = Controllers()
    result = (False, 403, {"content-type": "text/plain"}, body)
    client = make_client(security_returning(style, result), pick(ctrls, controller_style))

    response = client.get("/r")

    assert response.status_code == 403
    assert response.text == "go away"
    assert response.headers["content-type"] == "text/plain"
    assert ctrls.runs == []


@pytest.mark.parametrize("style", STYLES)
def test_redirect_is_302(style: str, controller_style: str) -> None:
    ctrls = Controllers()
    client = make_client(
        security_returning(style, ("redirect", "/login?next=/r")), pick(ctrls, controller_style)
    )

    response = client.get("/r", follow_redirects=False)

    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=/r"
    assert ctrls.runs == []


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
@pytest.mark.parametrize("style", STYLES)
def test_raising_is_a_logged_500_and_never_a_pass(
    style: str, sync: bool, controller_style: str, caplog: pytest.LogCaptureFixture
) -> None:
    ctrls = Controllers()
    client = make_client(raising_security(style, sync), pick(ctrls, controller_style))

    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        response = client.get("/r")

    assert response.status_code == 500
    assert response.content == b""
    assert ctrls.runs == []
    record = next(r for r in caplog.records if r.levelno >= logging.ERROR)
    assert f"security function {__name__}." in record.getMessage()
    assert record.getMessage().endswith("raised; answering 500")
    assert record.exc_info is not None and "security bug" in str(record.exc_info[1])


def test_http_exception_from_fastapi_security_is_its_own_answer() -> None:
    def forbid(key: Annotated[str | None, Depends(api_key)]) -> Any:
        raise HTTPException(status_code=403, detail="nope")

    ctrls = Controllers()
    client = make_client(forbid, ctrls.nova)

    response = client.get("/r")

    assert response.status_code == 403
    assert response.json() == {"detail": "nope"}
    assert ctrls.runs == []


# --------------------------------------------------------------------------- HTTPBasic


def check_basic(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> Any:
    if (credentials.username, credentials.password) == ("ann", "secret"):
        return (True, {"user": credentials.username})
    return (False, {"www-authenticate": "Basic"})


def test_http_basic_security(controller_style: str) -> None:
    ctrls = Controllers()
    client = make_client(check_basic, pick(ctrls, controller_style))

    assert client.get("/r", auth=("ann", "secret")).json() == {"auth": {"user": "ann"}}
    wrong = client.get("/r", auth=("ann", "nope"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Basic"
    missing = client.get("/r")  # HTTPBasic's own answer
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Basic"
    assert ctrls.runs == [{"user": "ann"}]


def test_http_basic_scheme_appears_in_openapi_on_the_group_only() -> None:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "prefix": "/open",
                    "routes": [("/a", lambda req: ("json", 1), {"methods": ["get"]})],
                },
                {
                    "prefix": "/admin",
                    "security": check_basic,
                    "routes": [
                        ("/a", lambda req: ("json", 1), {"methods": ["get"]}),
                        ("/b/:id", lambda req: ("json", 1), {"methods": ["post"]}),
                    ],
                },
            ]
        )
    )

    schema = app.openapi()

    assert schema["components"]["securitySchemes"] == {
        "HTTPBasic": {"type": "http", "scheme": "basic"}
    }
    paths = schema["paths"]
    assert paths["/admin/a"]["get"]["security"] == [{"HTTPBasic": []}]
    assert paths["/admin/b/{id}"]["post"]["security"] == [{"HTTPBasic": []}]
    assert "security" not in paths["/open/a"]["get"]


def test_api_key_scheme_appears_in_openapi() -> None:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "security": security_returning("fastapi", True),
                    "routes": [("/k", lambda req: ("json", 1), {"methods": ["get"]})],
                }
            ]
        )
    )

    schema = app.openapi()

    assert schema["components"]["securitySchemes"] == {
        "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "x-key"}
    }
    assert schema["paths"]["/k"]["get"]["security"] == [{"APIKeyHeader": []}]
    assert "parameters" not in schema["paths"]["/k"]["get"]  # the scheme, not a parameter


def test_nova_security_adds_nothing_to_openapi() -> None:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "security": lambda req: True,
                    "routes": [("/k", lambda req: ("json", 1), {"methods": ["get"]})],
                }
            ]
        )
    )

    operation = app.openapi()["paths"]["/k"]["get"]

    assert "security" not in operation and "parameters" not in operation


# --------------------------------------------------------------------------- order


class Item(BaseModel):
    name: str


@pytest.mark.parametrize("style", STYLES)
def test_security_runs_before_body_validation(style: str) -> None:
    runs: list[Any] = []

    async def create(item: Item) -> Any:
        runs.append(item)
        return ("json", item)

    client = make_client(security_returning(style, False), create)

    denied = client.post("/r", json={"wrong": "shape"})

    assert denied.status_code == 401  # not 422
    assert runs == []
    allowed = make_client(security_returning(style, True), create).post("/r", json={})
    assert allowed.status_code == 422  # validation still happens once security passes


@pytest.mark.parametrize("style", STYLES)
def test_security_runs_before_fastapis_json_decode_error(style: str) -> None:
    # FastAPI decodes a body model's JSON before any dependency; security must still come first.
    order: list[str] = []
    runs: list[Any] = []

    def plugin() -> None:
        order.append("plugin")

    async def create(item: Item) -> Any:
        runs.append(item)
        return ("json", item)

    def app_for(result: Any) -> TestClient:
        security = security_returning(style, result, order=order)
        return make_client(security, create, plugins=[plugin])

    bad = {"content": b"{not json", "headers": {"content-type": "application/json"}}

    denied = app_for(False).post("/r", **bad)
    assert denied.status_code == 401
    assert denied.content == b""
    assert order == ["plugin", "security"]

    order.clear()
    allowed = app_for(True).post("/r", **bad)
    assert allowed.status_code == 422
    assert allowed.json()["detail"][0]["type"] == "json_invalid"
    assert order == ["plugin", "security"]  # each ran once
    assert runs == []


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("body", ["deep json", "broken form"])
def test_security_runs_before_fastapis_body_parsing_400(style: str, body: str) -> None:
    # A body FastAPI cannot parse at all (400, before any dependency) must not answer first.
    order: list[str] = []
    runs: list[Any] = []

    async def create_json(item: Item) -> Any:
        runs.append(item)
        return ("json", item)

    async def create_form(name: Annotated[str, Form()]) -> Any:
        runs.append(name)
        return ("json", name)

    def app_for(result: Any) -> TestClient:
        security = security_returning(style, result, order=order)
        ctrl = create_json if body == "deep json" else create_form
        return make_client(security, ctrl, plugins=[lambda: order.append("plugin")])

    if body == "deep json":
        bad = {"content": b"[" * 100_000, "headers": {"content-type": "application/json"}}
    else:
        bad = {"content": b"--x", "headers": {"content-type": "multipart/form-data"}}

    denied = app_for(False).post("/r", **bad)
    assert denied.status_code == 401
    assert denied.content == b""
    assert order == ["plugin", "security"]

    order.clear()
    allowed = app_for(True).post("/r", **bad)
    assert allowed.status_code == 400
    assert order == ["plugin", "security"]  # each ran once
    assert runs == []


@pytest.mark.parametrize("style", STYLES)
def test_a_400_raised_after_security_does_not_run_security_again(style: str) -> None:
    # Only a body FastAPI could not read sends the request back through security.
    order: list[str] = []

    async def create(item: Item) -> Any:
        order.append("controller")
        try:
            raise ValueError("no")
        except ValueError as exc:
            raise HTTPException(status_code=400, detail="bad item") from exc

    security = security_returning(style, True, order=order)
    response = make_client(security, create).post("/r", json={"name": "a", "price": 1})

    assert response.status_code == 400
    assert response.json() == {"detail": "bad item"}
    assert order == ["security", "controller"]


@pytest.mark.parametrize("style", STYLES)
def test_security_runs_before_the_bad_json_400(style: str) -> None:
    ctrls = Controllers()
    bad = {"content": b"{not json", "headers": {"content-type": "application/json"}}

    denied = make_client(security_returning(style, False), ctrls.nova).post("/r", **bad)
    allowed = make_client(security_returning(style, True), ctrls.nova).post("/r", **bad)

    assert denied.status_code == 401  # not 400
    assert allowed.status_code == 400
    assert ctrls.runs == []


@pytest.mark.parametrize("style", STYLES)
def test_plugins_run_before_security(style: str) -> None:
    order: list[str] = []

    def plugin(request: Request) -> None:
        order.append("plugin")
        request.state.correlation_id = "c-1"

    if style == "nova":

        def sec(req):
            order.append("security")
            return (True, req.request.state.correlation_id)

    else:

        def sec(request: Request) -> Any:
            order.append("security")
            return (True, request.state.correlation_id)

    def ctrl(req):
        order.append("controller")
        return ("json", req.auth_data)

    client = make_client(sec, ctrl, plugins=[plugin])

    assert client.get("/r").json() == "c-1"
    assert order == ["plugin", "security", "controller"]


@pytest.mark.parametrize("style", STYLES)
def test_group_dependencies_run_after_security(style: str) -> None:
    order: list[str] = []

    def dependency() -> None:
        order.append("dependency")

    if style == "nova":

        def sec(req):
            order.append("security")
            return True

    else:

        def sec(request: Request) -> Any:
            order.append("security")
            return True

    client = make_client(sec, lambda req: ("json", 1), dependencies=[dependency])

    client.get("/r")

    assert order == ["security", "dependency"]


def test_a_denial_stops_group_dependencies_too() -> None:
    ran: list[str] = []
    client = make_client(
        lambda req: False, lambda req: ("json", 1), dependencies=[lambda: ran.append("dep")]
    )

    assert client.get("/r").status_code == 401
    assert ran == []


def test_security_async_functions_in_both_styles() -> None:
    async def nova_sec(req):
        return (True, "nova")

    async def fastapi_sec(key: Annotated[str | None, Depends(api_key)]) -> Any:
        return (True, key)

    ctrls = Controllers()
    assert make_client(nova_sec, ctrls.nova).get("/r").json() == {"auth": "nova"}
    assert make_client(fastapi_sec, ctrls.nova).get("/r", headers={"x-key": "k"}).json() == {
        "auth": "k"
    }


def test_security_applies_to_every_route_and_method_of_the_group() -> None:
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "security": lambda req: False,
                    "routes": [
                        ("/a", lambda req: ("json", 1)),
                        ("/b/:id", controller_fn, {"methods": ["get", "delete"]}),
                    ],
                },
                {"routes": [("/open", lambda req: ("json", "open"))]},
            ]
        )
    )
    client = TestClient(app)

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        assert client.request(method, "/a").status_code == 401, method
    assert client.get("/b/1").status_code == 401
    assert client.delete("/b/1").status_code == 401
    assert client.get("/open").json() == "open"


async def controller_fn(id: int) -> Any:
    return ("json", id)


# --------------------------------------------------------------------------- verdict


@pytest.mark.parametrize(
    ("result", "allowed", "status"),
    [
        (True, True, None),
        ((True, "d"), True, None),
        (False, False, 401),
        ((False, {}), False, 401),
        ((False, 418, {}), False, 418),
        ((False, 418, {}, "b"), False, 418),
        (("redirect", "/x"), False, 302),
        (1, False, 401),
        # Only True itself passes, only False itself denies with a custom answer.
        ((1, "d"), False, 401),
        (("yes", "d"), False, 401),
        ((True, "d", "extra"), False, 401),
        ((None, 403, {}), False, 401),
        ((0, {"x-a": "1"}), False, 401),
        ((False, 99, {}), False, 401),
        ((False, 403, "not headers"), False, 401),
        (("redirect", b"/x"), False, 401),
    ],
    ids=repr,
)
def test_verdict_table(result: Any, allowed: bool, status: int | None) -> None:
    decision = _verdict(result)

    assert decision.allowed is allowed
    assert (decision.response.status_code if decision.response else None) == status


def test_true_without_data_sets_no_auth_data() -> None:
    assert not _verdict(True).has_auth_data
    assert _verdict((True, None)).has_auth_data and _verdict((True, None)).auth_data is None


# --------------------------------------------------------------------------- one strictness

#: Header values a controller's ``("status", 403, headers)`` accepts, and so security's
#: ``(False, 403, headers)`` too: one parser (``fastapi_nova._shapes``) reads both.
GOOD_HEADERS = [{"x-a": "1"}, {"x-a": 1}, [("x-a", "1")], (["x-a", "1"],)]
#: ...and values both refuse: a controller gets a logged 500, security a 401 denial.
BAD_HEADERS = [{"x-a": 1.5}, {"x-a": None}, [(1, "a")], [("x-a", "1", "extra")], "x-a: 1"]


def statuses(headers: Any) -> tuple[int, int]:
    """What a controller returning ``("status", 403, headers)`` and a security function
    returning ``(False, 403, headers)`` answer."""

    def ctrl(req):
        return ("status", 403, headers)

    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {"prefix": "/c", "routes": [("/r", ctrl)]},
                {
                    "prefix": "/s",
                    "security": lambda req: (False, 403, headers),
                    "routes": [("/r", Controllers().nova)],
                },
            ]
        )
    )
    client = TestClient(app, raise_server_exceptions=False)
    return client.get("/c/r").status_code, client.get("/s/r").status_code


@pytest.mark.parametrize("headers", GOOD_HEADERS, ids=repr)
def test_handlers_and_security_accept_the_same_headers(headers: Any) -> None:
    assert statuses(headers) == (403, 403)


@pytest.mark.parametrize("headers", BAD_HEADERS, ids=repr)
def test_handlers_and_security_refuse_the_same_headers(headers: Any) -> None:
    # Security used to str() any header value (a float went out as "1.5"): now refused
    # as a handler refuses it, and a refused verdict denies with 401.
    assert statuses(headers) == (500, 401)


@pytest.mark.parametrize("body", [None, 1, object()], ids=repr)
def test_security_body_must_be_json_text_or_bytes(body: Any) -> None:
    # As the docs' table says; None too (a handler's ("status", ...) takes None as "no body").
    assert _verdict((False, 403, {}, body)).response.status_code == 401  # type: ignore[union-attr]


#: Bounded; derandomized under CI (as tests/test_fuzz.py) so a run is repeatable.
BOUNDED = settings(
    max_examples=60, deadline=2000, derandomize=os.environ.get("CI") == "true", database=None
)
#: Any value a hand-written security function might put in a status, headers or body slot.
ANYTHING = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3).map(tuple)
        | st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(BOUNDED)
@given(status=ANYTHING, headers=ANYTHING, body=ANYTHING, size=st.sampled_from([2, 3, 4]))
def test_any_false_tuple_denies_with_its_status_or_401(
    status: Any, headers: Any, body: Any, size: int
) -> None:
    # Never a pass, never a crash, never a 500: the parser shared with handlers raises only
    # InvalidReturn, which security turns into the 401 of "anything else".
    result = (False, status, headers, body)[:size] if size > 2 else (False, headers)
    decision = _verdict(result)
    assert decision.allowed is False and decision.response is not None
    assert decision.response.status_code in (401, status)


@settings(BOUNDED)
@given(value=ANYTHING)
def test_the_shared_header_parser_raises_only_invalid_return(value: Any) -> None:
    try:
        headers = parse_headers(value, ("status", 200, value))
    except _InvalidReturn as exc:
        assert str(exc).endswith(f"in {('status', 200, value)!r}")  # names the tuple
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
