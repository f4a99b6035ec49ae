"""The one place fastapi-nova reads FastAPI internals.

Since 0.165 FastAPI builds an included route's handler once per inclusion, with the
inclusion's dependencies (``app.include_router(router, dependencies=[...])``) added to the
route's own. The lean path of a NovaRouter route may skip FastAPI's parameter solving only
when that combined list holds nothing but the route's own Nova-style dependencies, and the
combined list is only visible through a private context variable. When it is missing (another
FastAPI version), every route takes the general path: slower, never wrong.

It also holds ``dependencies_through``, which solves a prefix of a route's dependencies with
FastAPI's own solver, so that security answers before FastAPI's body decoding error.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.websockets import WebSocket


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


def dependency_calls(route: APIRoute) -> list[Callable[..., Any]] | None:
    """The dependency callables FastAPI is building ``route``'s handler with, or None."""
    dependant = _effective_dependant(route)
    if dependant is None:
        return None
    return [sub.call for sub in dependant.dependencies if sub.call is not None]


def dependencies_through(
    route: APIRoute, last: Callable[..., Any]
) -> Callable[[Request], Awaitable[None]] | None:
    """A function solving ``route``'s dependencies in order, up to and including ``last``.

    FastAPI decodes a route's JSON body before it solves any dependency. A route with a body
    model uses this to run its group's security (and what precedes it) when FastAPI rejected
    the body first, so that security still answers before body validation. None when
    ``last`` is not among the dependencies FastAPI is building the route with.
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
        stack = request.scope.get("fastapi_inner_astack")
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


async def call_with_dependencies(conn: HTTPConnection, call: Callable[..., Any]) -> Any:
    """Call ``call`` with its parameters solved by FastAPI for ``conn``, return its result.

    Used for a test's ``app.dependency_overrides`` replacement of a Nova-style security
    function when the replacement has a FastAPI signature (a header, a scheme, ``Depends``):
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

    Built as ``APIRoute`` builds its ``response_field`` for ``response_model``, so that a
    ``("json", payload)`` is filtered exactly as a returned value would be.
    """
    from fastapi.utils import create_model_field

    return create_model_field(name=name, type_=model, mode="serialization")


async def serialize_response(field: Any, payload: Any, **options: Any) -> Any:
    """FastAPI's own ``serialize_response``: validate ``payload`` against ``field`` and dump it
    with the route's ``response_model_*`` options; raises ``ResponseValidationError``."""
    return await fastapi.routing.serialize_response(
        field=field, response_content=payload, is_coroutine=True, **options
    )
