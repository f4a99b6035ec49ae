"""Where a served route keeps what NovaRouter knew about it, read by the CLI and AsyncAPI."""

from __future__ import annotations

from fastapi.routing import RouteContext

from fastapi_nova._route import NovaRouteInfo, route_info


def nova_info(context: RouteContext) -> NovaRouteInfo | None:
    """The `NovaRouteInfo` of a route NovaRouter built, or None for any other route."""
    # The route itself for a NovaRoute (one per path of a static directory); the endpoint for
    # a WebSocket route, a plain APIWebSocketRoute.
    return route_info(context.original_route) or route_info(context.endpoint)
