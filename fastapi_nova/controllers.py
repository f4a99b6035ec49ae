"""Controllers: call the user's function, turn its tuple into a response, fall back if needed.

[`controller`][fastapi_nova.controllers.controller] is the public decorator; `_BoundController` is
the machinery that both the decorator and [`NovaRouter`][fastapi_nova.NovaRouter] use, so a route
table and a plain `@app.get` route behave the same.
"""

from __future__ import annotations

import functools
import inspect
import keyword
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar, overload

from fastapi import Path
from pydantic.fields import FieldInfo
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from fastapi_nova._fastapi_compat import response_field, serialize_response
from fastapi_nova._shapes import encode_json
from fastapi_nova.errors import TemplateNotFoundError, _HandlerError, _InvalidReturn
from fastapi_nova.handlers import (
    HandlerRegistry,
    _HandlerContext,
    _StatusPageRenderer,
    default_registry,
)
from fastapi_nova.request import (
    NovaRequest,
    _build_nova_request,
    _callable_name,
    _is_nova_style,
    _ready_nova_request,
    _resolved_signature,
)
from fastapi_nova.templates import _finder_for, _TemplateDirs, _TemplateFinder

_logger = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])

#: Name of the parameter the decorator adds to reach the request (hidden from OpenAPI).
_REQUEST_PARAM = "_nova_request_"


class _Fallback(Protocol):
    """A fallback controller: a module or object with `resolve(req, invalid_return)`."""

    def resolve(self, req: NovaRequest, invalid_return: Any) -> Any: ...


def _json_error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """The JSON error body fastapi-nova answers with (FastAPI's `{"detail": ...}` shape)."""
    return Response(
        encode_json({"detail": detail}),
        status_code=status,
        headers={**(headers or {}), "content-type": "application/json"},
    )


def _is_async_callable(fn: Any) -> bool:
    """True if calling `fn` returns an awaitable (async functions, partials, __call__)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    # A callable object: its class's __call__ decides.
    return not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__)


async def _call_user(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call user code: `async def` on the loop, `def` in the threadpool (as FastAPI does)."""
    if _is_async_callable(fn):
        return await fn(*args, **kwargs)
    result = await run_in_threadpool(fn, *args, **kwargs)
    if inspect.isawaitable(result):  # a sync callable that returned a coroutine
        result = await result
    return result


#: The route options (FastAPI's names) that shape a `response_model`'s output, and the
#: `serialize_response` argument each one is.
_RESPONSE_MODEL_OPTIONS = {
    "response_model_include": "include",
    "response_model_exclude": "exclude",
    "response_model_by_alias": "by_alias",
    "response_model_exclude_unset": "exclude_unset",
    "response_model_exclude_defaults": "exclude_defaults",
    "response_model_exclude_none": "exclude_none",
}


@dataclass(frozen=True)
class _ResponseModel:
    """A route's `response_model` and its options, applied to `("json", ...)` payloads."""

    model: Any
    options: Mapping[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def model_field(self) -> Any:
        # Built on first use: FastAPI validates the model when the route is added (a bad one
        # is a RouteConfigError naming the group and route), before any request gets here.
        name = "Response_" + "".join(c if c.isalnum() else "_" for c in repr(self.model))[:60]
        return response_field(self.model, name)

    async def apply(self, value: Any) -> Any:
        """`value` with its JSON payload validated and filtered, as FastAPI does a returned
        value; other returns unchanged. A payload that does not fit raises FastAPI's
        `ResponseValidationError` (a 500, as in FastAPI)."""
        if not isinstance(value, tuple) or not value or value[0] != "json":
            return value
        if len(value) not in (2, 4):
            return value  # not a json return: the handler will say so
        payload = await serialize_response(self.model_field, value[-1], **self.options)
        return (*value[:-1], payload)


def _response_model_of(route_options: Mapping[str, Any]) -> _ResponseModel | None:
    """The `_ResponseModel` a route's options ask for (`response_model` and the
    `response_model_*` keys, FastAPI's names), or None."""
    model = route_options.get("response_model")
    if model is None:
        return None
    given = _RESPONSE_MODEL_OPTIONS.items()
    options = {arg: route_options[key] for key, arg in given if key in route_options}
    return _ResponseModel(model, options)


@dataclass(frozen=True)
class _ControllerOptions:
    """How a controller's returns are turned into responses."""

    registry: HandlerRegistry = field(default_factory=lambda: default_registry)
    templates: _TemplateFinder = field(default_factory=lambda: _TemplateFinder([]))
    fallback: Any = None
    #: Nova-style controllers answering for a status code (Nova's `{404, Fun, Opts}` routes).
    status_pages: Mapping[int, Callable[..., Any]] = field(default_factory=dict)
    #: Status for tuples that carry none (the route's `status_code` option).
    status_override: int | None = None
    #: The route's `response_model`, applied to what its controller returns.
    response_model: _ResponseModel | None = None


async def _render_status_page(
    code: int,
    headers: Mapping[str, str],
    conn: HTTPConnection,
    options: _ControllerOptions,
) -> Response | None:
    """The router's status page for `code`, or None when there is none."""
    page = options.status_pages.get(code)
    if page is None or not isinstance(conn, Request):
        return None
    nreq = await _build_nova_request(conn)
    nreq.status_code = code
    name = _callable_name(page)
    try:
        value = await _call_user(page, nreq)
        ctx = _HandlerContext(
            request=nreq,
            method=conn.method,
            controller=page,
            templates=options.templates,
            status_override=code,
            status_page=None,  # a status page answering ("status", code) must not recurse
        )
        response = await options.registry.to_response(value, ctx)
    except (_InvalidReturn, _HandlerError, TemplateNotFoundError) as exc:
        _logger.error("status page %s for %d failed: %s", name, code, exc)
        return None
    except Exception:  # a bug in the page must not turn its plain answer into a 500
        _logger.exception("status page %s for %d raised; answering the plain %d", name, code, code)
        return None
    for key, value_ in headers.items():
        response.headers[key] = value_
    return response


async def _error_response(
    code: int, detail: str | None, conn: HTTPConnection, options: _ControllerOptions
) -> Response:
    """Answer `code`: the router's status page for it if any, else a JSON error."""
    page = await _render_status_page(code, {}, conn, options)
    if page is not None:
        return page
    if detail is None:
        return Response(status_code=code)
    return _json_error(code, detail)


class _BoundController:
    """A user controller bound to the options that convert its returns."""

    def __init__(self, fn: Callable[..., Any], options: _ControllerOptions) -> None:
        self.fn = fn
        self.options = options
        self.name = _callable_name(fn)
        self.is_async = _is_async_callable(fn)
        self.nova_style = _is_nova_style(fn)

    async def call(self, *args: Any, **kwargs: Any) -> Any:
        """Run the controller (`def` controllers in the threadpool, as FastAPI does)."""
        if self.is_async:
            return await self.fn(*args, **kwargs)
        # call_user without its per-call look at the callable: known to be sync already.
        result = await run_in_threadpool(self.fn, *args, **kwargs)
        if inspect.isawaitable(result):  # a sync callable that returned a coroutine
            result = await result
        return result

    def _context(self, conn: HTTPConnection, nreq: NovaRequest | None) -> _HandlerContext:
        options = self.options
        status_page: _StatusPageRenderer | None = None
        if options.status_pages:  # only routers with status pages pay for the closure

            async def render(code: int, headers: dict[str, str]) -> Response | None:
                return await _render_status_page(code, headers, conn, options)

            status_page = render
        return _HandlerContext(
            request=nreq,
            method=str(conn.scope.get("method", "GET")),
            controller=self.fn,
            templates=options.templates,
            status_override=options.status_override,
            status_page=status_page,
        )

    def _plain(self, value: Any, conn: HTTPConnection) -> Response | None:
        """The response to a `("json", data)` return when nothing needs awaiting (no
        `response_model`), or None: then `respond`. Most routes answer here, with no
        HandlerContext and no coroutine."""
        options = self.options
        if options.response_model is not None:
            return None
        method = conn.scope.get("method", "GET")
        return options.registry.plain_json(value, method, options.status_override)

    async def respond(self, value: Any, conn: HTTPConnection, nreq: NovaRequest | None) -> Response:
        """Turn `value` into a response: handlers, then the fallback, then a logged 500."""
        options = self.options
        if options.response_model is not None:
            value = await options.response_model.apply(value)
        try:
            method = conn.scope.get("method", "GET")
            response = options.registry.plain_json(value, method, options.status_override)
            if response is not None:
                return response
            return await options.registry.to_response(value, self._context(conn, nreq))
        except _InvalidReturn as exc:
            return await self._fall_back(value, exc, conn, nreq)
        except (_HandlerError, TemplateNotFoundError) as exc:
            _logger.error("controller %s returned %r: %s", self.name, value, exc)
            return await _error_response(500, "Internal Server Error", conn, self.options)

    def fallback(self) -> Any:
        """The fallback: the decorator's, else the module's `fallback_controller`."""
        if self.options.fallback is not None:
            return self.options.fallback
        module = sys.modules.get(getattr(inspect.unwrap(self.fn), "__module__", "") or "")
        return getattr(module, "fallback_controller", None)

    async def _fall_back(
        self, value: Any, error: _InvalidReturn, conn: HTTPConnection, nreq: NovaRequest | None
    ) -> Response:
        fallback = self.fallback()
        resolve = getattr(fallback, "resolve", None)
        if fallback is None or not callable(resolve):
            reason = (
                "and it has no fallback_controller"
                if fallback is None
                else f"and its fallback {fallback!r} has no resolve(req, invalid_return)"
            )
            _logger.error("controller %s returned %r (%s), %s", self.name, value, error, reason)
            return await _error_response(500, "Internal Server Error", conn, self.options)
        if nreq is None and isinstance(conn, Request):
            nreq = await _build_nova_request(conn)
        try:
            resolved = await _call_user(resolve, nreq, value)
        except Exception:
            _logger.exception(
                "controller %s returned %r and its fallback %s raised",
                self.name,
                value,
                _callable_name(resolve),
            )
            return await _error_response(500, "Internal Server Error", conn, self.options)
        ctx = self._context(conn, nreq)
        ctx.controller = resolve  # Nova: views named by a fallback come from the fallback
        try:
            return await self.options.registry.to_response(resolved, ctx)
        except (_InvalidReturn, _HandlerError, TemplateNotFoundError) as exc:
            _logger.error(
                "controller %s returned %r; its fallback %s returned %r, also invalid: %s",
                self.name,
                value,
                _callable_name(resolve),
                resolved,
                exc,
            )
            return await _error_response(500, "Internal Server Error", conn, self.options)

    async def run_nova(self, request: Request) -> Response:
        """The whole Nova-style call: parsed request in, response out."""
        nreq = _ready_nova_request(request) or await _build_nova_request(request)
        if nreq.body_error is not None:
            return await _error_response(400, str(nreq.body_error), request, self.options)
        value = await (self.fn(nreq) if self.is_async else self.call(nreq))
        response = self._plain(value, request)
        return response if response is not None else await self.respond(value, request, nreq)


def _nova_endpoint(
    bound: _BoundController, path_params: tuple[str, ...] = ()
) -> Callable[..., Any]:
    """A FastAPI endpoint for a Nova-style controller.

    Its signature takes only the `Request`: the controller reads its bindings from it, so
    FastAPI has nothing to validate and documents no 422. The router declares the bindings
    as path parameters in the route's `openapi_extra` (fastapi_nova.openapi).
    """

    async def endpoint(**kwargs: Any) -> Response:
        request: Request = kwargs[_REQUEST_PARAM]
        return await bound.run_nova(request)

    params = [inspect.Parameter(_REQUEST_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    _describe(endpoint, bound.fn, inspect.Signature(params, return_annotation=Response))
    return endpoint


def _binding_parameter(name: str) -> inspect.Parameter:
    """A string path parameter for binding `name` (documented in OpenAPI under that name).

    A binding name is Nova's, not a Python identifier: `:class` or `:from` is a keyword,
    which no parameter can be called, so it is read through an alias.
    """
    if keyword.iskeyword(name):
        return inspect.Parameter(
            f"_nova_binding_{name}",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=str,
            default=Path(alias=name),
        )
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str, default=Path())


def _declared_names(params: list[inspect.Parameter]) -> set[str]:
    """The names FastAPI reads these parameters under: their own, or a Path(alias=...)."""
    names = {p.name for p in params}
    for p in params:
        metadata = getattr(p.annotation, "__metadata__", ())
        for info in (p.default, *metadata):
            alias = getattr(info, "alias", None) if isinstance(info, FieldInfo) else None
            if isinstance(alias, str):
                names.add(alias)
    return names


def _fastapi_endpoint(
    bound: _BoundController, path_params: tuple[str, ...] = ()
) -> Callable[..., Any]:
    """A FastAPI endpoint for a FastAPI-style controller: its own signature, plus the request.

    A binding of the route that the signature does not name is added as a string path
    parameter (and not passed on), so OpenAPI still documents every parameter of the path.
    """
    signature = _resolved_signature(bound.fn)
    params = list(signature.parameters.values())
    request_name = next(
        (
            p.name
            for p in params
            if isinstance(p.annotation, type) and issubclass(p.annotation, Request)
        ),
        None,
    )
    unnamed = [name for name in path_params if name not in _declared_names(params)]
    extra = [_binding_parameter(name) for name in unnamed]
    unnamed = [p.name for p in extra]  # the keyword arguments they arrive as
    added = request_name is None
    if added:
        request_name = _REQUEST_PARAM
        extra.append(
            inspect.Parameter(_REQUEST_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        )
    position = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    params[position:position] = extra
    assert request_name is not None

    async def endpoint(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs.pop(request_name) if added else kwargs[request_name]
        for name in unnamed:
            del kwargs[name]
        value = await bound.call(*args, **kwargs)
        return await bound.respond(value, request, None)

    # The return annotation is Response so FastAPI does not read a tuple as a response model.
    _describe(endpoint, bound.fn, signature.replace(parameters=params, return_annotation=Response))
    return endpoint


def _describe(endpoint: Callable[..., Any], fn: Callable[..., Any], sig: inspect.Signature) -> None:
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        value = getattr(fn, attr, None)
        if value is not None:
            setattr(endpoint, attr, value)
    if getattr(endpoint, "__name__", "") == "<lambda>":
        endpoint.__name__ = endpoint.__qualname__ = "lambda"
    endpoint.__signature__ = sig  # type: ignore[attr-defined]
    endpoint.__nova_controller__ = fn  # type: ignore[attr-defined]


def _make_endpoint(
    fn: Callable[..., Any], options: _ControllerOptions, path_params: tuple[str, ...] = ()
) -> tuple[_BoundController, Callable[..., Any]]:
    """Bind `fn` and build the FastAPI endpoint for its style.

    A function already decorated with `@controller` (listed in a route table) is bound
    as the function it wraps, with the options its decorator was given explicitly, so it
    gets the route's bindings, status pages and lean path like any other controller.
    """
    original = getattr(fn, "__nova_controller__", None)
    if original is not None:
        options = replace(options, **getattr(fn, "__nova_overrides__", {}))
        fn = original
    bound = _BoundController(fn, options)
    if bound.nova_style:
        return bound, _nova_endpoint(bound, path_params)
    if _is_streaming(fn):
        return bound, _streaming_endpoint(fn)
    return bound, _fastapi_endpoint(bound, path_params)


def _is_streaming(fn: Callable[..., Any]) -> bool:
    """True for a FastAPI `yield` endpoint (Server-Sent Events, JSON Lines, ...)."""
    target = inspect.unwrap(fn)
    while isinstance(target, functools.partial):
        target = target.func
    return inspect.isasyncgenfunction(target) or inspect.isgeneratorfunction(target)


def _streaming_endpoint(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A FastAPI `yield` endpoint, passed to FastAPI as it is.

    Its items are not tuples for the handlers: FastAPI streams them (JSON Lines, or
    `EventSourceResponse` events with `response_class=EventSourceResponse`) and documents
    them from the return annotation, exactly as on a plain FastAPI route. A new function
    (`functools.wraps` keeps the signature and annotation FastAPI reads) so that what the
    router attaches to its endpoint does not land on the user's function.
    """
    if inspect.isasyncgenfunction(inspect.unwrap(fn)):

        @functools.wraps(fn)
        async def stream_async(*args: Any, **kwargs: Any) -> Any:
            async for item in fn(*args, **kwargs):
                yield item

        return stream_async

    @functools.wraps(fn)
    def stream_sync(*args: Any, **kwargs: Any) -> Any:
        yield from fn(*args, **kwargs)

    return stream_sync


@overload
def controller(fn: _F, /) -> _F: ...


@overload
def controller(
    *,
    fallback: _Fallback | Any = None,
    registry: HandlerRegistry | None = None,
    templates: _TemplateDirs | None = None,
) -> Callable[[_F], _F]: ...


def controller(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    fallback: _Fallback | Any = None,
    registry: HandlerRegistry | None = None,
    templates: _TemplateDirs | None = None,
) -> Any:
    """Turn a function that returns Nova tuples into a FastAPI endpoint.

    Keeps the signature FastAPI reads (dependencies and OpenAPI keep working) and works on
    `def` and `async def` functions:

    ```python
    @app.get("/hello/{name}")
    @controller
    async def hello(name: str):
        return ("json", {"hello": name})
    ```

    `fallback` answers invalid returns (it wins over the module's `fallback_controller`);
    `registry` defaults to the process-wide handler registry; `templates` defaults to
    `templates/` beside the function's module.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        module = getattr(func, "__module__", None)
        # Only what is given here overrides a route table's options (see make_endpoint).
        overrides: dict[str, Any] = {}
        if fallback is not None:
            overrides["fallback"] = fallback
        if registry is not None:
            overrides["registry"] = registry
        if templates is not None:
            overrides["templates"] = _finder_for(templates, module)
        options = replace(_ControllerOptions(templates=_finder_for(None, module)), **overrides)
        endpoint = _make_endpoint(func, options)[1]
        endpoint.__nova_overrides__ = overrides  # type: ignore[attr-defined]
        return endpoint

    return decorate if fn is None else decorate(fn)
