"""NovaRequest: what a Nova-style controller receives, and controller-style detection."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.testclient import TestClient

from fastapi_nova import NovaRequest, NovaRouter
from fastapi_nova.request import _is_nova_style


def make_client(routes: list[Any], **group: Any) -> TestClient:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": routes, **group}]))
    return TestClient(app)


class Recorder:
    """A Nova-style controller that keeps the request it received."""

    def __init__(self, answer: Any = ("status", 204)) -> None:
        self.requests: list[NovaRequest] = []
        self.answer = answer

    def __call__(self, req):
        self.requests.append(req)
        return self.answer

    @property
    def last(self) -> NovaRequest:
        assert self.requests, "the controller did not run"
        return self.requests[-1]


# --------------------------------------------------------------------------- fields


def test_fields_of_a_get_request() -> None:
    rec = Recorder()
    client = make_client([("/users/:id/posts/:post", rec, {"methods": ["get"]})])

    response = client.get("/users/42/posts/7?sort=asc&tag=a&tag=b&empty=", headers={"X-Token": "t"})

    assert response.status_code == 204
    req = rec.last
    assert isinstance(req, NovaRequest)
    assert req.method == "GET"
    assert req.path == "/users/42/posts/7"
    assert req.bindings == {"id": "42", "post": "7"}
    assert req.qs == "sort=asc&tag=a&tag=b&empty="
    assert req.parsed_qs == {"sort": "asc", "tag": "b", "empty": ""}
    assert req.headers["x-token"] == "t"
    assert req.body == b""
    assert req.json is None
    assert req.params == {}
    assert req.auth_data is None
    assert req.pathinfo == []
    assert req.status_code is None
    assert isinstance(req.request, Request)
    assert req.request.url.path == "/users/42/posts/7"
    assert "GET /users/42/posts/7" in repr(req)


def test_json_body_is_parsed_before_a_sync_controller_runs() -> None:
    rec = Recorder(("json", {"ok": True}))
    client = make_client([("/items", rec, {"methods": ["post"]})])

    response = client.post("/items", json={"name": "pen", "tags": [1, 2]})

    assert response.status_code == 201
    assert rec.last.method == "POST"
    assert rec.last.json == {"name": "pen", "tags": [1, 2]}
    assert rec.last.body == b'{"name":"pen","tags":[1,2]}'


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x+json",
        "application/vnd.api+json",
        "APPLICATION/JSON",
    ],
)
def test_json_is_parsed_for_json_content_types(content_type: str) -> None:
    rec = Recorder()
    client = make_client([("/j", rec)])

    client.post("/j", content=b'{"a": [1]}', headers={"content-type": content_type})

    assert rec.last.json == {"a": [1]}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/octet-stream", "text/json-ish"]
)
def test_other_content_types_keep_the_raw_body_and_no_json(content_type: str) -> None:
    rec = Recorder()
    client = make_client([("/j", rec)])

    response = client.post("/j", content=b'{"a": 1}', headers={"content-type": content_type})

    assert response.status_code == 204  # the controller ran
    assert rec.last.json is None
    assert rec.last.body == b'{"a": 1}'
    assert rec.last.params == {}


def test_empty_json_body_is_none_not_an_error() -> None:
    rec = Recorder()
    client = make_client([("/j", rec)])

    response = client.post("/j", content=b"", headers={"content-type": "application/json"})

    assert response.status_code == 204
    assert rec.last.json is None


def test_unparseable_json_answers_400_before_the_controller_runs() -> None:
    rec = Recorder()
    client = make_client([("/j", rec)])

    response = client.post("/j", content=b'{"a": ', headers={"content-type": "application/json"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"].startswith("Invalid JSON body")
    assert rec.requests == []


@pytest.mark.parametrize(
    "body", [b"[" * 100_000, b"1" * 5_000, b'"\xff"'], ids=["deep", "long", "utf8"]
)
def test_json_too_deep_or_too_long_answers_400_not_500(body: bytes) -> None:
    rec = Recorder()
    client = make_client([("/j", rec)])

    response = client.post("/j", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid JSON body")
    assert rec.requests == []


@pytest.mark.anyio
async def test_an_http2_body_without_content_length_is_read() -> None:
    # HTTP/2 ends a body with the stream; content-length is optional there.
    rec = Recorder(("status", 204))
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": [("/j", rec)]}]))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "POST",
        "scheme": "https",
        "path": "/j",
        "raw_path": b"/j",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 443),
    }
    chunks = [
        {"type": "http.request", "body": b'{"a": ', "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)

    assert sent[0]["status"] == 204
    assert rec.last.json == {"a": 1}
    assert rec.last.body == b'{"a": 1}'


def test_urlencoded_form_goes_to_params() -> None:
    rec = Recorder()
    client = make_client([("/f", rec)])

    client.post("/f", data={"user": "ann", "age": "7"})

    assert rec.last.params == {"user": "ann", "age": "7"}
    assert rec.last.json is None
    assert rec.last.body == b"user=ann&age=7"


def test_multipart_form_with_a_file_goes_to_params() -> None:
    seen: dict[str, Any] = {}

    async def upload(req):
        upload_file = req.params["doc"]
        seen["type"] = type(upload_file)
        seen["filename"] = upload_file.filename
        seen["content"] = await upload_file.read()
        seen["title"] = req.params["title"]
        seen["file"] = upload_file.file
        return ("status", 204)

    client = make_client([("/upload", upload)])

    response = client.post(
        "/upload", data={"title": "report"}, files={"doc": ("r.txt", b"hello file", "text/plain")}
    )

    assert response.status_code == 204
    assert issubclass(seen["type"], UploadFile)
    assert seen == {**seen, "filename": "r.txt", "content": b"hello file", "title": "report"}
    assert seen["file"].closed  # uploaded files are closed once the response is sent


def test_broken_multipart_answers_400_before_the_controller_runs() -> None:
    rec = Recorder()
    client = make_client([("/upload", rec)])

    response = client.post(
        "/upload",
        content=b"this is not multipart",
        headers={"content-type": "multipart/form-data"},  # no boundary
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid form body")
    assert rec.requests == []


@pytest.mark.parametrize("where", ["app", "include_router", "NovaRouter"])
@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_fastapis_form_limits_apply_to_a_nova_form_body(where: str, kind: str) -> None:
    # FastAPI's form limits (FastAPI 0.165: app, router or include_router) bound its own
    # form parsing; a Nova route parses the form for req.params, under the same limits.
    rec = Recorder()
    limits = {"form_limits": {"max_fields": 2}}
    app = FastAPI(**(limits if where == "app" else {}))
    router = NovaRouter([{"routes": [("/f", rec)]}], **(limits if where == "NovaRouter" else {}))
    app.include_router(router, **(limits if where == "include_router" else {}))
    client = TestClient(app)
    fields = {"a": "1", "b": "2", "c": "3"}

    for _ in range(2):  # the first request, then the inclusion's later ones
        if kind == "urlencoded":
            response = client.post("/f", data=fields)
        else:
            response = client.post("/f", data=fields, files={"doc": ("d.txt", b"x")})

        assert response.status_code == 400
        assert response.json()["detail"].startswith("Invalid form body: Too many fields")
    assert rec.requests == []
    fewer = {"a": "1", "b": "2"}
    assert client.post("/f", data=fewer).status_code == 204
    assert rec.last.params == fewer


def test_pathinfo_holds_the_segments_of_a_trailing_wildcard() -> None:
    rec = Recorder()
    client = make_client([("/files/:bucket/[...]", rec, {"methods": ["get"]})])

    client.get("/files/b1/a/b/c.txt")

    assert rec.last.bindings == {"bucket": "b1"}
    assert rec.last.pathinfo == ["a", "b", "c.txt"]


def test_auth_data_comes_from_security() -> None:
    rec = Recorder()
    client = make_client([("/me", rec)], security=lambda req: (True, {"user": "ann"}))

    client.get("/me")

    assert rec.last.auth_data == {"user": "ann"}


def test_the_same_request_object_reaches_security_and_controller() -> None:
    seen: list[NovaRequest] = []

    def security(req):
        seen.append(req)
        return True

    rec = Recorder()
    client = make_client([("/x", rec)], security=security)

    client.post("/x", json={"a": 1})

    assert seen[0] is rec.last
    assert seen[0].json == {"a": 1}


def test_cookies_are_readable() -> None:
    rec = Recorder()
    client = make_client([("/c", rec)])
    client.cookies.set("session", "abc")

    client.get("/c")

    assert rec.last.cookies == {"session": "abc"}


def test_a_request_built_per_route_has_every_field_the_constructor_sets() -> None:
    # build_nova_request skips __init__'s keyword handling (it runs on every request): a
    # field added to __init__ but not there would be missing on every routed request.
    conn = Request({"type": "http", "method": "GET", "path": "/u/1", "headers": []})
    routed = NovaRequest._matched(conn, {"id": "1"}, ["a"], {"user": "ann"})
    built = NovaRequest(conn, bindings={"id": "1"}, pathinfo=["a"], auth_data={"user": "ann"})

    for name in NovaRequest.__slots__:
        assert getattr(routed, name) == getattr(built, name), name


# --------------------------------------------------------------------------- style detection


def _untyped(req):
    return req


def _typed(req: NovaRequest) -> Any:
    return req


def _two(a, b):
    return a, b


def _zero() -> None:
    return None


def _fastapi_int(id: int) -> Any:
    return id


def _fastapi_request(request: Request) -> Any:
    return request


def _fastapi_model(item: Item) -> Any:  # a string annotation resolved at check time
    return item


def _fastapi_depends(user: Annotated[Any, Depends(_zero)]) -> Any:
    return user


def _kw_only(*, req):
    return req


def _var_args(*args):
    return args


class Item(BaseModel):
    name: str


class CallableNova:
    def __call__(self, req):
        return req


class CallableTyped:
    def __call__(self, req: NovaRequest) -> Any:
        return req


class CallableFastAPI:
    def __call__(self, id: int) -> Any:
        return id


NOVA_STYLE: list[Callable[..., Any]] = [
    lambda req: req,
    _untyped,
    _typed,  # annotated NovaRequest, as a string under `from __future__ import annotations`
    CallableNova(),
    CallableTyped(),
    functools.partial(_two, 1),
]
FASTAPI_STYLE: list[Callable[..., Any]] = [
    _zero,
    lambda: None,
    _two,
    _fastapi_int,
    _fastapi_request,
    _fastapi_model,
    _fastapi_depends,
    _kw_only,
    _var_args,
    CallableFastAPI(),
]


@pytest.mark.parametrize("fn", NOVA_STYLE, ids=repr)
def test_nova_style_callables_are_detected(fn: Callable[..., Any]) -> None:
    assert _is_nova_style(fn)


@pytest.mark.parametrize("fn", FASTAPI_STYLE, ids=repr)
def test_fastapi_style_callables_are_not_nova_style(fn: Callable[..., Any]) -> None:
    assert not _is_nova_style(fn)


def test_string_annotation_is_really_a_string_here() -> None:
    # The NovaRequest case above is only meaningful if the annotation is a string.
    assert _typed.__annotations__["req"] == "NovaRequest"


def test_unresolvable_string_annotation_naming_novarequest_is_nova_style() -> None:
    namespace: dict[str, Any] = {}
    exec(  # a module that never imported NovaRequest
        "from __future__ import annotations\ndef f(req: NovaRequest):\n    return req\n",
        namespace,
    )
    assert _is_nova_style(namespace["f"])


def test_not_a_callable_signature_is_not_nova_style() -> None:
    assert not _is_nova_style(print)  # builtins may have no signature; must not raise


def test_typed_and_callable_object_controllers_receive_a_novarequest() -> None:
    typed_seen: list[Any] = []

    def typed(req: NovaRequest) -> Any:
        typed_seen.append(req)
        return ("json", {"id": req.bindings["id"]})

    client = make_client(
        [
            ("/typed/:id", typed, {"methods": ["get"]}),
            ("/obj/:id", CallableNovaController(), {"methods": ["get"]}),
        ]
    )

    assert client.get("/typed/1").json() == {"id": "1"}
    assert isinstance(typed_seen[0], NovaRequest)
    assert client.get("/obj/2").json() == {"obj": "2"}


class CallableNovaController:
    async def __call__(self, req):
        return ("json", {"obj": req.bindings["id"]})


def test_fastapi_style_controller_in_a_router_gets_fastapi_parameters() -> None:
    def show(id: int, q: str = "none") -> Any:
        return ("json", {"id": id, "q": q})

    client = make_client([("/show/:id", show, {"methods": ["get"]})])

    assert client.get("/show/5?q=x").json() == {"id": 5, "q": "x"}
    assert client.get("/show/abc").status_code == 422  # FastAPI's own validation


class Note(BaseModel):
    text: str


class NotesController:
    """Controllers as methods, in a module with postponed (string) annotations."""

    def create(self, note: Note, tag: str = "none") -> Any:
        return ("json", {"text": note.text, "tag": tag})

    def create_tagged(self, tag: str, note: Note) -> Any:
        return ("json", {"text": note.text, "tag": tag})


def test_method_and_partial_controllers_have_their_string_annotations_resolved() -> None:
    notes = NotesController()
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {
                    "routes": [
                        ("/method", notes.create, {"methods": ["post"]}),
                        (
                            "/partial",
                            functools.partial(notes.create_tagged, "p"),
                            {"methods": ["post"]},
                        ),
                    ]
                }
            ]
        )
    )
    client = TestClient(app)

    assert client.post("/method?tag=t", json={"text": "a"}).json() == {"text": "a", "tag": "t"}
    assert client.post("/partial", json={"text": "b"}).json() == {"text": "b", "tag": "p"}
    body = app.openapi()["paths"]["/method"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Note"}


def test_zero_parameter_controller_is_called_without_arguments() -> None:
    client = make_client([("/ping", lambda: ("json", "pong"), {"methods": ["get"]})])

    assert client.get("/ping").json() == "pong"
