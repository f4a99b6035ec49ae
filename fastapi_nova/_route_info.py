"""Where a served route keeps what NovaRouter knew about it, read by the CLI and AsyncAPI."""

from __future__ import annotations

from fastapi.routing import RouteContext

from fastapi_nova.routing import NovaRouteInfo


def nova_info(context: RouteContext) -> NovaRouteInfo | None:
    """The ``NovaRouteInfo`` of a route NovaRouter built, or None for any other route."""
    # A NovaRoute carries its own info (one per path of a static directory); WebSocket routes
    # are plain APIWebSocketRoutes whose endpoint carries it.
    info = getattr(context.original_route, "nova", None)
    if info is None:
        info = getattr(context.endpoint, "__nova_route__", None)
    return info if isinstance(info, NovaRouteInfo) else None
