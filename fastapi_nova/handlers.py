"""The handler registry: the first element of a controller's tuple names the handler.

Built-ins are Nova's: `json`, `ok`, `view`, `status`, `redirect`, `sendfile`.
Users add their own with [`register_handler`][fastapi_nova.handlers.register_handler], whose
function has the seed article's contract `fn(status_code, extra_headers, payload) -> Response`.
"""

from __future__ import annotations

import inspect
import os
import stat
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from fastapi_nova._shapes import (
    body_bytes,
    encode_json,
    parse_headers,
    parse_status,
    with_default,
)
from fastapi_nova.errors import HandlerExistsError, _HandlerError, _InvalidReturn
from fastapi_nova.request import NovaRequest
from fastapi_nova.templates import _default_view, _template_name, _TemplateFinder

HandlerFunction = Callable[[int, dict[str, str], Any], "Response | Awaitable[Response]"]
"""`fn(status_code, extra_headers, payload) -> Response` (sync or async)."""

_StatusPageRenderer = Callable[[int, dict[str, str]], Awaitable["Response | None"]]


@dataclass
class _HandlerContext:
    """What a handler may need besides the tuple: the request and the controller."""

    request: NovaRequest | None
    method: str
    controller: Callable[..., Any] | None
    templates: _TemplateFinder
    #: Status for tuples that carry none (a status page's code, a route's `status_code`).
    status_override: int | None = None
    #: Renders the router's status page for a code, if there is one.
    status_page: _StatusPageRenderer | None = None


class _Converter(Protocol):
    """Internal form of a handler: the whole tuple in, a response out."""

    async def __call__(self, value: tuple[Any, ...], ctx: _HandlerContext) -> Response: ...


# --------------------------------------------------------------------------- built-ins


async def _json(value: tuple[Any, ...], ctx: _HandlerContext) -> Response:
    if len(value) == 2:
        default = 201 if ctx.method == "POST" else 200
        return _json_response(encode_json(value[1]), ctx.status_override or default)
    if len(value) != 4:
        raise _InvalidReturn(f"json takes (json, data) or (json, status, headers, data): {value!r}")
    status, headers = parse_status(value[1], value), parse_headers(value[2], value)
    with_default(headers, "content-type", "application/json")
    return Response(encode_json(value[3]), status_code=status, headers=headers)


class _JsonBody(Response):
    """A JSON body with the headers `Response(body, status, {"content-type":
    "application/json"})` sends, in its order (content-type, content-length), set directly.

    `("json", data)` is the commonest return there is; Response's general header
    normalisation was a tenth of a Nova route's time. Only for statuses that carry a
    content-length (_json_response decides).
    """

    def __init__(self, body: bytes, status_code: int) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
        ]


def _json_response(body: bytes, status: int) -> Response:
    """The response to `("json", data)` once `data` is encoded: `body` as JSON."""
    if status < 200 or status in (204, 304):  # Starlette sends no content-length for these
        return Response(body, status_code=status, headers={"content-type": "application/json"})
    return _JsonBody(body, status)


async def _view(value: tuple[Any, ...], ctx: _HandlerContext) -> Response:
    if len(value) not in (2, 3):
        raise _InvalidReturn(f"{value[0]} takes ({value[0]}, vars) or ({value[0]}, vars, options)")
    variables = value[1]
    if not isinstance(variables, Mapping):
        raise _InvalidReturn(f"template variables must be a dict, got {variables!r}")
    options: Mapping[str, Any] = value[2] if len(value) == 3 else {}
    if not isinstance(options, Mapping) or set(options) - {"view", "status_code", "headers"}:
        raise _InvalidReturn(
            f"template options are a dict with view, status_code, headers; got {options!r}"
        )
    if "view" in options:
        if not isinstance(options["view"], str):
            raise _InvalidReturn(f"view must be a template name, got {options['view']!r}")
        name = _template_name(options["view"])
    elif ctx.controller is not None:
        name = _default_view(ctx.controller)
    else:
        raise _InvalidReturn("no controller to derive the default template from; pass view")
    status = (
        parse_status(options["status_code"], value)
        if "status_code" in options
        else ctx.status_override or 200
    )
    if "headers" in options:  # Nova: headers replace the defaults entirely
        headers = parse_headers(options["headers"], value)
    else:
        headers = {"content-type": "text/html; charset=utf-8"}
    html = _is_html(headers)
    body = ctx.templates.render(name, variables, html=html)
    return Response(body, status_code=status, headers=headers)


#: Media types a browser renders as markup (and runs scripts in); "" is no content type.
_HTML_TYPES = frozenset(
    {"", "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml"}
)


def _is_html(headers: Mapping[str, str]) -> bool:
    """Whether a view answers HTML (its variables are then escaped whatever the template).

    No content type counts as HTML: a browser sniffs such a body and may run its scripts.
    """
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _HTML_TYPES


async def _status_handler(value: tuple[Any, ...], ctx: _HandlerContext) -> Response:
    if len(value) not in (2, 3, 4):
        raise _InvalidReturn(f"status takes (status, code[, headers[, body]]), got {value!r}")
    status = parse_status(value[1], value)
    headers = parse_headers(value[2], value) if len(value) >= 3 else {}
    if len(value) == 4:
        body = None if value[3] is None else body_bytes(value[3], headers)
        return Response(body, status_code=status, headers=headers)
    if ctx.status_page is not None:
        page = await ctx.status_page(status, headers)
        if page is not None:
            return page
    return Response(status_code=status, headers=headers)


#: Characters a Location keeps as they are: Starlette's RedirectResponse's set, so an URL that
#: is already encoded (`%20`) or has a query and fragment goes out unchanged.
_LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;"


def _redirect_location(url: str) -> str:
    """The `Location` value for `url`: percent-encoded as Starlette's RedirectResponse does.

    CR or LF is refused (HandlerError, a logged 500): in a redirect target it can only be
    an attempt at header injection, carried in from user input.
    """
    if "\r" in url or "\n" in url:
        raise _HandlerError(f"redirect URL contains CR or LF, refused: {url!r}")
    return quote(url, safe=_LOCATION_SAFE)


async def _redirect(value: tuple[Any, ...], ctx: _HandlerContext) -> Response:
    if len(value) != 2 or not isinstance(value[1], str):
        raise _InvalidReturn(f"redirect takes (redirect, url) with a str url, got {value!r}")
    return Response(status_code=302, headers={"location": _redirect_location(value[1])})


async def _sendfile(value: tuple[Any, ...], ctx: _HandlerContext) -> Response:
    shape = "(sendfile, status, headers, (offset, length, path), mime)"
    if len(value) != 5:
        raise _InvalidReturn(f"sendfile takes {shape}, got {value!r}")
    status, headers = parse_status(value[1], value), parse_headers(value[2], value)
    file_spec, mime = value[3], value[4]
    if not (isinstance(file_spec, tuple | list) and len(file_spec) == 3) or not isinstance(
        mime, str
    ):
        raise _InvalidReturn(f"sendfile takes {shape}, got {value!r}")
    offset, length, path = file_spec
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (offset, length)):
        raise _InvalidReturn(f"sendfile offset and length must be ints >= 0, got {file_spec!r}")
    if not isinstance(path, str | os.PathLike):
        raise _InvalidReturn(f"sendfile path must be a str or path, got {path!r}")
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _HandlerError(f"sendfile cannot read {os.fspath(path)!r}: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise _HandlerError(f"sendfile cannot read {os.fspath(path)!r}: not a regular file")
    size = info.st_size
    if offset + length > size:
        raise _HandlerError(
            f"sendfile slice {offset}+{length} is past the end of "
            f"{os.fspath(path)!r} ({size} bytes)"
        )
    headers["content-type"] = mime
    return _FileSliceResponse(os.fspath(path), offset, length, status_code=status, headers=headers)


class _FileSliceResponse(Response):
    """Streams `length` bytes of a file from `offset` (Nova's `{sendfile, ...}` body)."""

    chunk_size = 64 * 1024

    def __init__(
        self, path: str, offset: int, length: int, *, status_code: int, headers: dict[str, str]
    ) -> None:
        self.path, self.offset, self.length = path, offset, length
        self.status_code = status_code
        self.background = None
        self.init_headers({**headers, "content-length": str(length)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        remaining, last = self.length, b""
        if remaining > 0:
            async with await anyio.open_file(self.path, "rb") as file:
                await file.seek(self.offset)
                while remaining > 0:
                    chunk = await file.read(min(self.chunk_size, remaining))
                    if not chunk:  # the file shrank under us; end the body honestly short
                        break
                    remaining -= len(chunk)
                    if remaining == 0:
                        last = chunk
                        break
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        # Always exactly one final message, also for a slice of length 0: without it the
        # server never sees the response end and drops the keep-alive connection.
        await send({"type": "http.response.body", "body": last, "more_body": False})


class _UserHandler:
    """Adapts a `fn(status_code, extra_headers, payload)` handler to the tuple form."""

    def __init__(self, name: str, fn: HandlerFunction, media_type: str | None = None) -> None:
        self.name, self.fn = name, fn
        #: What OpenAPI documents for this handler's body (None: the router cannot know).
        self.media_type = media_type

    async def __call__(self, value: tuple[Any, ...], ctx: _HandlerContext) -> Response:
        if len(value) == 2:
            status, headers, payload = ctx.status_override or 200, {}, value[1]
        elif len(value) == 4:
            status, headers = parse_status(value[1], value), parse_headers(value[2], value)
            payload = value[3]
        else:
            raise _InvalidReturn(
                f"{self.name!r} takes ({self.name!r}, payload) or "
                f"({self.name!r}, status, headers, payload), got {value!r}"
            )
        result = self.fn(status, headers, payload)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Response):
            raise _HandlerError(
                f"handler {self.name!r} ({self.fn!r}) must return a Response, got {result!r}"
            )
        return result


#: What OpenAPI documents for each built-in's body (None: no body, or one it cannot know).
_BUILTIN_MEDIA_TYPES: dict[str, str | None] = {
    "json": "application/json",
    "ok": "text/html",
    "view": "text/html",
    "status": None,
    "redirect": None,
    "sendfile": None,
}

_BUILTINS: dict[str, _Converter] = {
    "json": _json,
    "ok": _view,
    "view": _view,
    "status": _status_handler,
    "redirect": _redirect,
    "sendfile": _sendfile,
}


class HandlerRegistry:
    """Maps a return tuple's first element to the handler that turns it into a response.

    A new registry starts with the built-ins. `default_registry` is process-wide like
    Nova's; create a `HandlerRegistry()` for an isolated one (tests, several apps).
    """

    def __init__(self) -> None:
        self._handlers: dict[str, _Converter] = dict(_BUILTINS)
        self._lock = threading.Lock()

    def register(
        self,
        name: str,
        fn: HandlerFunction,
        *,
        replace: bool = False,
        media_type: str | None = None,
    ) -> None:
        """Register `fn(status_code, extra_headers, payload) -> Response` under `name`.

        `media_type` is what OpenAPI documents for routes that declare they return `name`.
        Raises HandlerExistsError if `name` is taken, unless `replace=True`.
        """
        if media_type is not None:
            example = f"such as 'application/xml', got {media_type!r}"
            if not isinstance(media_type, str):
                raise TypeError(f"media_type must be a str {example}")
            if "/" not in media_type.strip("/"):
                raise ValueError(f"media_type must be type/subtype {example}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"handler name must be a non-empty str, got {name!r}")
        if not callable(fn):
            raise TypeError(f"handler {name!r} must be callable, got {fn!r}")
        with self._lock:
            if name in self._handlers and not replace:
                raise HandlerExistsError(
                    f"handler {name!r} is already registered; call unregister_handler({name!r}) "
                    "first or pass replace=True"
                )
            self._handlers[name] = _UserHandler(name, fn, media_type)

    def unregister(self, name: str) -> bool:
        """Remove handler `name`; True if it was registered."""
        with self._lock:
            return self._handlers.pop(name, None) is not None

    def get(self, name: Any) -> _Converter | None:
        """The handler for a tuple tag, or None."""
        return self._handlers.get(name) if isinstance(name, str) else None

    def media_type(self, name: str) -> str | None:
        """The media type handler `name` answers with, for OpenAPI (None: unknown)."""
        handler = self._handlers.get(name)
        if isinstance(handler, _UserHandler):
            return handler.media_type
        return _BUILTIN_MEDIA_TYPES.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._handlers))

    def plain_json(self, value: Any, method: str, status_override: int | None) -> Response | None:
        """The response to a `("json", data)` return that the built-in json handler answers
        (the same one `to_response` gives), or None for anything else.

        Needs no HandlerContext: the hot path of a Nova route builds none for it.
        """
        if (
            type(value) is not tuple
            or len(value) != 2
            or type(value[0]) is not str
            or value[0] != "json"
            or self._handlers.get("json") is not _json  # replaced by the user: theirs answers
        ):
            return None
        if status_override is None:  # 200 or 201: both carry a content-length
            return _JsonBody(encode_json(value[1]), 201 if method == "POST" else 200)
        return _json_response(encode_json(value[1]), status_override)

    async def to_response(self, value: Any, ctx: _HandlerContext) -> Response:
        """Turn a controller's return value into a response, or raise InvalidReturn."""
        if isinstance(value, Response):
            return value
        if not isinstance(value, tuple) or not value:
            raise _InvalidReturn(f"expected a tuple such as ('json', data), got {value!r}")
        handler = self.get(value[0])
        if handler is None:
            raise _InvalidReturn(f"no handler is registered for {value[0]!r}")
        return await handler(value, ctx)


default_registry = HandlerRegistry()
"""The process-wide registry (like Nova's), used unless a router or `@controller` names one."""


def register_handler(
    name: str,
    fn: HandlerFunction,
    *,
    replace: bool = False,
    registry: HandlerRegistry | None = None,
    media_type: str | None = None,
) -> None:
    """Register a custom handler (Nova's `nova_handlers:register_handler/2`).

    ```python
    def xml(status_code, headers, payload):
        return Response(payload, status_code, {"content-type": "application/xml", **headers})

    register_handler("xml", xml, media_type="application/xml")
    # a controller may now return ("xml", "<user/>"); OpenAPI shows application/xml
    ```
    """
    (registry or default_registry).register(name, fn, replace=replace, media_type=media_type)


def unregister_handler(name: str, *, registry: HandlerRegistry | None = None) -> bool:
    """Remove a handler; True if it was registered."""
    return (registry or default_registry).unregister(name)
