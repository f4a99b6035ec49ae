"""NovaRequest, what a Nova-style controller receives, and controller-style detection.

Nova hands controllers the cowboy request map with `bindings`, `json`, `params` and
`auth_data` filled in. [`NovaRequest`][fastapi_nova.request.NovaRequest] is that map as a Python
object: the request is parsed *before* the controller runs, so a plain `def` controller can read
`req.json`.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, UploadFile
from starlette.requests import HTTPConnection, Request
from starlette.types import Scope

from fastapi_nova._fastapi_compat import consumed_form, form_limits, response_exit_stack
from fastapi_nova.errors import BodyError

# Where per-request state lives in the ASGI scope: shared by every Request object built from
# the same scope (FastAPI builds its own), and out of the way of the user's `request.state`.
_SCOPE_KEY = "fastapi_nova"

_JSON_TYPES = ("application/json",)

#: The path parameter a trailing `[...]` becomes.
_WILDCARD_PARAM = "pathinfo"


class NovaRequest:
    """The request as a Nova-style controller or security function sees it.

    Attributes mirror Nova's request map: `method`, `path`, `bindings` (path bindings),
    `qs` (raw query string), `parsed_qs`, `headers`, `body` (bytes), `json`
    (decoded body when the content type is JSON), `params` (decoded form), `auth_data`
    (what security returned), `pathinfo` (the segments a trailing `[...]` matched),
    `status_code` (set for status-page controllers) and `request` (the Starlette
    request or WebSocket).
    """

    __slots__ = (
        "request",
        "bindings",
        "body",
        "json",
        "params",
        "auth_data",
        "status_code",
        "pathinfo",
        "body_error",
        "_parsed_qs",
    )

    def __init__(
        self,
        request: HTTPConnection,
        *,
        bindings: Mapping[str, str] | None = None,
        body: bytes = b"",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        auth_data: Any = None,
        status_code: int | None = None,
        pathinfo: list[str] | None = None,
    ) -> None:
        self.request = request
        self.bindings: dict[str, str] = dict(bindings or {})
        self.body = body
        self.json = json
        self.params: dict[str, Any] = dict(params or {})
        self.auth_data = auth_data
        self.status_code = status_code
        self.pathinfo: list[str] = list(pathinfo or [])
        self.body_error: BodyError | None = None
        self._parsed_qs: dict[str, str] | None = None

    @classmethod
    def _matched(
        cls, request: HTTPConnection, bindings: dict[str, str], pathinfo: list[str], auth_data: Any
    ) -> NovaRequest:
        # __init__ without its keyword handling and defensive copies (the containers are
        # new): one of these is built on every request. Every slot is set, as __init__ does.
        self = cls.__new__(cls)
        self.request = request
        self.bindings = bindings
        self.body = b""
        self.json = None
        self.params = {}
        self.auth_data = auth_data
        self.status_code = None
        self.pathinfo = pathinfo
        self.body_error = None
        self._parsed_qs = None
        return self

    @property
    def method(self) -> str:
        """The HTTP method, upper case (`"GET"` for a WebSocket upgrade)."""
        return str(self.request.scope.get("method", "GET"))

    @property
    def path(self) -> str:
        """The request path, without the query string."""
        return str(self.request.scope["path"])

    @property
    def qs(self) -> str:
        """The raw query string."""
        return bytes(self.request.scope.get("query_string", b"")).decode("latin-1")

    @property
    def parsed_qs(self) -> dict[str, str]:
        """The query string as a dict (the last value wins for a repeated key)."""
        if self._parsed_qs is None:
            self._parsed_qs = dict(parse_qsl(self.qs, keep_blank_values=True))
        return self._parsed_qs

    @property
    def headers(self) -> Headers:
        """The request headers (case-insensitive)."""
        return self.request.headers

    @property
    def cookies(self) -> dict[str, str]:
        """The request cookies."""
        return self.request.cookies

    def __repr__(self) -> str:
        return f"<NovaRequest {self.method} {self.path} bindings={self.bindings!r}>"


def _has_body(request: Request) -> bool:
    # One pass over the raw ASGI headers (names are lower case there): building Headers and
    # missing a key in it costs more than the rest of a small request's parsing.
    chunked = False
    for name, value in request.scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            chunked = True
    # HTTP/1.x announces a body with one of these headers; HTTP/2 and 3 need neither.
    return chunked or request.scope.get("http_version", "1.1") not in ("1.0", "1.1")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def _is_form(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/x-www-form-urlencoded", "multipart/form-data")


def _path_bindings(conn: HTTPConnection) -> tuple[dict[str, str], list[str]]:
    """Split matched path parameters into Nova bindings and the wildcard remainder."""
    bindings: dict[str, str] = {}
    pathinfo: list[str] = []
    params = conn.scope.get("path_params")
    if not params:
        return bindings, pathinfo
    if len(params) == 1:  # the commonest route (`/users/:id`): no loop
        ((key, value),) = params.items()
        if key != _WILDCARD_PARAM:
            bindings[key] = value if type(value) is str else str(value)
            return bindings, pathinfo
    for key, value in params.items():
        if key == _WILDCARD_PARAM:
            pathinfo = [segment for segment in str(value).split("/") if segment]
        else:
            bindings[key] = str(value)
    return bindings, pathinfo


def _ready_nova_request(conn: HTTPConnection) -> NovaRequest | None:
    """The request's NovaRequest when it needs no awaiting (built before, or no body to read);
    None when the body must be read first: then `_build_nova_request`.

    A plain function: most requests have no body, and this spares them a coroutine.
    """
    scope = conn.scope
    state = scope.get(_SCOPE_KEY)
    if state is not None:
        cached = state.get("nova_request")
        if cached is not None:
            return typing.cast(NovaRequest, cached)
    if isinstance(conn, Request) and _has_body(conn):
        return None
    if state is None:
        state = scope[_SCOPE_KEY] = {}
    bindings, pathinfo = _path_bindings(conn)
    nreq = state["nova_request"] = NovaRequest._matched(
        conn, bindings, pathinfo, state.get("auth_data")
    )
    return nreq


async def _build_nova_request(conn: HTTPConnection) -> NovaRequest:
    """Build (once per request) the NovaRequest for `conn`, reading and parsing the body.

    A body that cannot be parsed does not raise here: it is recorded in `body_error` so that
    security still runs first and the 400 comes after it.
    """
    nreq = _ready_nova_request(conn)
    if nreq is not None:
        return nreq
    assert isinstance(conn, Request)  # only a Request has a body to read
    state = conn.scope.setdefault(_SCOPE_KEY, {})
    bindings, pathinfo = _path_bindings(conn)
    nreq = NovaRequest._matched(conn, bindings, pathinfo, state.get("auth_data"))
    await _read_body(conn, nreq)
    state["nova_request"] = nreq
    return nreq


def _forget_nova_request(scope: Scope) -> None:
    """Drop the request's NovaRequest from its scope once the response is built.

    The scope holds the NovaRequest, which holds its `Request`, which holds the scope: a
    reference cycle that kept every request's objects (the scope, FastAPI's exit stack, the
    send wrappers) alive until the cyclic garbage collector ran, about 15 objects a request.
    Without the cycle they are freed as soon as the request ends.
    """
    state = scope.get(_SCOPE_KEY)
    if state is not None:
        state.pop("nova_request", None)


def _websocket_nova_request(websocket: HTTPConnection) -> NovaRequest:
    """`_build_nova_request` for a WebSocket upgrade, which has no body to read: a plain
    call, so the connection's await chain has no frame for it (issue 11)."""
    state = websocket.scope.setdefault(_SCOPE_KEY, {})
    cached = state.get("nova_request")
    if cached is not None:
        return typing.cast(NovaRequest, cached)
    bindings, pathinfo = _path_bindings(websocket)
    nreq = NovaRequest(
        websocket, bindings=bindings, pathinfo=pathinfo, auth_data=state.get("auth_data")
    )
    state["nova_request"] = nreq
    return nreq


async def _read_body(request: Request, nreq: NovaRequest) -> None:
    headers = request.headers
    try:
        nreq.body = await request.body()
    except RuntimeError:
        # FastAPI consumed the stream for its own form parsing; reuse what it parsed.
        form = consumed_form(request)
        if form is not None:
            nreq.params = dict(form.items())
        return
    content_type = headers.get("content-type", "")
    if _is_json(content_type):
        if nreq.body.strip():
            try:
                nreq.json = json.loads(nreq.body)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                nreq.body_error = BodyError(f"Invalid JSON body: {exc}")
    elif _is_form(content_type):
        try:
            # Under FastAPI's form limits, as its own Form/File parameters are.
            form = await request.form(**form_limits(request.scope))
        except Exception as exc:  # python-multipart raises several types for broken bodies
            detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
            nreq.body_error = BodyError(f"Invalid form body: {detail}")
            return
        _close_after_response(request, form.close)
        nreq.params = {
            key: value for key, value in form.items() if isinstance(value, str | UploadFile)
        }


def _close_after_response(request: Request, close: Callable[[], Awaitable[None]]) -> None:
    """Close uploaded files once the response is sent, on the stack FastAPI uses for its own."""
    stack = response_exit_stack(request.scope)
    if stack is not None:
        stack.push_async_callback(close)


def _auth_data_of(conn: HTTPConnection) -> Any:
    """What the group's security function returned with `(True, auth_data)`, or None."""
    state = conn.scope.get(_SCOPE_KEY)
    return None if state is None else state.get("auth_data")


def _set_auth_data(conn: HTTPConnection, auth_data: Any) -> None:
    """Record the security function's auth data for this request."""
    state = conn.scope.setdefault(_SCOPE_KEY, {})
    state["auth_data"] = auth_data
    nreq = state.get("nova_request")
    if nreq is not None:
        nreq.auth_data = auth_data


def _resolved_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """`fn`'s signature with string annotations resolved to real objects.

    FastAPI reads annotations at runtime from the wrapper's globals, not the user's module,
    so a decorator must hand it resolved objects (`from __future__ import annotations`).
    """
    signature = inspect.signature(fn)
    target: Any = inspect.unwrap(fn)
    while isinstance(target, functools.partial):
        target = inspect.unwrap(target.func)
    if inspect.ismethod(target):
        target = target.__func__
    if not inspect.isfunction(target):
        target = None if inspect.isroutine(target) else type(target).__call__
    hints: dict[str, Any] = {}
    if target is not None:
        try:
            hints = typing.get_type_hints(target, include_extras=True)
        except Exception:  # unresolvable names stay as written; FastAPI reports them
            hints = {}
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]
    return signature.replace(
        parameters=params, return_annotation=hints.get("return", signature.return_annotation)
    )


def _is_nova_style(fn: Callable[..., Any]) -> bool:
    """True for a Nova-style callable: exactly one parameter, unannotated or `NovaRequest`."""
    try:
        params = list(_resolved_signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if len(params) != 1:
        return False
    param = params[0]
    if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
        return False
    annotation = param.annotation
    return (
        annotation is inspect.Parameter.empty
        or annotation is NovaRequest
        or (annotation == "NovaRequest")
    )


def _callable_name(fn: Any) -> str:
    """A readable `module.qualname` for logs and error messages."""
    module = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        name = type(fn).__qualname__
    return f"{module}.{name}"
