"""The one place fastapi-nova reads a FastAPI internal.

Since 0.165 FastAPI builds an included route's handler once per inclusion, with the
inclusion's dependencies (``app.include_router(router, dependencies=[...])``) added to the
route's own. The lean path of a NovaRouter route may skip FastAPI's parameter solving only
when that combined list holds nothing but the route's own Nova-style dependencies, and the
combined list is only visible through a private context variable. When it is missing (another
FastAPI version), every route takes the general path: slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastapi.routing
from fastapi.routing import APIRoute


def dependency_calls(route: APIRoute) -> list[Callable[..., Any]] | None:
    """The dependency callables FastAPI is building ``route``'s handler with, or None."""
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    if context_var is None:
        return None
    context = context_var.get()
    if context is not None and getattr(context, "original_route", None) is route:
        dependant = getattr(context, "dependant", None)
    else:
        dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    return [sub.call for sub in dependant.dependencies]
