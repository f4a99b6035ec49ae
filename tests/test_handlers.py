"""Handlers: every built-in return tuple, custom handlers and the registry."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.testclient import TestClient
from starlette.types import Message

from fastapi_nova import (
    HandlerExistsError,
    HandlerRegistry,
    NovaRouter,
    _shapes,
    controller,
    default_registry,
    register_handler,
    unregister_handler,
)
from fastapi_nova._shapes import encode_json
from fastapi_nova.handlers import _FileSliceResponse, _HandlerContext
from fastapi_nova.templates import _TemplateFinder


@pytest.fixture(autouse=True)
def clean_default_registry() -> Iterator[None]:
    """Tests may register handlers in the process-wide registry; none may leak.

    Through the public API: the tests only add names (a replaced built-in would need more).
    """
    before = set(default_registry)
    yield
    for name in set(default_registry) - before:
        unregister_handler(name)
    assert set(default_registry) == before


def make_client(
    routes: list[Any], *, templates: Any = None, registry: HandlerRegistry | None = None
) -> TestClient:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": routes}], templates=templates, registry=registry))
    return TestClient(app, raise_server_exceptions=False)


def answering(value: Any) -> Any:
    """A Nova-style controller that returns ``value``."""
    return lambda req: value


# --------------------------------------------------------------------------- json


def test_json_answers_200_on_get() -> None:
    client = make_client([("/j", answering(("json", {"a": [1, "x"]})))])

    response = client.get("/j")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"a": [1, "x"]}


def test_json_answers_201_on_post_only() -> None:
    client = make_client([("/j", answering(("json", [1, 2])))])

    assert client.post("/j").status_code == 201
    assert client.put("/j").status_code == 200
    assert client.patch("/j").status_code == 200
    assert client.delete("/j").status_code == 200


def test_json_with_status_and_headers() -> None:
    client = make_client([("/j", answering(("json", 202, {"x-trace": "t1"}, {"queued": True})))])

    response = client.post("/j")

    assert response.status_code == 202  # explicit status beats the POST default
    assert response.headers["x-trace"] == "t1"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"queued": True}


@pytest.mark.parametrize("name", ["content-type", "Content-Type"])
def test_json_user_content_type_wins_over_the_default(name: str) -> None:
    value = ("json", 200, {name: "application/problem+json"}, {"title": "nope"})
    client = make_client([("/j", answering(value))])

    response = client.get("/j")

    assert response.headers.get_list("content-type") == ["application/problem+json"]
    assert response.json() == {"title": "nope"}


def test_json_headers_may_be_a_list_of_pairs() -> None:
    client = make_client([("/j", answering(("json", 200, [("x-a", "1")], None)))])

    response = client.get("/j")

    assert response.headers["x-a"] == "1"
    assert response.json() is None


class User(BaseModel):
    id: int
    name: str


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_json_encodes_what_fastapi_can_encode() -> None:
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = (
        "json",
        {
            "user": User(id=1, name="ann"),
            "point": Point(1, 2),
            "when": when,
            "day": datetime.date(2024, 5, 6),
            "id": ident,
            "text": "grüße",
        },
    )
    client = make_client([("/j", answering(value))])

    response = client.get("/j")

    assert response.status_code == 200
    assert response.json() == {
        "user": {"id": 1, "name": "ann"},
        "point": {"x": 1, "y": 2},
        "when": "2024-05-06T07:08:09+00:00",
        "day": "2024-05-06",
        "id": "12345678-1234-5678-1234-567812345678",
        "text": "grüße",
    }


def test_json_top_level_pydantic_model() -> None:
    client = make_client([("/j", answering(("json", User(id=2, name="bo"))))])

    assert client.get("/j").json() == {"id": 2, "name": "bo"}


JSON_DATA = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def sent(response: Response) -> list[Message]:
    """The ASGI messages ``response`` sends for a GET."""
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(response({"type": "http", "method": "GET"}, receive, send))
    return messages


@settings(max_examples=60, deadline=5000)
@given(
    data=JSON_DATA,
    # the statuses Starlette sends no content-length for, and any other
    status=st.none() | st.sampled_from([100, 103, 199, 204, 304]) | st.integers(100, 599),
    method=st.sampled_from(["GET", "POST", "PUT"]),
)
def test_the_json_fast_path_sends_the_bytes_a_plain_response_sends(
    data: Any, status: int | None, method: str
) -> None:
    # ("json", data) is answered without a HandlerContext or Response's header handling;
    # what goes on the wire is what Response(body, status, content-type) sends, byte for
    # byte and header for header, in order (content-length only where Starlette sends one).
    registry = HandlerRegistry()
    value = ("json", data)
    ctx = _HandlerContext(
        request=None,
        method=method,
        controller=None,
        templates=_TemplateFinder([]),
        status_override=status,
    )
    fast = registry.plain_json(value, method, status)
    general = asyncio.run(registry.to_response(value, ctx))
    code = status or (201 if method == "POST" else 200)
    expected = Response(encode_json(data), code, {"content-type": "application/json"})

    assert fast is not None
    assert sent(fast) == sent(general) == sent(expected)


@settings(max_examples=60, deadline=5000)
@given(data=JSON_DATA)
def test_json_is_encoded_exactly_as_the_json_encoder_does(data: Any) -> None:
    # encode_json calls CPython's C encoder directly (JSONEncoder.encode's frames cost a
    # tenth of a route); the text is JSONEncoder's, and on CPython the direct call is used.
    assert _shapes._encode is not _shapes._ENCODER.encode
    assert _shapes._encode(data) == _shapes._ENCODER.encode(data)
    assert encode_json(data) == _shapes._ENCODER.encode(data).encode()


def circular_controller(req):
    circular: dict[str, Any] = {}
    circular["self"] = circular
    return ("json", circular)


def test_a_circular_json_payload_is_a_500_and_the_next_answers_are_whole() -> None:
    # One C encoder, without circular-reference markers, serves every call: a circular
    # payload fails with RecursionError (JSONEncoder's own said ValueError) and leaves
    # nothing behind for the next payload.
    with pytest.raises(RecursionError):
        encode_json(circular_controller(None)[1])
    assert encode_json({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "routes": [
                        ("/circular", circular_controller, {"methods": ["get"]}),
                        ("/ok", lambda req: ("json", {"ok": True}), {"methods": ["get"]}),
                    ]
                }
            ]
        )
    )
    client = TestClient(app, raise_server_exceptions=False)

    assert client.get("/circular").status_code == 500
    assert client.get("/ok").json() == {"ok": True}


def test_the_json_fast_path_leaves_other_returns_to_the_handlers() -> None:
    registry = HandlerRegistry()
    for value in [("json", 200, {}, 1), ("status", 204), ["json", 1], ("json",), "json", None]:
        assert registry.plain_json(value, "GET", None) is None
    registry.register(
        "json", lambda status, headers, payload: PlainTextResponse("mine"), replace=True
    )
    assert registry.plain_json(("json", 1), "GET", None) is None  # the user's handler answers


# --------------------------------------------------------------------------- ok / view


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    (tmp_path / "shop.html").write_text("<p>shop {{ item }}</p>")
    (tmp_path / "login.html").write_text("<form>{{ user }}</form>")
    (tmp_path / "page.txt").write_text("plain {{ item }}")
    return tmp_path


def shop_controller_fn(value: Any) -> Any:
    """A controller whose module is ``app.shop_controller`` (default template shop.html)."""

    def ctrl(req):
        return value

    ctrl.__module__ = "app.shop_controller"
    return ctrl


@pytest.mark.parametrize("tag", ["ok", "view"])
def test_ok_and_view_render_the_default_template(tag: str, templates: Path) -> None:
    client = make_client([("/s", shop_controller_fn((tag, {"item": "pen"})))], templates=templates)

    response = client.get("/s")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "<p>shop pen</p>"


@pytest.mark.parametrize("tag", ["ok", "view"])
def test_view_option_names_another_template(tag: str, templates: Path) -> None:
    value = (tag, {"user": "ann"}, {"view": "login"})
    client = make_client([("/s", shop_controller_fn(value))], templates=templates)

    assert client.get("/s").text == "<form>ann</form>"


def test_view_option_with_an_extension_is_used_as_is(templates: Path) -> None:
    value = ("ok", {"item": "pen"}, {"view": "page.txt"})
    client = make_client([("/s", shop_controller_fn(value))], templates=templates)

    assert client.get("/s").text == "plain pen"


@pytest.mark.parametrize("tag", ["ok", "view"])
def test_view_status_code_option(tag: str, templates: Path) -> None:
    value = (tag, {"item": "x"}, {"status_code": 409})
    client = make_client([("/s", shop_controller_fn(value))], templates=templates)

    response = client.post("/s")

    assert response.status_code == 409
    assert response.text == "<p>shop x</p>"


@pytest.mark.parametrize("tag", ["ok", "view"])
def test_view_headers_option_replaces_the_defaults(tag: str, templates: Path) -> None:
    value = (tag, {"item": "x"}, {"headers": {"x-frame-options": "DENY"}})
    client = make_client([("/s", shop_controller_fn(value))], templates=templates)

    response = client.get("/s")

    assert response.headers["x-frame-options"] == "DENY"
    assert "content-type" not in response.headers  # Nova: headers replace the defaults
    assert response.text == "<p>shop x</p>"


def test_view_all_options_together(templates: Path) -> None:
    value = (
        "view",
        {"user": "<b>"},
        {"view": "login", "status_code": 201, "headers": {"content-type": "text/plain"}},
    )
    client = make_client([("/s", shop_controller_fn(value))], templates=templates)

    response = client.get("/s")

    assert response.status_code == 201
    assert response.headers["content-type"] == "text/plain"
    assert response.text == "<form>&lt;b&gt;</form>"


def test_view_through_the_decorator_on_a_plain_route(templates: Path) -> None:
    app = FastAPI()

    @app.get("/page")
    @controller(templates=templates)
    def page() -> Any:
        return ("ok", {"user": "cy"}, {"view": "login"})

    assert TestClient(app).get("/page").text == "<form>cy</form>"


# --------------------------------------------------------------------------- status


def test_status_code_only_has_an_empty_body() -> None:
    client = make_client([("/s", answering(("status", 418)))])

    response = client.get("/s")

    assert response.status_code == 418
    assert response.content == b""


def test_status_code_and_headers() -> None:
    client = make_client([("/s", answering(("status", 204, {"x-why": "none"})))])

    response = client.get("/s")

    assert response.status_code == 204
    assert response.headers["x-why"] == "none"
    assert response.content == b""


@pytest.mark.parametrize("body", [{"error": "bad"}, [1, {"e": 2}]])
def test_status_with_a_dict_or_list_body_is_json(body: Any) -> None:
    client = make_client([("/s", answering(("status", 400, {}, body)))])

    response = client.get("/s")

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == body


def test_status_json_body_keeps_a_user_content_type() -> None:
    value = ("status", 422, {"content-type": "application/problem+json"}, {"title": "t"})
    client = make_client([("/s", answering(value))])

    response = client.get("/s")

    assert response.headers.get_list("content-type") == ["application/problem+json"]


@pytest.mark.parametrize("body", ["plain text", b"\x00raw bytes"])
def test_status_with_a_str_or_bytes_body_is_sent_as_is(body: str | bytes) -> None:
    client = make_client([("/s", answering(("status", 503, {"x-a": "b"}, body)))])

    response = client.get("/s")

    assert response.status_code == 503
    assert response.content == (body.encode() if isinstance(body, str) else body)
    assert "content-type" not in response.headers  # no default content type (Nova)
    assert response.headers["x-a"] == "b"


# --------------------------------------------------------------------------- redirect


def test_redirect_is_302_with_location() -> None:
    client = make_client([("/old", answering(("redirect", "/new?x=1")))])

    response = client.get("/old", follow_redirects=False)

    assert response.status_code == 302
    assert response.headers["location"] == "/new?x=1"
    assert response.content == b""


# --------------------------------------------------------------------------- sendfile


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789abcdef")
    return path


def test_sendfile_streams_the_slice(data_file: Path) -> None:
    value = ("sendfile", 206, {"x-part": "1"}, (3, 5, str(data_file)), "application/x-demo")
    client = make_client([("/f", answering(value))])

    response = client.get("/f")

    assert response.status_code == 206
    assert response.content == b"34567"
    assert response.headers["content-type"] == "application/x-demo"
    assert response.headers["content-length"] == "5"
    assert response.headers["x-part"] == "1"


def test_sendfile_accepts_a_path_object_and_the_whole_file(data_file: Path) -> None:
    value = ("sendfile", 200, {}, (0, 16, data_file), "text/plain")
    client = make_client([("/f", answering(value))])

    assert client.get("/f").content == b"0123456789abcdef"


def test_sendfile_mime_beats_a_content_type_header(data_file: Path) -> None:
    value = ("sendfile", 200, {"content-type": "text/html"}, (0, 2, str(data_file)), "text/csv")
    client = make_client([("/f", answering(value))])

    assert client.get("/f").headers.get_list("content-type") == ["text/csv"]


def test_sendfile_head_has_headers_and_no_body(data_file: Path) -> None:
    value = ("sendfile", 200, {}, (2, 4, str(data_file)), "text/plain")
    client = make_client([("/f", answering(value))])

    response = client.head("/f")

    assert response.status_code == 200
    assert response.headers["content-length"] == "4"
    assert response.content == b""


@pytest.mark.anyio
async def test_sendfile_sends_no_body_bytes_to_a_head_request(data_file: Path) -> None:
    # An HTTP client drops a HEAD body by itself; the server must not be sent one at all.
    response = _FileSliceResponse(str(data_file), 2, 4, status_code=200, headers={})
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:  # pragma: no cover - never called
        return {"type": "http.disconnect"}

    await response({"type": "http", "method": "HEAD"}, receive, send)

    assert sent[0]["type"] == "http.response.start"
    assert [m.get("body", b"") for m in sent[1:]] == [b""]


def test_sendfile_larger_than_a_chunk(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    payload = bytes(range(256)) * 1024  # 256 KiB, several chunks
    path.write_bytes(payload)
    value = ("sendfile", 200, {}, (100, 200_000, str(path)), "application/octet-stream")
    client = make_client([("/f", answering(value))])

    assert client.get("/f").content == payload[100:200_100]


@pytest.mark.parametrize(
    ("spec", "logged"),
    [
        ((10, 10, None), "past the end"),
        ((0, 1, "missing"), "cannot read"),
        ((0, 1, "."), "not a regular file"),  # a directory: refused before the response starts
    ],
)
def test_sendfile_errors_answer_500_and_log(
    spec: tuple[Any, ...], logged: str, data_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    offset, length, path = spec
    target = str(data_file) if path is None else str(data_file.parent / path)
    client = make_client(
        [("/f", answering(("sendfile", 200, {}, (offset, length, target), "x/y")))]
    )

    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        response = client.get("/f")

    assert response.status_code == 500
    assert logged in caplog.text


# --------------------------------------------------------------------------- Response


def test_a_starlette_response_is_sent_as_is() -> None:
    response_obj = PlainTextResponse("teapot", status_code=418, headers={"x-a": "1"})
    client = make_client([("/r", answering(response_obj))])

    response = client.get("/r")

    assert response.status_code == 418
    assert response.text == "teapot"
    assert response.headers["x-a"] == "1"


def test_a_response_from_a_fastapi_style_controller_is_sent_as_is() -> None:
    app = FastAPI()

    @app.get("/r")
    @controller
    async def r() -> Any:
        return JSONResponse({"raw": True}, status_code=203)

    response = TestClient(app).get("/r")

    assert response.status_code == 203
    assert response.json() == {"raw": True}


# --------------------------------------------------------------------------- malformed built-ins


@pytest.mark.parametrize(
    "value",
    [
        ("json",),
        ("json", 200, {}),
        ("json", "200", {}, {}),
        ("json", 200, "x-a: 1", {}),
        ("json", 200, {"x-a": None}, {}),
        ("ok",),
        ("ok", "not a dict"),
        ("ok", {}, {"unknown": 1}),
        ("ok", {}, {"view": 3}),
        ("status",),
        ("status", 99),
        ("status", 600),
        ("status", True),
        ("status", 200, {}, 3.5),
        ("status", 200, {}, "b", "extra"),
        ("redirect",),
        ("redirect", b"/bytes"),
        ("sendfile", 200, {}, (0, 1), "text/plain"),
        ("sendfile", 200, {}, (-1, 1, "/x"), "text/plain"),
        ("sendfile", 200, {}, (0, 1, "/x"), None),
    ],
    ids=repr,
)
def test_malformed_builtin_returns_answer_500_and_log_the_value(
    value: tuple[Any, ...], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client([("/bad", answering(value))])

    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        response = client.get("/bad")

    assert response.status_code == 500
    assert repr(value) in caplog.text


# --------------------------------------------------------------------------- custom handlers


def xml(status_code: int, extra_headers: dict[str, str], payload: Any) -> Response:
    return Response(
        f"<v>{payload}</v>",
        status_code=status_code,
        headers={"content-type": "application/xml", **extra_headers},
    )


async def async_xml(status_code: int, extra_headers: dict[str, str], payload: Any) -> Response:
    return xml(status_code, extra_headers, payload)


@pytest.mark.parametrize("fn", [xml, async_xml], ids=["sync", "async"])
def test_custom_handler_short_form(fn: Any) -> None:
    register_handler("xml", fn)
    client = make_client([("/x", answering(("xml", "hi")))])

    response = client.post("/x")

    assert response.status_code == 200  # not 201: that is json's rule
    assert response.headers["content-type"] == "application/xml"
    assert response.text == "<v>hi</v>"


@pytest.mark.parametrize("fn", [xml, async_xml], ids=["sync", "async"])
def test_custom_handler_long_form(fn: Any) -> None:
    register_handler("xml", fn)
    client = make_client([("/x", answering(("xml", 202, {"x-id": "7"}, "later")))])

    response = client.get("/x")

    assert response.status_code == 202
    assert response.headers["x-id"] == "7"
    assert response.text == "<v>later</v>"


def test_custom_handler_receives_exactly_status_headers_payload() -> None:
    calls: list[tuple[Any, ...]] = []

    def spy(status_code: int, extra_headers: dict[str, str], payload: Any) -> Response:
        calls.append((status_code, extra_headers, payload))
        return Response(status_code=204)

    register_handler("spy", spy)
    client = make_client(
        [
            ("/short", answering(("spy", {"p": 1}))),
            ("/long", answering(("spy", 409, [("x-a", "b")], [1]))),
        ]
    )

    client.get("/short")
    client.get("/long")

    assert calls == [(200, {}, {"p": 1}), (409, {"x-a": "b"}, [1])]


def test_custom_handler_wrong_arity_and_bad_return_answer_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    register_handler("xml", xml)
    register_handler("broken", lambda status, headers, payload: "not a response")
    client = make_client(
        [
            ("/arity", answering(("xml", 200, "x"))),
            ("/broken", answering(("broken", 1))),
        ]
    )

    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        assert client.get("/arity").status_code == 500
        assert client.get("/broken").status_code == 500

    assert "('xml', 200, 'x')" in caplog.text
    assert "handler 'broken'" in caplog.text and "must return a Response" in caplog.text


def test_registering_a_taken_name_raises() -> None:
    register_handler("xml", xml)

    with pytest.raises(
        HandlerExistsError,
        match=r"^handler 'xml' is already registered; call unregister_handler\('xml'\) first "
        r"or pass replace=True$",
    ):
        register_handler("xml", async_xml)


def test_builtin_names_are_taken_too() -> None:
    with pytest.raises(HandlerExistsError, match="handler 'json' is already registered"):
        register_handler("json", xml)


def test_handler_exists_error_is_a_key_error_with_a_readable_message() -> None:
    register_handler("xml", xml)
    with pytest.raises(KeyError) as info:
        register_handler("xml", xml)
    assert str(info.value).startswith("handler 'xml'")  # not KeyError's quoted repr


def test_replace_true_replaces_the_handler() -> None:
    register_handler("xml", xml)

    register_handler("xml", lambda status, headers, payload: PlainTextResponse("new"), replace=True)
    client = make_client([("/x", answering(("xml", "hi")))])

    assert client.get("/x").text == "new"


def test_unregister_handler() -> None:
    register_handler("xml", xml)

    assert unregister_handler("xml") is True
    assert unregister_handler("xml") is False
    assert "xml" not in default_registry
    register_handler("xml", xml)  # free again


def test_unregistered_tag_then_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    register_handler("xml", xml)
    client = make_client([("/x", answering(("xml", "hi")))])
    assert client.get("/x").status_code == 200

    unregister_handler("xml")
    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        assert client.get("/x").status_code == 500
    assert "no handler is registered for 'xml'" in caplog.text


def test_isolated_registry_does_not_see_the_default_ones_handlers() -> None:
    register_handler("xml", xml)
    isolated = HandlerRegistry()

    assert "xml" in default_registry
    assert "xml" not in isolated
    assert {"json", "ok", "view", "status", "redirect", "sendfile"} <= set(isolated)

    client = make_client([("/x", answering(("xml", "hi")))], registry=isolated)
    assert client.get("/x").status_code == 500


def test_registrations_in_an_isolated_registry_stay_there() -> None:
    isolated = HandlerRegistry()
    register_handler("csv", xml, registry=isolated)
    isolated.register("json", lambda s, h, p: PlainTextResponse("mine"), replace=True)

    assert "csv" in isolated and "csv" not in default_registry
    client = make_client([("/j", answering(("json", 1)))], registry=isolated)
    assert client.get("/j").text == "mine"
    default_client = make_client([("/j", answering(("json", 1)))])
    assert default_client.get("/j").json() == 1
    assert unregister_handler("csv", registry=isolated) is True


def test_decorator_takes_a_registry() -> None:
    isolated = HandlerRegistry()
    isolated.register("xml", xml)
    app = FastAPI()

    @app.get("/x")
    @controller(registry=isolated)
    def x() -> Any:
        return ("xml", "d")

    assert TestClient(app).get("/x").text == "<v>d</v>"


@pytest.mark.parametrize(
    ("name", "fn", "message"),
    [
        ("", xml, "handler name must be a non-empty str, got ''"),
        (3, xml, "handler name must be a non-empty str, got 3"),
        ("x", "nope", "handler 'x' must be callable, got 'nope'"),
    ],
)
def test_register_rejects_bad_arguments(name: Any, fn: Any, message: str) -> None:
    with pytest.raises(TypeError, match=f"^{message}$"):
        HandlerRegistry().register(name, fn)
