"""The one place fastapi-nova reads FastAPI or Starlette internals.

Each read here is pinned by a test in `tests/test_fastapi_compat.py` that fails loudly when
an upgrade changes it. Where a read finds nothing (another FastAPI version), the caller falls
back to FastAPI's own behaviour: slower, never wrong.

* **Included routers** (FastAPI 0.165): `app.include_router(router)` keeps `router` behind
  an `_IncludedRouter` that builds one "effective route context" per route and inclusion
  (the inclusion's prefix and dependencies added). The router's compiled index is built from
  those contexts, and a route it selects is handed back to FastAPI the way FastAPI's own
  dispatch does it (the context under the `fastapi` scope key). Once the index is built,
  the wrapper's class becomes `_LeanInclusion`, whose `matches` and `handle` ask the router
  first (`lean_inclusion`): FastAPI's own code for them runs only where the router declines.
* **Dependencies**: a route may be served without FastAPI's parameter solving only when the
  dependencies FastAPI built it with are the route's own Nova-style ones.
* **Request internals**: the form FastAPI already parsed, the exit stack of the response,
  the form limits FastAPI set for the request.
* **WebSocket internals**: the ASGI `receive` and `send` a Starlette `WebSocket` wraps, which
  the connection runtime calls directly on its per-frame path.
* **FastAPI's solver and serializer**, called as FastAPI calls them: dependencies of an
  overriding security function (`call_with_dependencies`), a route's `response_model`
  applied to a `("json", ...)` payload (`response_field`, `serialize_response`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Protocol, cast

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor
from starlette.requests import HTTPConnection, Request
from starlette.routing import BaseRoute, Match, Mount, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

#: FastAPI's per-request scope entry and the keys under it (fastapi/routing.py).
_FASTAPI_SCOPE_KEY = "fastapi"
_INCLUDED_ROUTER_KEY = "included_router"
_EFFECTIVE_CONTEXT_KEY = "effective_route_context"
_FORM_LIMITS_KEY = "form_limits"
#: FastAPI's response-lifetime exit stacks, outermost first (fastapi/routing.py, applications.py).
_EXIT_STACK_KEYS = ("fastapi_middleware_astack", "fastapi_inner_astack")


@dataclass(frozen=True)
class EffectiveRoute:
    """A route of a router as one inclusion serves it (or as it is, outside any inclusion)."""

    route: APIRoute
    #: FastAPI's effective route context for this inclusion; None for the route itself.
    context: Any
    path_format: str
    path_regex: re.Pattern[str]
    convertors: dict[str, Convertor[Any]]
    methods: frozenset[str]
    endpoint: Callable[..., Any]
    #: The dependency callables FastAPI solves for it (None: unknown, so assume some).
    dependency_calls: list[Callable[..., Any]] | None
    max_body_size: int | None


def _calls(dependant: Any) -> list[Callable[..., Any]] | None:
    if not isinstance(dependant, Dependant):
        return None
    return [sub.call for sub in dependant.dependencies if sub.call is not None]


def _effective(route: APIRoute, context: Any = None) -> EffectiveRoute:
    """`route` as FastAPI serves it: from its inclusion's `context` (prefix and dependencies
    applied) when there is one, else as the route itself; both carry the same attributes."""
    source: Any = route if context is None else context
    return EffectiveRoute(
        route=route,
        context=context,
        path_format=source.path_format,
        path_regex=source.path_regex,
        convertors=dict(source.param_convertors),
        methods=frozenset(source.methods or ()),
        endpoint=source.endpoint,
        dependency_calls=_calls(getattr(source, "dependant", None)),
        max_body_size=getattr(source, "max_body_size", None),
    )


def _http_indexable(route: BaseRoute) -> bool | None:
    """True: an APIRoute; False: never answers HTTP (WebSocket); None: cannot be indexed."""
    if isinstance(route, APIRoute):
        return True
    if isinstance(route, WebSocketRoute | fastapi.routing.APIWebSocketRoute):
        return False
    return None


def own_routes(routes: list[BaseRoute]) -> list[EffectiveRoute] | None:
    """A router's HTTP routes as they are (the router used as an ASGI app), or None when one
    cannot be indexed (a Mount, a Host, an included router)."""
    out: list[EffectiveRoute] = []
    for route in routes:
        kind = _http_indexable(route)
        if kind is None or isinstance(route, Mount):
            return None
        if kind:
            assert isinstance(route, APIRoute)
            out.append(_effective(route))
    return out


def included_router(scope: Scope, router: object) -> Any | None:
    """FastAPI's inclusion of `router` that is dispatching this request, if any."""
    included = scope.get(_FASTAPI_SCOPE_KEY, {}).get(_INCLUDED_ROUTER_KEY)
    if included is None or getattr(included, "original_router", None) is not router:
        return None
    return included


class InclusionDispatch(Protocol):
    """What a router offers FastAPI's wrapper of one of its inclusions (`lean_inclusion`)."""

    def _inclusion_matches(self, inclusion: Any, scope: Scope) -> tuple[Match, Scope] | None:
        """The inclusion's answer to `matches`, or None to let FastAPI's wrapper answer."""

    def _inclusion_handle(
        self, inclusion: Any, scope: Scope, receive: Receive, send: Send
    ) -> Awaitable[None] | None:
        """The coroutine serving the request, or None to let FastAPI's wrapper serve it."""


#: FastAPI 0.165's wrapper of an included router (None: another FastAPI, no lean inclusion).
_IncludedRouter: Any = getattr(fastapi.routing, "_IncludedRouter", None)


class _LeanInclusion(_IncludedRouter or BaseRoute):  # type: ignore[misc]
    """FastAPI's `_IncludedRouter`, asking its router first.

    For every request FastAPI's wrapper saves and restores its scope keys around the
    router's `matches`, then `handle` goes through the router's own `handle`: a fifth of a
    Nova route's time. The router answers both from its index where it can (None: the
    wrapper's own code runs, unchanged).
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        router: InclusionDispatch = self.original_router
        answer = router._inclusion_matches(self, scope)
        return cast(tuple[Match, Scope], super().matches(scope)) if answer is None else answer

    def handle(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function returning the coroutine that serves the request: one frame less.
        router: InclusionDispatch = self.original_router
        served = router._inclusion_handle(self, scope, receive, send)
        if served is None:
            return cast(Awaitable[None], super().handle(scope, receive, send))
        return served


def lean_inclusion(included: Any, router: InclusionDispatch) -> None:
    """Let `router` answer `matches` and `handle` for FastAPI's wrapper of one of its
    inclusions (FastAPI 0.165's `_IncludedRouter`), where FastAPI leaves the wrapper
    nothing to do per request (no form limits). Everything else that reads the wrapper
    (OpenAPI, `url_for`, nested inclusions) sees the same object."""
    if (
        _IncludedRouter is None
        or type(included) is not _IncludedRouter
        or getattr(included, "original_router", None) is not router
        or getattr(getattr(included, "include_context", None), "form_limits", True)
    ):
        return
    included.__class__ = _LeanInclusion


def included_routes(included: Any) -> list[EffectiveRoute] | None:
    """The HTTP routes of an inclusion, with the inclusion's prefix and dependencies, or None
    when they cannot be read (another FastAPI) or one cannot be indexed."""
    candidates = getattr(included, "effective_candidates", None)
    if not callable(candidates):
        return None
    out: list[EffectiveRoute] = []
    for context in candidates():
        route = getattr(context, "original_route", None)
        if route is None or getattr(context, "starlette_route", None) is not None:
            # Not an APIRoute context: a nested inclusion, a Starlette route, a mount...
            if isinstance(route, WebSocketRoute | fastapi.routing.APIWebSocketRoute):
                continue
            return None
        if not isinstance(route, APIRoute):
            return None
        out.append(_effective(route, context))
    return out


def included_websocket_routes(included: Any) -> list[BaseRoute]:
    """The WebSocket routes FastAPI built for an inclusion (its prefix and dependencies
    applied), or [] when they cannot be read (another FastAPI)."""
    candidates = getattr(included, "effective_candidates", None)
    if not callable(candidates):
        return []
    routes: list[BaseRoute] = []
    for context in candidates():
        route = getattr(context, "starlette_route", None)
        if isinstance(route, fastapi.routing.APIWebSocketRoute):
            routes.append(route)
    return routes


def dependency_calls(route: BaseRoute) -> list[Callable[..., Any]] | None:
    """The dependency callables FastAPI solves for a route (None: unknown)."""
    return _calls(getattr(route, "dependant", None))


#: The request path the router matches: `scope["path"]` without the `root_path`
#: (Starlette's own function, not wrapped: it runs on every request).
route_path: Callable[[Scope], str] = get_route_path


def routes_version(router: object) -> int | None:
    """FastAPI's counter of changes to a router's routes (None when unknown)."""
    version = getattr(router, "_routes_version", None)
    return version if isinstance(version, int) else None


def select_context(scope: Scope, context: Any) -> None:
    """Tell FastAPI which effective route context the request was dispatched to, as its own
    `_IncludedRouter` does before calling the route."""
    scope.setdefault(_FASTAPI_SCOPE_KEY, {})[_EFFECTIVE_CONTEXT_KEY] = context


def route_selected(scope: Scope, path: str) -> None:
    """Report the matched route to FastAPI's telemetry, when the request has telemetry."""
    if scope.get("fastapi.telemetry") is None:
        return
    try:
        from fastapi.telemetry._api import _route_selected
    except ImportError:  # pragma: no cover - another FastAPI: no route attribute on the span
        return
    _route_selected(scope=scope, path=path)


def _effective_dependant(route: APIRoute) -> Dependant | None:
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    if context_var is None:
        return None
    context = context_var.get()
    if context is not None and getattr(context, "original_route", None) is route:
        dependant = getattr(context, "dependant", None)
    else:
        dependant = getattr(route, "dependant", None)
    return dependant if isinstance(dependant, Dependant) else None


def dependencies_through(
    route: APIRoute, last: Callable[..., Any]
) -> Callable[[Request], Awaitable[None]] | None:
    """A function solving `route`'s dependencies in order, up to and including `last`.

    FastAPI decodes a route's JSON body before it solves any dependency. A route with a body
    model uses this to run its group's security (and what precedes it) when FastAPI rejected
    the body first, so that security still answers before body validation. None when
    `last` is not among the dependencies FastAPI is building the route with.
    """
    try:
        from fastapi.dependencies.utils import solve_dependencies
    except ImportError:  # pragma: no cover - another FastAPI: FastAPI's own 422 stands
        return None
    dependant = _effective_dependant(route)
    if dependant is None:
        return None
    calls = [sub.call for sub in dependant.dependencies]
    if last not in calls:
        return None
    head = Dependant(
        call=_nothing,
        path=dependant.path,
        dependencies=dependant.dependencies[: calls.index(last) + 1],
    )

    async def solve(request: Request) -> None:
        stack = request.scope.get(_EXIT_STACK_KEYS[1])  # the request's own, as FastAPI uses
        async with AsyncExitStack() as own_stack:
            await solve_dependencies(
                request=request,
                dependant=head,
                dependency_overrides_provider=request.scope.get("app"),
                async_exit_stack=stack if isinstance(stack, AsyncExitStack) else own_stack,
                embed_body_fields=False,
            )

    return solve


def _nothing() -> None:  # pragma: no cover - never called, the root of a partial dependant
    return None


def response_exit_stack(scope: Scope) -> AsyncExitStack | None:
    """The exit stack FastAPI closes once the response is sent (None outside FastAPI)."""
    for key in _EXIT_STACK_KEYS:
        stack = scope.get(key)
        if isinstance(stack, AsyncExitStack):
            return stack
    return None


def in_fastapi_app(scope: Scope) -> bool:
    """True when the request runs in a FastAPI app, which closes an exit stack once the
    response is sent (`response_exit_stack`); a cheaper test, on every request."""
    return _EXIT_STACK_KEYS[0] in scope or _EXIT_STACK_KEYS[1] in scope


def form_limits(scope: Scope) -> dict[str, int]:
    """The form limits FastAPI parses this request's forms under (`form_limits=` of the app,
    its routers and inclusions, as FastAPI combined them), as keywords of `Request.form`;
    empty where none are set (or outside FastAPI)."""
    limits = scope.get(_FASTAPI_SCOPE_KEY, {}).get(_FORM_LIMITS_KEY)
    return dict(limits) if isinstance(limits, dict) else {}


def consumed_form(request: Request) -> Any | None:
    """The form Starlette parsed for FastAPI when it consumed the body stream, if any."""
    return getattr(request, "_form", None)


def apiroute_option_names() -> frozenset[str]:
    """The keyword arguments `APIRoute` takes (route options a route table may pass on)."""
    return frozenset(inspect.signature(APIRoute.__init__).parameters)


async def call_with_dependencies(conn: HTTPConnection, call: Callable[..., Any]) -> Any:
    """Call `call` with its parameters solved by FastAPI for `conn`, return its result.

    Used for a test's `app.dependency_overrides` replacement of a Nova-style security
    function when the replacement has a FastAPI signature (a header, a scheme, `Depends`):
    FastAPI would solve it that way for any overridden dependency. Invalid input raises
    FastAPI's validation error (422 on HTTP, a 1008 close on a WebSocket), as there.
    """
    from fastapi.dependencies.utils import get_dependant, solve_dependencies
    from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError

    dependant = get_dependant(path=conn.url.path, call=call)
    stack = conn.scope.get("fastapi_inner_astack")
    async with AsyncExitStack() as own_stack:
        solved = await solve_dependencies(
            request=conn,  # type: ignore[arg-type]  # a Request or a WebSocket, as FastAPI's
            dependant=dependant,
            dependency_overrides_provider=conn.scope.get("app"),
            async_exit_stack=stack if isinstance(stack, AsyncExitStack) else own_stack,
            embed_body_fields=False,
        )
        if solved.errors:
            if isinstance(conn, WebSocket):
                raise WebSocketRequestValidationError(solved.errors)
            raise RequestValidationError(solved.errors)
        if inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
            getattr(call, "__call__", None)  # noqa: B004 - an object with async __call__
        ):
            return await call(**solved.values)
        result = await run_in_threadpool(call, **solved.values)
        return await result if inspect.isawaitable(result) else result


def response_field(model: Any, name: str) -> Any:
    """The field FastAPI validates and serializes a route's return value with.

    Built as `APIRoute` builds its `response_field` for `response_model`, so that a
    `("json", payload)` is filtered exactly as a returned value would be.
    """
    from fastapi.utils import create_model_field

    return create_model_field(name=name, type_=model, mode="serialization")


async def serialize_response(field: Any, payload: Any, **options: Any) -> Any:
    """FastAPI's own `serialize_response`: validate `payload` against `field` and dump it
    with the route's `response_model_*` options; raises `ResponseValidationError`."""
    return await fastapi.routing.serialize_response(
        field=field, response_content=payload, is_coroutine=True, **options
    )


def websocket_channels(websocket: WebSocket) -> tuple[Receive, Send] | None:
    """The ASGI `receive` and `send` a `WebSocket` wraps (Starlette's `_receive`, `_send`), or
    None when this Starlette keeps them elsewhere (the caller then uses the WebSocket's own
    methods)."""
    receive = getattr(websocket, "_receive", None)
    send = getattr(websocket, "_send", None)
    if callable(receive) and callable(send):
        return receive, send
    return None
