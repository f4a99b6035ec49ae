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

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request


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
