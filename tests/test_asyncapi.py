"""``get_asyncapi(app)``: an AsyncAPI 3.0 document of the app's Nova WebSocket routes."""

from __future__ import annotations

import re
import warnings
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastapi_nova import (
    NovaRequest,
    NovaRouter,
    NovaWebSocket,
    RouteConfigError,
    get_asyncapi,
    security_scheme,
)


class Room(NovaWebSocket):
    """A chat room: every text frame is broadcast to the room."""


class Echo(NovaWebSocket):
    """Echoes every frame."""


class Plain(NovaWebSocket):
    pass


bearer = HTTPBearer(auto_error=False)
TOKEN_URL = "https://auth.example.com/token"  # AsyncAPI wants OAuth2 URLs absolute
oauth = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, scopes={"chat": "join rooms"}, auto_error=False)


def fastapi_check(token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Any:
    return token is not None


def oauth_check(token: Annotated[str | None, Depends(oauth)]) -> Any:
    return token is not None


@security_scheme(APIKeyHeader(name="x-key", description="The room key"))
def nova_check(req: NovaRequest) -> Any:
    return req.headers.get("x-key") == "k"


def nova_plain(req: NovaRequest) -> Any:
    return True


def make_app() -> FastAPI:
    app = FastAPI(title="Chat", version="2.1", description="Rooms and echoes.")
    router = NovaRouter(
        [
            {
                "routes": [
                    ("/echo", Echo, {"protocol": "ws"}),
                    ("/plain", Plain, {"protocol": "ws"}),
                    ("/heartbeat", lambda req: ("status", 200)),
                ]
            },
            {
                "prefix": "/rooms",
                "security": nova_check,
                "routes": [("/:room", Room, {"protocol": "ws"})],
            },
            {
                "prefix": "/secure",
                "security": fastapi_check,
                "routes": [("/:room/:user", Echo, {"protocol": "ws"})],
            },
            {
                "prefix": "/o",
                "security": oauth_check,
                "routes": [("/ws", Echo, {"protocol": "ws"})],
            },
            {"prefix": "/n", "security": nova_plain, "routes": [("/ws", Echo, {"protocol": "ws"})]},
        ]
    )
    app.include_router(router, prefix="/v1")

    @app.websocket("/fastapi-ws")
    async def not_nova(websocket: Any) -> None:  # pragma: no cover - never connected
        await websocket.close()

    return app


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return get_asyncapi(make_app())


def test_one_channel_per_nova_websocket_route_and_nothing_else(doc: dict[str, Any]) -> None:
    addresses = sorted(channel["address"] for channel in doc["channels"].values())

    assert addresses == [
        "/v1/echo",
        "/v1/n/ws",
        "/v1/o/ws",
        "/v1/plain",
        "/v1/rooms/{room}",
        "/v1/secure/{room}/{user}",
    ]
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"] == {"title": "Chat", "version": "2.1", "description": "Rooms and echoes."}


def channel(doc: dict[str, Any], address: str) -> tuple[str, dict[str, Any]]:
    return next((k, c) for k, c in doc["channels"].items() if c["address"] == address)


def test_a_channel_has_its_parameters_and_the_handlers_docstring(doc: dict[str, Any]) -> None:
    _, room = channel(doc, "/v1/secure/{room}/{user}")
    assert list(room["parameters"]) == ["room", "user"]
    assert room["description"] == "Echoes every frame."
    assert room["title"] == "Echo"

    _, plain = channel(doc, "/v1/plain")
    assert "parameters" not in plain
    assert "description" not in plain  # not NovaWebSocket's own docstring


def operations_of(doc: dict[str, Any], channel_id: str) -> list[dict[str, Any]]:
    ref = f"#/channels/{channel_id}"
    return [op for op in doc["operations"].values() if op["channel"] == {"$ref": ref}]


def test_each_channel_has_a_receive_and_a_send_operation(doc: dict[str, Any]) -> None:
    for channel_id in doc["channels"]:
        actions = sorted(op["action"] for op in operations_of(doc, channel_id))
        assert actions == ["receive", "send"]


@pytest.mark.parametrize(
    ("address", "scheme_name", "scheme"),
    [
        (
            "/v1/rooms/{room}",
            "APIKeyHeader",
            {"type": "httpApiKey", "name": "x-key", "in": "header", "description": "The room key"},
        ),
        ("/v1/secure/{room}/{user}", "HTTPBearer", {"type": "http", "scheme": "bearer"}),
        (
            "/v1/o/ws",
            "OAuth2PasswordBearer",
            {
                "type": "oauth2",
                "flows": {
                    "password": {
                        "tokenUrl": TOKEN_URL,
                        "availableScopes": {"chat": "join rooms"},
                    }
                },
            },
        ),
    ],
)
def test_a_channels_security_is_on_its_operations(
    doc: dict[str, Any], address: str, scheme_name: str, scheme: dict[str, Any]
) -> None:
    channel_id, _ = channel(doc, address)

    assert doc["components"]["securitySchemes"][scheme_name] == scheme
    for operation in operations_of(doc, channel_id):
        assert operation["security"] == [{"$ref": f"#/components/securitySchemes/{scheme_name}"}]
        assert operation["x-nova-security"].endswith("_check")


def test_nova_security_without_a_scheme_is_named_but_declares_none(doc: dict[str, Any]) -> None:
    channel_id, _ = channel(doc, "/v1/n/ws")
    for operation in operations_of(doc, channel_id):
        assert "security" not in operation
        assert operation["x-nova-security"] == f"{__name__}.nova_plain"
    open_id, _ = channel(doc, "/v1/echo")
    assert all("x-nova-security" not in op for op in operations_of(doc, open_id))


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        resolve(doc, ref)  # KeyError when it points nowhere


def asyncapi3_model() -> Any:
    """The AsyncAPI 3.0 object model (pydantic) the documents are validated with."""
    with warnings.catch_warnings():
        # asyncapi3's models shadow a pydantic attribute (its own warning, at import).
        warnings.simplefilter("ignore", UserWarning)
        asyncapi3 = pytest.importorskip(
            "asyncapi3", reason="the AsyncAPI 3.0 object model: pip install -e '.[dev]'"
        )
    return asyncapi3.AsyncAPI3


def test_the_document_is_valid_asyncapi_3(doc: dict[str, Any]) -> None:
    parsed = asyncapi3_model().model_validate(doc)

    assert sorted(parsed.channels) == sorted(doc["channels"])


def test_an_app_without_nova_websocket_routes_has_no_channels() -> None:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": [("/h", lambda req: ("status", 200))]}]))

    doc = get_asyncapi(app, title="T", version="1")

    assert doc["channels"] == {} and doc["operations"] == {}
    assert doc["info"] == {"title": "T", "version": "1"}


# --------------------------------------------------------------------------- properties

_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_SEGMENT = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,8}", fullmatch=True)


@st.composite
def ws_paths(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A Nova path with literal segments and distinct ``:bindings``, and its bindings."""
    parts = draw(st.lists(st.one_of(_SEGMENT, _NAME.map(lambda n: ":" + n)), max_size=4))
    seen: set[str] = set()
    out: list[str] = []
    for part in parts:
        if part.startswith(":") and (part[1:] in seen or part[1:] == "pathinfo"):
            continue
        if part.startswith(":"):
            seen.add(part[1:])
        out.append(part)
    return "/" + "/".join(out), [p[1:] for p in out if p.startswith(":")]


@settings(max_examples=25, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ws_paths(), min_size=1, max_size=4, unique_by=lambda p: p[0]))
def test_any_route_table_gives_a_valid_document(paths: list[tuple[str, list[str]]]) -> None:
    routes = [(path, Echo, {"protocol": "ws"}) for path, _ in paths]
    app = FastAPI()
    try:
        app.include_router(NovaRouter([{"routes": routes}]))
    except RouteConfigError:
        return  # two paths that collide once bindings are erased: refused at start-up

    doc = get_asyncapi(app)

    asyncapi3_model().model_validate(doc)
    assert len(doc["channels"]) == len(paths)  # ids unique even when paths look alike
    by_address = {c["address"]: c for c in doc["channels"].values()}
    for path, bindings in paths:
        address = "/" + "/".join(
            "{" + s[1:] + "}" if s.startswith(":") else s for s in path.split("/") if s
        )
        assert list(by_address[address].get("parameters", {})) == bindings
    for channel_id in doc["channels"]:
        assert re.fullmatch(r"[A-Za-z0-9_\-]+", channel_id)
        assert len(operations_of(doc, channel_id)) == 2
