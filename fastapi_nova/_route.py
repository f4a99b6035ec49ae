"""The route class: one NovaRouter route, and how a request to it is answered.

A `NovaRoute` is an `APIRoute` (so `/docs`, `url_for` and `include_router` see
a FastAPI route) that answers Nova's way: security denials, status pages, the full 405
`Allow`. `_outcome` is the one place where what a route raised (a denial, an
`HTTPException`, a crash) becomes the response sent; both ways a route is served go through
it:

* **direct** (`direct_app`): a Nova-style controller with Nova-style (or no) security and
  nothing for FastAPI to solve is an ASGI app of its own, called by the router below FastAPI's
  request wrapper: no parameter solving, no per-request handler set-up.
* **through FastAPI** (`NovaRoute.get_route_handler`): everything else (FastAPI-style
  controllers or security, plugins, dependencies, `app.dependency_overrides` in use) runs in
  FastAPI's own handler, unchanged.

Which way a route is served is decided when the router compiles its index (include-time
dependencies included); per request only `app.dependency_overrides` is looked at.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from fastapi_nova._fastapi_compat import dependencies_through, in_fastapi_app
from fastapi_nova.connection import _deny_upgrade
from fastapi_nova.controllers import (
    _BoundController,
    _ControllerOptions,
    _error_response,
    _render_status_page,
)
from fastapi_nova.errors import _SecurityDenied
from fastapi_nova.groups import _GroupInfo, _method_key
from fastapi_nova.handlers import _JsonBody
from fastapi_nova.request import _forget_nova_request
from fastapi_nova.security import _run_nova_security, _security_passed

logger = logging.getLogger(__name__)


@dataclass
class NovaRouteInfo:
    """What a route came from, for the `routes` CLI and for request handling."""

    kind: str  # "http" | "ws" | "static"
    group: _GroupInfo
    nova_path: str
    path: str
    target: Any  # controller, handler class, or local path
    security: Callable[..., Any] | None
    #: Every method of this path in the router, for the 405 `Allow` header.
    allow: set[str] = field(default_factory=set)
    options: _ControllerOptions | None = None
    bound: _BoundController | None = None
    #: The route can be served directly (Nova-style controller and security, nothing for
    #: FastAPI to solve); the router still checks what an inclusion added.
    direct_candidate: bool = False
    #: The dependency callables the route itself declares (compared with FastAPI's list).
    own_dependencies: list[Callable[..., Any]] = field(default_factory=list)


def route_info(route_or_endpoint: Any) -> NovaRouteInfo | None:
    """The NovaRouteInfo of a NovaRouter route (given the route or its endpoint), or None.

    The one accessor for route information (the CLI and other readers call it): a NovaRoute
    carries its own (one per path of a static directory); a WebSocket route's endpoint does.
    """
    info = getattr(route_or_endpoint, "nova", None)
    if info is None:
        info = getattr(route_or_endpoint, "__nova_route__", None)
    return info if isinstance(info, NovaRouteInfo) else None


def allow_header(methods: set[str] | frozenset[str]) -> str:
    """The `Allow` header value: methods in Nova's order (GET, POST, ... TRACE)."""
    return ", ".join(sorted(methods, key=_method_key))


async def method_not_allowed(
    request: Request, allow: set[str] | frozenset[str], options: _ControllerOptions
) -> Response:
    """The 405 for a path whose routes do not answer this method (status page if any)."""
    response = await _error_response(405, "Method Not Allowed", request, options)
    response.headers["allow"] = allow_header(allow)
    return response


def app_handles(conn: HTTPConnection, exc: Exception) -> bool:
    """True when the app registered an exception handler for `exc`'s class (or a base).

    The app's `@app.exception_handler`s come first: a router's 500 status page answers only
    an exception nothing else handles.
    """
    handlers = getattr(conn.scope.get("app"), "exception_handlers", None)
    if not handlers:
        return False
    return any(cls in handlers for cls in type(exc).__mro__)


async def answer(
    call: Callable[[Request], Awaitable[Response]],
    request: Request,
    options: _ControllerOptions,
    route_name: str,
    security_first: Callable[[Request], Awaitable[None]] | None = None,
) -> Response:
    """Run `call` and turn what it raised into the route's response (see `_outcome`).

    `security_first`: for a route whose body FastAPI rejected before any dependency ran,
    runs the group's security, whose denial then answers instead.
    """
    try:
        try:
            return await call(request)
        except (RequestValidationError, HTTPException) as exc:
            if security_first is None or _security_passed(request) or not _body_unreadable(exc):
                raise
            await security_first(request)  # denies by raising, as in the route
            raise
    except Exception as exc:
        return await _outcome(exc, request, options, route_name)


async def _outcome(
    exc: Exception, request: Request, options: _ControllerOptions, route_name: str
) -> Response:
    """The response to what a route raised, Nova's way; called while `exc` is handled, it
    re-raises what is not Nova's to answer.

    A security denial is its response; an `HTTPException` answers with the router's status
    page for its code when there is one (else it propagates to FastAPI's handler); any other
    exception answers with the 500 status page, unless the app has a handler for it or the
    router has no 500 page (then it propagates, as in FastAPI).
    """
    if isinstance(exc, _SecurityDenied):
        return exc.response
    if isinstance(exc, HTTPException):
        page = await _render_status_page(exc.status_code, dict(exc.headers or {}), request, options)
    elif (
        isinstance(exc, RequestValidationError)
        or 500 not in options.status_pages
        or app_handles(request, exc)
    ):
        raise
    else:
        logger.exception("route %s raised; answering with the 500 status page", route_name)
        page = await _render_status_page(500, {}, request, options)
    if page is None:
        raise
    return page


def _body_unreadable(exc: RequestValidationError | HTTPException) -> bool:
    """True for FastAPI's answer to a body it could not read, raised before any dependency.

    That is its 422 for a body that is not JSON, and its 400 for one it could not parse at
    all (JSON nested too deep, broken multipart): both raised while handling the parse error.
    """
    if isinstance(exc, RequestValidationError):
        return any(error.get("type") == "json_invalid" for error in exc.errors())
    return exc.status_code == 400 and (exc.__cause__ or exc.__context__) is not None


def direct_app(info: NovaRouteInfo, route_name: str) -> ASGIApp:
    """The route as an ASGI app of its own, for the router to call below FastAPI's wrapper.

    Only for a route whose `direct_candidate` is set: Nova-style security (through
    `_run_nova_security`) then the controller.
    """
    bound, security = info.bound, info.security
    options = info.options or _ControllerOptions()
    assert bound is not None  # direct_candidate implies a bound controller

    call = bound.run_nova if security is None else _secured(security, bound)

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        # `answer` written out: one coroutine less on every request.
        request = Request(scope, receive, send)
        try:
            response = await call(request)
        except Exception as exc:
            response = await _outcome(exc, request, options, route_name)
        if type(response) is _JsonBody:  # the commonest answer: what its __call__ sends
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response.raw_headers,
                }
            )
            await send({"type": "http.response.body", "body": response.body})
        else:
            await response(scope, receive, send)
        _forget_nova_request(scope)

    def app(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function returning the coroutine that serves the request (no frame).
        if in_fastapi_app(scope):  # FastAPI's app provides the response's exit stack
            return serve(scope, receive, send)
        return _with_exit_stack(serve, scope, receive, send)

    return app


async def _with_exit_stack(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Outside a FastAPI app (the router mounted on its own): uploads are closed on this."""
    async with AsyncExitStack() as stack:
        scope["fastapi_inner_astack"] = stack
        await app(scope, receive, send)


def direct_websocket_app(
    info: NovaRouteInfo,
    endpoint: Callable[[WebSocket], Awaitable[None]],
    through_fastapi: ASGIApp,
) -> ASGIApp:
    """A WebSocket route as a plain Starlette WebSocket app: Nova-style security, then
    `endpoint` (issue 11: FastAPI's WebSocket wrapper, its two exit stacks and its solved
    dependencies, stay alive for the whole connection: about 6 KiB per socket).

    Only for a route whose `direct_candidate` is set; while `app.dependency_overrides`
    is in use the connection goes `through_fastapi` (the route's own FastAPI app).
    """
    security = info.security

    async def secured(websocket: WebSocket) -> None:
        assert security is not None
        try:
            await _run_nova_security(security, websocket)
        except _SecurityDenied as denied:  # before accept: the ASGI denial response
            await _deny_upgrade(websocket, denied.response)
            return
        await endpoint(websocket)

    def app(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function returning the connection's coroutine (no frame of its own).
        if getattr(scope.get("app"), "dependency_overrides", None):
            return through_fastapi(scope, receive, send)
        websocket = WebSocket(scope, receive, send)
        return endpoint(websocket) if security is None else secured(websocket)

    return app


def _secured(
    security: Callable[..., Any], bound: _BoundController
) -> Callable[[Request], Awaitable[Response]]:
    async def call(request: Request) -> Response:
        await _run_nova_security(security, request)
        return await bound.run_nova(request)

    return call


class NovaRoute(APIRoute):
    """An `APIRoute` that answers Nova's way: denials, status pages, full 405 `Allow`.

    When FastAPI itself dispatches to it (it does only where the router's index does not
    apply), the handler it builds runs FastAPI's parameter solving inside `answer`.
    """

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, nova: NovaRouteInfo, **kwargs: Any
    ):
        self.nova = nova  # get_route_handler, called by APIRoute.__init__, reads it
        super().__init__(path, endpoint, **kwargs)

    def _security_first(self) -> Callable[[Request], Awaitable[None]] | None:
        """For a route with a body model: run plugins and security when FastAPI's body
        reading (which comes before every dependency) rejected the request first."""
        security = self.nova.own_dependencies[:1]  # the group security dependency, if any
        if self.body_field is None or not security:
            return None
        return dependencies_through(self, security[0])

    def get_route_handler(self) -> Callable[[Request], Any]:
        general = super().get_route_handler()
        security_first = self._security_first()
        options = self.nova.options or _ControllerOptions()
        route_name = self.name

        async def handler(request: Request) -> Response:
            response = await answer(general, request, options, route_name, security_first)
            _forget_nova_request(request.scope)
            return response

        return handler

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in (self.methods or ()):
            request = Request(scope, receive, send)
            options = self.nova.options or _ControllerOptions()
            response = await method_not_allowed(request, self.nova.allow, options)
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)
