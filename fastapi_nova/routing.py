"""NovaRouter: Nova route groups as a FastAPI ``APIRouter``.

``app.include_router(NovaRouter(routes))`` is the whole set-up: security runs as a dependency
of each route of its group, bindings become path parameters that ``/docs`` shows, status
pages answer for the router's routes, and the pub/sub backend is connected by the router's
lifespan (FastAPI merges it into the app's).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, cast

from fastapi import params
from fastapi.datastructures import Default
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from fastapi.utils import generate_unique_id
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from fastapi_nova._fastapi_compat import dependencies_through, dependency_calls
from fastapi_nova.controllers import (
    BoundController,
    ControllerOptions,
    error_response,
    make_endpoint,
    render_status_page,
    response_model_of,
)
from fastapi_nova.errors import RouteConfigError
from fastapi_nova.groups import (
    ALL_METHODS,
    DOCUMENTED_DEFAULT_METHODS,
    GroupInfo,
    HttpRouteSpec,
    StaticRouteSpec,
    StatusPageSpec,
    WebSocketRouteSpec,
    _pattern,
    parse_groups,
)
from fastapi_nova.handlers import HandlerRegistry, default_registry
from fastapi_nova.openapi import route_openapi
from fastapi_nova.request import build_nova_request, is_nova_style
from fastapi_nova.security import (
    SecurityDenied,
    run_nova_security,
    security_dependency,
    security_passed,
)
from fastapi_nova.static import STATIC_METHODS, static_endpoint
from fastapi_nova.templates import TemplateDirs, finder_for, module_directory
from fastapi_nova.types import Routes

logger = logging.getLogger("fastapi_nova.routing")

_METHOD_ORDER = {m: i for i, m in enumerate((*ALL_METHODS, "TRACE"))}


@dataclass
class NovaRouteInfo:
    """What a route came from, for the ``routes`` CLI and for request handling."""

    kind: str  # "http" | "ws" | "static"
    group: GroupInfo
    nova_path: str
    path: str
    target: Any  # controller, handler class, or local path
    security: Callable[..., Any] | None
    #: Every method of this path in the router, for the 405 ``Allow`` header.
    allow: set[str] = field(default_factory=set)
    options: ControllerOptions | None = None
    bound: BoundController | None = None
    #: The lean path is possible for this route (Nova-style controller and security).
    lean_candidate: bool = False
    #: The dependency callables the route itself declares (compared with FastAPI's list).
    own_dependencies: list[Callable[..., Any]] = field(default_factory=list)


def _has_overrides(request: Request) -> bool:
    app = request.scope.get("app")
    return bool(getattr(app, "dependency_overrides", None))


class NovaRoute(APIRoute):
    """An ``APIRoute`` that answers Nova's way: denials, status pages, full 405 ``Allow``.

    A Nova-style controller with Nova-style (or no) security and no FastAPI dependencies is
    served by a lean handler that skips FastAPI's per-request parameter solving; the
    route object, and so the OpenAPI document, is the same either way.
    """

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, nova: NovaRouteInfo, **kwargs: Any
    ):
        self.nova = nova  # get_route_handler, called by APIRoute.__init__, reads it
        super().__init__(path, endpoint, **kwargs)

    def _lean_handler(self) -> Callable[[Request], Any] | None:
        nova = self.nova
        if not nova.lean_candidate or nova.bound is None:
            return None
        if dependency_calls(self) != nova.own_dependencies:
            return None  # the inclusion added dependencies: FastAPI must solve them
        bound, security = nova.bound, nova.security
        if security is None:
            return bound.run_nova

        async def lean(request: Request) -> Response:
            await run_nova_security(security, request)
            return await bound.run_nova(request)

        return lean

    def _security_first(self) -> Callable[[Request], Awaitable[None]] | None:
        """For a route with a body model: run plugins and security when FastAPI's body
        reading (which comes before every dependency) rejected the request first."""
        security = self.nova.own_dependencies[:1]  # the group security dependency, if any
        if self.body_field is None or not security:
            return None
        return dependencies_through(self, security[0])

    def get_route_handler(self) -> Callable[[Request], Any]:
        general = super().get_route_handler()
        lean = self._lean_handler()
        security_first = self._security_first()
        options = self.nova.options or ControllerOptions()
        route_name = self.name

        async def handler(request: Request) -> Response:
            try:
                try:
                    if lean is not None and not _has_overrides(request):
                        return await lean(request)  # type: ignore[no-any-return]
                    return await general(request)
                except (RequestValidationError, HTTPException) as exc:
                    if (
                        security_first is None
                        or security_passed(request)
                        or not _body_unreadable(exc)
                    ):
                        raise
                    await security_first(request)  # denies by raising, as in the route
                    raise
            except SecurityDenied as denied:
                return denied.response
            except HTTPException as exc:
                page = await render_status_page(
                    exc.status_code, dict(exc.headers or {}), request, options
                )
                if page is None:
                    raise
                return page
            except RequestValidationError:
                raise
            except Exception:
                if 500 not in options.status_pages:
                    raise
                logger.exception("route %s raised; answering with the 500 status page", route_name)
                page = await render_status_page(500, {}, request, options)
                if page is None:
                    raise
                return page

        return handler

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in (self.methods or ()):
            request = Request(scope, receive, send)
            options = self.nova.options or ControllerOptions()
            response = await error_response(405, "Method Not Allowed", request, options)
            response.headers["allow"] = ", ".join(
                sorted(self.nova.allow, key=lambda m: _METHOD_ORDER.get(m, 99))
            )
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def _body_unreadable(exc: RequestValidationError | HTTPException) -> bool:
    """True for FastAPI's answer to a body it could not read, raised before any dependency.

    That is its 422 for a body that is not JSON, and its 400 for one it could not parse at
    all (JSON nested too deep, broken multipart): both raised while handling the parse error.
    """
    if isinstance(exc, RequestValidationError):
        return any(error.get("type") == "json_invalid" for error in exc.errors())
    return exc.status_code == 400 and (exc.__cause__ or exc.__context__) is not None


def _nova_lifespan(
    user_lifespan: Callable[[Any], AbstractAsyncContextManager[Any]] | None,
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        from fastapi_nova import pubsub

        await pubsub.startup()
        try:
            if user_lifespan is None:
                yield None
            else:
                async with user_lifespan(app) as state:
                    yield state
        finally:
            await pubsub.shutdown()

    return lifespan


# APIRouter's defaults: placeholders, so an app-level setting still wins where none is given.
_DEFAULT_RESPONSE_CLASS: Any = Default(JSONResponse)
_DEFAULT_UNIQUE_ID: Any = Default(generate_unique_id)
_DEFAULT_STRICT_CONTENT_TYPE: Any = Default(True)


class NovaRouter(APIRouter):
    """An ``APIRouter`` built from Nova route groups.

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

    ``routes`` is a list of groups or a callable ``routes(environment)``; ``environment``
    defaults to ``$NOVA_ENV`` or ``"dev"``. ``registry`` is the handler registry (default:
    the process-wide one), ``pubsub`` the pub/sub URL (default: ``$NOVA_PUBSUB_URL`` or
    ``memory://``; a different URL than another router's raises
    :class:`~fastapi_nova.PubSubConfigError`), ``templates`` the template directories
    (default: ``templates/`` beside the module that defines the routes). The other keyword
    arguments are ``APIRouter``'s.
    Raises :class:`~fastapi_nova.RouteConfigError` for a malformed route table.
    """

    def __init__(
        self,
        routes: Routes,
        *,
        environment: str | None = None,
        registry: HandlerRegistry | None = None,
        pubsub: str | None = None,
        templates: TemplateDirs | None = None,
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
            lifespan=_nova_lifespan(lifespan),
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
        from fastapi_nova import pubsub as pubsub_module

        if pubsub is not None:  # PubSubConfigError if another router named another backend
            pubsub_module.configure(pubsub)
        #: The process's pub/sub, which this router's lifespan starts and stops.
        self.pubsub = pubsub_module.current()
        self.registry = registry or default_registry
        specs = parse_groups(table, base_dir=module_directory(base_module))
        self._group_dependencies: dict[
            int, tuple[list[params.Depends], list[Callable[..., Any]]]
        ] = {}
        self.nova_options = ControllerOptions(
            registry=self.registry,
            templates=finder_for(templates, base_module),
            status_pages={s.code: s.controller for s in specs if isinstance(s, StatusPageSpec)},
        )
        # Every method of a path, shared by its routes for the 405 ``Allow`` header.
        allow: dict[str, set[str]] = {}
        for spec in specs:
            if isinstance(spec, HttpRouteSpec):
                self._add_http(spec, allow)
            elif isinstance(spec, WebSocketRouteSpec):
                self._add_websocket(spec)
            elif isinstance(spec, StaticRouteSpec):
                self._add_static(spec, allow)
        # Nova's [...] also matches no segment at all. Those bare paths come last, so a route
        # declared for the bare path itself wins over the wildcard's empty match.
        for spec in specs:
            if isinstance(spec, HttpRouteSpec) and spec.wildcard:
                self._add_wildcard_base(spec, allow)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Included in an app, the app's router dispatches here.
        await self._dispatch(super().handle, scope, receive, send)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Used directly as an ASGI app (or mounted), the router's own entry point.
        await self._dispatch(super().app, scope, receive, send)

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
        from fastapi_nova.websocket import deny_upgrade

        try:
            await inner(scope, receive, send)
        except SecurityDenied as denied:
            await deny_upgrade(WebSocket(scope, receive, send), denied.response)
            return
        # A FastAPI scheme (HTTPBasic, ...) may have refused the upgrade through FastAPI's own
        # HTTPException handler; give uvicorn the loop turn deny_upgrade explains, so that
        # refusal is not logged as an error either.
        await asyncio.sleep(0)

    def _dependencies(
        self, group: GroupInfo
    ) -> tuple[list[params.Depends], list[Callable[..., Any]]]:
        """The group's dependencies in order (plugins, security, dependencies) and own calls.

        Built once per group: every route of the group shares one security dependency.
        """
        cached = self._group_dependencies.get(group.index)
        if cached is None:
            deps: list[params.Depends] = list(group.plugins)
            own: list[Callable[..., Any]] = []
            if group.security is not None:
                security = security_dependency(group.security)
                deps.append(params.Depends(security))
                own.append(security)
            deps.extend(group.dependencies)
            cached = self._group_dependencies[group.index] = (deps, own)
        return list(cached[0]), list(cached[1])

    def _add_http(self, spec: HttpRouteSpec, allow_by_path: dict[str, set[str]]) -> None:
        group = spec.group
        allow = allow_by_path.setdefault(_pattern(spec.path), set())
        fastapi_options = dict(spec.fastapi_options)
        options = replace(
            self.nova_options,
            status_override=fastapi_options.get("status_code"),
            response_model=response_model_of(fastapi_options),
        )
        bound, endpoint = make_endpoint(spec.controller, options, spec.path_params)
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
            lean_candidate=bound.nova_style
            and not (group.plugins or group.dependencies or route_deps)
            and (group.security is None or is_nova_style(group.security)),
            own_dependencies=own,
        )
        endpoint.__nova_route__ = info  # type: ignore[attr-defined]
        tags = [*group.tags, *fastapi_options.pop("tags", [])]
        include = fastapi_options.pop("include_in_schema", True)
        route_class = cast(type[APIRoute], functools.partial(NovaRoute, nova=info))
        allow.update(spec.methods)
        for method in spec.methods:
            documented = spec.methods_given or method in DOCUMENTED_DEFAULT_METHODS
            with _rejections_named(group, spec.nova_path):
                self.add_api_route(
                    spec.path,
                    endpoint,
                    methods=[method],
                    dependencies=[*deps, *route_deps],
                    tags=list(tags) or None,
                    include_in_schema=include and documented,
                    route_class_override=route_class,
                    **route_openapi(spec, method, options, fastapi_options),
                )

    def _add_wildcard_base(self, spec: HttpRouteSpec, allow_by_path: dict[str, set[str]]) -> None:
        """Serve the path of a ``[...]`` route without its wildcard (zero segments)."""
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

    def _add_websocket(self, spec: WebSocketRouteSpec) -> None:
        from fastapi_nova.websocket import WebSocketOptions, serve_websocket

        group = spec.group
        try:
            ws_options = WebSocketOptions.from_route_options(spec.options)
        except ValueError as exc:
            raise _route_error(group, spec.nova_path, str(exc)) from exc
        handler_cls = spec.handler

        async def endpoint(websocket: WebSocket) -> None:
            nreq = await build_nova_request(websocket)
            state: dict[str, Any] = {"req": nreq}
            scope_state = websocket.scope.get("fastapi_nova", {})
            if "auth_data" in scope_state:
                state["auth_data"] = scope_state["auth_data"]
            await serve_websocket(websocket, handler_cls, state=state, options=ws_options)

        endpoint.__name__ = endpoint.__qualname__ = handler_cls.__name__
        endpoint.__nova_route__ = NovaRouteInfo(  # type: ignore[attr-defined]
            kind="ws",
            group=group,
            nova_path=spec.nova_path,
            path=spec.path,
            target=handler_cls,
            security=group.security,
        )
        deps, _ = self._dependencies(group)
        with _rejections_named(group, spec.nova_path):
            self.add_api_websocket_route(
                spec.path, endpoint, name=handler_cls.__name__, dependencies=deps
            )

    def _add_static(self, spec: StaticRouteSpec, allow_by_path: dict[str, set[str]]) -> None:
        endpoint = static_endpoint(spec.local, spec.options)
        deps, _ = self._dependencies(spec.group)
        for path in spec.paths:
            allow = allow_by_path.setdefault(_pattern(path), set())
            allow.update(STATIC_METHODS)
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
            for method in STATIC_METHODS:
                with _rejections_named(spec.group, spec.nova_path):
                    self.add_api_route(
                        path,
                        endpoint,
                        methods=[method],
                        dependencies=deps,
                        include_in_schema=False,
                        route_class_override=route_class,
                    )


def _route_error(group: GroupInfo, route: str, message: str) -> RouteConfigError:
    return RouteConfigError(f"{group.label}, route {route!r}: {message}")


@contextmanager
def _rejections_named(group: GroupInfo, route: str) -> Iterator[None]:
    """Turn FastAPI's refusal of a route (an annotation it cannot use, a bad ``responses``
    option...) into a RouteConfigError that names the group and the route."""
    try:
        yield
    except Exception as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise _route_error(group, route, f"FastAPI rejected it: {message}") from exc
