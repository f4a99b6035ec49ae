"""NovaRouter: Nova route groups as a FastAPI `APIRouter`.

`app.include_router(NovaRouter(routes))` is the whole set-up: security runs as a dependency
of each route of its group, bindings become path parameters that `/docs` shows, status
pages answer for the router's routes, and the pub/sub backend is connected by the router's
lifespan (FastAPI merges it into the app's).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, cast

from fastapi import params
from fastapi.datastructures import Default
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter, APIWebSocketRoute
from fastapi.utils import generate_unique_id
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from fastapi_nova import pubsub as pubsub_module
from fastapi_nova._fastapi_compat import (
    EffectiveRoute,
    dependency_calls,
    included_router,
    included_routes,
    included_websocket_routes,
    lean_inclusion,
    own_routes,
    route_path,
    route_selected,
    routes_version,
    select_context,
)
from fastapi_nova._route import (
    NovaRoute,
    NovaRouteInfo,
    direct_app,
    direct_websocket_app,
    method_not_allowed,
    route_info,
)
from fastapi_nova._route_index import Found, IndexedRoute, RouteIndex
from fastapi_nova.connection import _deny_upgrade, _serve_websocket
from fastapi_nova.controllers import _ControllerOptions, _make_endpoint, _response_model_of
from fastapi_nova.errors import _SecurityDenied
from fastapi_nova.gc_policy import _apply_gc_policy, _release_gc_policy
from fastapi_nova.groups import (
    _DOCUMENTED_DEFAULT_METHODS,
    _GroupInfo,
    _HttpRouteSpec,
    _parse_groups,
    _pattern,
    _StaticRouteSpec,
    _StatusPageSpec,
    _WebSocketRouteSpec,
)
from fastapi_nova.handlers import HandlerRegistry, default_registry
from fastapi_nova.openapi import _route_openapi
from fastapi_nova.request import _is_nova_style, _websocket_nova_request
from fastapi_nova.security import _security_dependency
from fastapi_nova.static import _STATIC_METHODS, _static_endpoint
from fastapi_nova.templates import _finder_for, _module_directory, _TemplateDirs
from fastapi_nova.types import Routes
from fastapi_nova.websocket_options import WebSocketOptions

#: Top-level scope key where `matches` leaves the index's answer for `handle` (top level:
#: FastAPI probes trailing-slash redirects on a shallow copy of the scope).
_FOUND = "fastapi_nova.found"
#: Where a router keeps what it compiled for an inclusion (FastAPI's wrapper of it) or for
#: itself: on that object, so that it lives exactly as long as the inclusion. An inclusion
#: holds its app; a cache in the router would keep every app it was ever included in alive.
_INDEX_ATTR = "_fastapi_nova_index"  # (id of its object, routes version, index or None)
_WS_ATTR = "_fastapi_nova_ws_version"  # routes version its WebSocket routes were set up for


@dataclass(frozen=True)
class _Target:
    """What the index hands back for a route: how to serve it in this inclusion."""

    route: EffectiveRoute
    #: The route as its own ASGI app, below FastAPI's wrapper (None: through FastAPI).
    direct: ASGIApp | None


def _own_routes(router: APIRouter) -> list[EffectiveRoute] | None:
    return own_routes(router.routes)


def _remember(owner: object, name: str, value: Any) -> None:
    """Cache `value` on `owner` (one of `_INDEX_ATTR`, `_WS_ATTR`); an object that takes no
    attributes (another FastAPI's wrapper) is simply asked again next time."""
    try:
        setattr(owner, name, value)
    except AttributeError:
        pass


def _keeps_dispatch(cls: type[NovaRouter]) -> bool:
    """True when `cls` answers `matches` and `handle` as NovaRouter does: only then may the
    wrapper of its inclusions skip them (`lean_inclusion`); a subclass's own are called
    on every request, as FastAPI calls them."""
    return cls.matches is NovaRouter.matches and cls.handle is NovaRouter.handle


def _has_overrides(scope: Scope) -> bool:
    return bool(getattr(scope.get("app"), "dependency_overrides", None))


def _indexed(route: EffectiveRoute) -> IndexedRoute[_Target]:
    """A route for the index; served directly when nothing is left for FastAPI to solve."""
    info = route_info(route.route)
    direct = None
    if (
        info is not None
        and info.direct_candidate
        and route.dependency_calls == info.own_dependencies
        and route.max_body_size is None
    ):
        direct = direct_app(info, route.route.name)
    allow = frozenset(info.allow) if info is not None else route.methods
    return IndexedRoute(
        path_format=route.path_format,
        path_regex=route.path_regex,
        convertors=route.convertors,
        methods=route.methods,
        allow=allow,
        target=_Target(route, direct),
    )


def _serve_websocket_directly(route: BaseRoute) -> None:
    """Serve a Nova WebSocket route as a plain Starlette WebSocket route when FastAPI has
    nothing to solve for it: no plugins or dependencies (the group's or an inclusion's) and
    Nova-style (or no) security, the decision the HTTP side makes in `_indexed`."""
    if not isinstance(route, APIWebSocketRoute) or getattr(route, "_nova_direct", False):
        return
    info = route_info(route.endpoint)
    if info is None or info.kind != "ws" or not info.direct_candidate:
        return
    if dependency_calls(route) != info.own_dependencies:
        return
    route.app = direct_websocket_app(info, route.endpoint, route.app)
    route._nova_direct = True  # type: ignore[attr-defined]


def _nova_lifespan(
    user_lifespan: Callable[[Any], AbstractAsyncContextManager[Any]] | None,
    gc_policy: bool = True,
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        await pubsub_module.startup()
        applied = False
        try:
            if user_lifespan is None:
                applied = _gc_policy_at_startup(gc_policy)
                yield None
            else:
                async with user_lifespan(app) as state:
                    applied = _gc_policy_at_startup(gc_policy)
                    yield state
        finally:
            if applied:
                _release_gc_policy()
            await pubsub_module.shutdown()

    return lifespan


def _gc_policy_at_startup(wanted: bool) -> bool:
    # The end of start-up: what exists now lives as long as the process (gc_policy.py).
    if wanted:
        _apply_gc_policy()
    return wanted


# APIRouter's defaults: placeholders, so an app-level setting still wins where none is given.
_DEFAULT_RESPONSE_CLASS: Any = Default(JSONResponse)
_DEFAULT_UNIQUE_ID: Any = Default(generate_unique_id)
_DEFAULT_STRICT_CONTENT_TYPE: Any = Default(True)


class NovaRouter(APIRouter):
    """An `APIRouter` built from Nova route groups.

    ```python
    def routes(environment):
        return [
            {"prefix": "", "security": False, "routes": [
                ("/heartbeat", lambda req: ("status", 200), {"methods": ["get"]}),
            ]},
            {"prefix": "/api", "security": auth.check, "routes": [
                ("/users/:id", api_controller.show, {"methods": ["get"]}),
            ]},
        ]

    app.include_router(NovaRouter(routes))
    ```

    `routes` is a list of groups or a callable `routes(environment)`; `environment`
    defaults to `$NOVA_ENV` or `"dev"`. `registry` is the handler registry (default:
    the process-wide one), `pubsub` the pub/sub URL (default: `$NOVA_PUBSUB_URL` or
    `memory://`; a different URL than another router's raises
    [`PubSubConfigError`][fastapi_nova.PubSubConfigError]), `templates` the template directories
    (default: `templates/` beside the module that defines the routes). `gc_policy=False`
    leaves the garbage collector as it is; by default the router's lifespan freezes the
    start-up heap (see `fastapi_nova.gc_policy`). The other
    keyword arguments are `APIRouter`'s.
    Raises [`RouteConfigError`][fastapi_nova.RouteConfigError] for a malformed route table.
    """

    def __init__(
        self,
        routes: Routes,
        *,
        environment: str | None = None,
        registry: HandlerRegistry | None = None,
        pubsub: str | None = None,
        templates: _TemplateDirs | None = None,
        gc_policy: bool = True,
        # APIRouter's own keyword arguments, spelled out (with its defaults) so that a
        # misspelled one is a type error rather than a TypeError at start-up.
        prefix: str = "",
        tags: list[str | Enum] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        default_response_class: type[Response] = _DEFAULT_RESPONSE_CLASS,
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[BaseRoute] | None = None,
        redirect_slashes: bool = True,
        default: ASGIApp | None = None,
        dependency_overrides_provider: Any | None = None,
        route_class: type[APIRoute] = APIRoute,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        lifespan: Callable[[Any], AbstractAsyncContextManager[Any]] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        generate_unique_id_function: Callable[[APIRoute], str] = _DEFAULT_UNIQUE_ID,
        strict_content_type: bool = _DEFAULT_STRICT_CONTENT_TYPE,
        max_body_size: int | None = None,
        form_limits: Any | None = None,  # FastAPI's type for it is private (_FormLimits)
    ) -> None:
        super().__init__(
            prefix=prefix,
            tags=tags,
            dependencies=dependencies,
            default_response_class=default_response_class,
            responses=responses,
            callbacks=callbacks,
            redirect_slashes=redirect_slashes,
            default=default,
            dependency_overrides_provider=dependency_overrides_provider,
            route_class=route_class,
            on_startup=on_startup,
            on_shutdown=on_shutdown,
            lifespan=_nova_lifespan(lifespan, gc_policy),
            deprecated=deprecated,
            include_in_schema=include_in_schema,
            generate_unique_id_function=generate_unique_id_function,
            strict_content_type=strict_content_type,
            max_body_size=max_body_size,
            form_limits=form_limits,
        )
        self.environment = environment or os.environ.get("NOVA_ENV") or "dev"
        if callable(routes):
            base_module: str | None = getattr(routes, "__module__", None)
            table = routes(self.environment)
        else:
            base_module = sys._getframe(1).f_globals.get("__name__")
            table = routes
        if pubsub is not None:  # PubSubConfigError if another router named another backend
            pubsub_module.configure(pubsub)
        #: The process's pub/sub, which this router's lifespan starts and stops.
        self.pubsub = pubsub_module.current()
        self.registry = registry or default_registry
        specs = _parse_groups(table, base_dir=_module_directory(base_module))
        self._group_dependencies: dict[
            int, tuple[list[params.Depends], list[Callable[..., Any]]]
        ] = {}
        self.nova_options = _ControllerOptions(
            registry=self.registry,
            templates=_finder_for(templates, base_module),
            status_pages={s.code: s.controller for s in specs if isinstance(s, _StatusPageSpec)},
        )
        # Every method of a path, shared by its routes for the 405 `Allow` header.
        allow: dict[str, set[str]] = {}
        for spec in specs:
            if isinstance(spec, _HttpRouteSpec):
                self._add_http(spec, allow)
            elif isinstance(spec, _WebSocketRouteSpec):
                self._add_websocket(spec)
            elif isinstance(spec, _StaticRouteSpec):
                self._add_static(spec, allow)
        # Nova's [...] also matches no segment at all. Those bare paths come last, so a route
        # declared for the bare path itself wins over the wildcard's empty match.
        for spec in specs:
            if isinstance(spec, _HttpRouteSpec) and spec.wildcard:
                self._add_wildcard_base(spec, allow)

    # ------------------------------------------------------------------ dispatch
    # FastAPI asks an included router `matches` and then `handle`; both used to scan the
    # table. Here the compiled index answers `matches` once and `handle` reuses it; after
    # an inclusion's first request its wrapper asks `_inclusion_matches` and
    # `_inclusion_handle` directly (_fastapi_compat.lean_inclusion).

    def _index(
        self, owner: Any, read: Callable[[Any], list[EffectiveRoute] | None]
    ) -> RouteIndex[_Target] | None:
        """The compiled index for one inclusion (or the router itself), rebuilt when routes
        change; None when FastAPI's dispatch must be used (see _fastapi_compat)."""
        version = routes_version(self)
        if version is None:
            return None
        cached = getattr(owner, _INDEX_ATTR, None)  # the id: not copied along with its object
        if cached is not None and cached[1] == version and cached[0] == id(owner):
            return cast("RouteIndex[_Target] | None", cached[2])
        routes = read(owner)
        index = None if routes is None else RouteIndex(_indexed(r) for r in routes)
        _remember(owner, _INDEX_ATTR, (id(owner), version, index))
        return index

    def _lookup(self, scope: Scope) -> tuple[object, Found[_Target] | None] | None:
        """The index's answer for an HTTP request dispatched to one of this router's
        inclusions: (inclusion, what was found); None when FastAPI must dispatch."""
        included = included_router(scope, self) if scope["type"] == "http" else None
        if included is None:
            return None
        index = self._index(included, included_routes)
        if index is None:
            return None
        if _keeps_dispatch(type(self)):  # later requests: _inclusion_matches, _inclusion_handle
            lean_inclusion(included, self)
        return included, index.lookup(route_path(scope), scope["method"])

    def _inclusion_matches(self, inclusion: Any, scope: Scope) -> tuple[Match, Scope] | None:
        """`matches` for FastAPI's wrapper of one inclusion (see `lean_inclusion`): the
        index's answer, passed to `handle` in the child scope; None: FastAPI's way."""
        if scope["type"] != "http":
            return None
        index = self._index(inclusion, included_routes)
        if index is None:
            return None
        found = index.lookup(route_path(scope), scope["method"])
        if found is None:
            return Match.NONE, {}
        match = Match.FULL if found.route is not None else Match.PARTIAL
        return match, {_FOUND: (inclusion, found)}

    def _inclusion_handle(
        self, inclusion: Any, scope: Scope, receive: Receive, send: Send
    ) -> Awaitable[None] | None:
        """`handle` for FastAPI's wrapper of one inclusion: a route served directly runs
        at once; None (anything else) lets the wrapper go through `handle`, which reuses
        the index's answer."""
        cached = scope.get(_FOUND)
        if cached is None or cached[0] is not inclusion or _has_overrides(scope):
            return None
        found: Found[_Target] = cached[1]
        route = found.route
        if route is None or route.target.direct is None:
            return None
        del scope[_FOUND]
        self._select(route.target.route, found.path_params, scope)
        return route.target.direct(scope, receive, send)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        looked_up = self._lookup(scope)
        if looked_up is None:
            return super().matches(scope)
        found = looked_up[1]
        if found is None:
            return Match.NONE, {}
        scope[_FOUND] = looked_up
        return (Match.FULL if found.route is not None else Match.PARTIAL), {}

    def handle(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        # A plain function returning the coroutine that serves the request: a WebSocket
        # connection keeps every level of its await chain as a frame (issue 11).
        if scope["type"] == "websocket":
            self._direct_websockets(scope)
            return self._dispatch(super().handle, scope, receive, send)
        return self._handle(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Included in an app, the app's router dispatches here after `matches`, whose answer
        # is reused unless it was for another inclusion of this router.
        cached = scope.pop(_FOUND, None)
        if cached is None or cached[0] is not included_router(scope, self):
            cached = self._lookup(scope)
        if cached is not None and cached[1] is not None:
            await self._serve(cached[1], scope, receive, send)
            return
        await self._dispatch(super().handle, scope, receive, send)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Used directly as an ASGI app (or mounted), the router's own entry point.
        if scope["type"] == "http" and not getattr(self, "form_limits", None):
            index = self._index(self, _own_routes)
            found = None if index is None else index.lookup(route_path(scope), scope["method"])
            if found is not None:
                scope.setdefault("router", self)
                await self._serve(found, scope, receive, send)
                return
        await self._dispatch(super().app, scope, receive, send)

    async def _serve(
        self, found: Found[_Target], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Serve what the index found: the route (directly or through FastAPI), or a 405."""
        if found.route is None:
            request = Request(scope, receive, send)
            response = await method_not_allowed(request, found.allow, self.nova_options)
            await response(scope, receive, send)
            return
        target = found.route.target
        route = target.route
        self._select(route, found.path_params, scope)
        if target.direct is not None and not _has_overrides(scope):
            await target.direct(scope, receive, send)
            return
        if route.context is not None:
            select_context(scope, route.context)
        await route.route.handle(scope, receive, send)

    @staticmethod
    def _select(route: EffectiveRoute, path_params: dict[str, Any], scope: Scope) -> None:
        """Record the route chosen for the request in its scope, as FastAPI's dispatch does."""
        outer = scope.get("path_params")
        scope["path_params"] = {**outer, **path_params} if outer else path_params
        scope["endpoint"] = route.endpoint
        scope["route"] = route.route
        if "fastapi.telemetry" in scope:
            route_selected(scope, route.path_format)

    def _direct_websockets(self, scope: Scope) -> None:
        """Serve this inclusion's WebSocket routes directly where FastAPI has nothing to
        solve; decided once per inclusion (and again when the routes change)."""
        included = included_router(scope, self)
        version = routes_version(self)
        if included is None or version is None:
            return
        if getattr(included, _WS_ATTR, None) == version:
            return
        for route in included_websocket_routes(included):
            _serve_websocket_directly(route)
        _remember(included, _WS_ATTR, version)

    async def _dispatch(
        self,
        inner: Callable[[Scope, Receive, Send], Awaitable[None]],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Answer a WebSocket route's security denial with the ASGI denial response.

        HTTP denials are answered inside the route; on a WebSocket route the denial raised by
        the security dependency has no route-level place to be caught (FastAPI rebuilds an
        included WebSocket route from its endpoint), so it is caught here. No handler is
        ever instantiated for a denied upgrade.
        """
        if scope["type"] != "websocket":
            await inner(scope, receive, send)
            return
        try:
            await inner(scope, receive, send)
        except _SecurityDenied as denied:
            await _deny_upgrade(WebSocket(scope, receive, send), denied.response)
            return
        # A FastAPI scheme (HTTPBasic, ...) may have refused the upgrade through FastAPI's own
        # HTTPException handler; give uvicorn the loop turn deny_upgrade explains, so that
        # refusal is not logged as an error either.
        await asyncio.sleep(0)

    def _dependencies(
        self, group: _GroupInfo
    ) -> tuple[list[params.Depends], list[Callable[..., Any]]]:
        """The group's dependencies in order (plugins, security, dependencies) and own calls.

        Built once per group: every route of the group shares one security dependency.
        """
        cached = self._group_dependencies.get(group.index)
        if cached is None:
            deps: list[params.Depends] = list(group.plugins)
            own: list[Callable[..., Any]] = []
            if group.security is not None:
                security = _security_dependency(group.security)
                deps.append(params.Depends(security))
                own.append(security)
            deps.extend(group.dependencies)
            cached = self._group_dependencies[group.index] = (deps, own)
        return list(cached[0]), list(cached[1])

    def _controller_options(self, fastapi_options: dict[str, Any]) -> _ControllerOptions:
        """One HTTP route's ControllerOptions: the router's, with what its options change."""
        return replace(
            self.nova_options,
            status_override=fastapi_options.get("status_code"),
            response_model=_response_model_of(fastapi_options),
        )

    def _add_http(self, spec: _HttpRouteSpec, allow_by_path: dict[str, set[str]]) -> None:
        group = spec.group
        allow = allow_by_path.setdefault(_pattern(spec.path), set())
        fastapi_options = dict(spec.fastapi_options)
        options = self._controller_options(fastapi_options)
        bound, endpoint = _make_endpoint(spec.controller, options, spec.path_params)
        deps, own = self._dependencies(group)
        route_deps = fastapi_options.pop("dependencies", [])
        info = NovaRouteInfo(
            kind="http",
            group=group,
            nova_path=spec.nova_path,
            path=spec.path,
            target=spec.controller,
            security=group.security,
            allow=allow,
            options=options,
            bound=bound,
            direct_candidate=bound.nova_style
            and not (group.plugins or group.dependencies or route_deps)
            and (group.security is None or _is_nova_style(group.security)),
            own_dependencies=own,
        )
        endpoint.__nova_route__ = info  # type: ignore[attr-defined]
        tags = [*group.tags, *fastapi_options.pop("tags", [])]
        include = fastapi_options.pop("include_in_schema", True)
        route_class = cast(type[APIRoute], functools.partial(NovaRoute, nova=info))
        allow.update(spec.methods)
        for method in spec.methods:
            documented = spec.methods_given or method in _DOCUMENTED_DEFAULT_METHODS
            with _rejections_named(group, spec.nova_path):
                self.add_api_route(
                    spec.path,
                    endpoint,
                    methods=[method],
                    dependencies=[*deps, *route_deps],
                    tags=list(tags) or None,
                    include_in_schema=include and documented,
                    route_class_override=route_class,
                    **_route_openapi(spec, method, options, fastapi_options),
                )

    def _add_wildcard_base(self, spec: _HttpRouteSpec, allow_by_path: dict[str, set[str]]) -> None:
        """Serve the path of a `[...]` route without its wildcard (zero segments)."""
        base = spec.path.rsplit("/", 1)[0] or "/"
        bare = replace(
            spec,
            path=base,
            path_params=spec.path_params[:-1],
            wildcard=False,
            fastapi_options={
                **{k: v for k, v in spec.fastapi_options.items() if k != "name"},
                "include_in_schema": False,
            },
        )
        self._add_http(bare, allow_by_path)

    def _add_websocket(self, spec: _WebSocketRouteSpec) -> None:
        group = spec.group
        try:
            ws_options = WebSocketOptions.from_route_options(spec.options)
        except ValueError as exc:
            raise group.route_error(spec.nova_path, str(exc)) from exc
        handler_cls = spec.handler

        def endpoint(websocket: WebSocket) -> Coroutine[Any, Any, None]:
            # A plain function returning the connection's coroutine: every level of a
            # suspended connection's await chain is a frame kept per socket (issue 11).
            state: dict[str, Any] = {"req": _websocket_nova_request(websocket)}
            scope_state = websocket.scope.get("fastapi_nova", {})
            if "auth_data" in scope_state:
                state["auth_data"] = scope_state["auth_data"]
            return _serve_websocket(websocket, handler_cls, state=state, options=ws_options)

        endpoint.__name__ = endpoint.__qualname__ = handler_cls.__name__
        deps, own = self._dependencies(group)
        endpoint.__nova_route__ = NovaRouteInfo(  # type: ignore[attr-defined]
            kind="ws",
            group=group,
            nova_path=spec.nova_path,
            path=spec.path,
            target=handler_cls,
            security=group.security,
            direct_candidate=not (group.plugins or group.dependencies)
            and (group.security is None or _is_nova_style(group.security)),
            own_dependencies=own,
        )
        with _rejections_named(group, spec.nova_path):
            self.add_api_websocket_route(
                spec.path, endpoint, name=handler_cls.__name__, dependencies=deps
            )
        _serve_websocket_directly(self.routes[-1])

    def _add_static(self, spec: _StaticRouteSpec, allow_by_path: dict[str, set[str]]) -> None:
        endpoint = _static_endpoint(spec.local, spec.options)
        deps, _ = self._dependencies(spec.group)
        for path in spec.paths:
            allow = allow_by_path.setdefault(_pattern(path), set())
            allow.update(_STATIC_METHODS)
            info = NovaRouteInfo(
                kind="static",
                group=spec.group,
                nova_path=spec.nova_path,
                path=path,
                target=spec.local,
                security=spec.group.security,
                allow=allow,
                options=self.nova_options,
            )
            if path == spec.path:
                endpoint.__nova_route__ = info  # type: ignore[attr-defined]
            route_class = cast(type[APIRoute], functools.partial(NovaRoute, nova=info))
            for method in _STATIC_METHODS:
                with _rejections_named(spec.group, spec.nova_path):
                    self.add_api_route(
                        path,
                        endpoint,
                        methods=[method],
                        dependencies=deps,
                        include_in_schema=False,
                        route_class_override=route_class,
                    )


@contextmanager
def _rejections_named(group: _GroupInfo, route: str) -> Iterator[None]:
    """Turn FastAPI's refusal of a route (an annotation it cannot use, a bad `responses`
    option...) into a RouteConfigError that names the group and the route."""
    try:
        yield
    except Exception as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise group.route_error(route, f"FastAPI rejected it: {message}") from exc
