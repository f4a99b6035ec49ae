"""A route table with a mistake: building the router raises RouteConfigError."""

from typing import Any

from fastapi_nova import NovaRequest, RouteGroupDict


def show_user(req: NovaRequest) -> Any:
    return ("json", {"id": req.bindings["id"]})


def routes(environment: str) -> list[RouteGroupDict]:
    return [
        {"prefix": "", "routes": [("/heartbeat", lambda req: ("status", 200))]},
        {"prefix": "/api", "routes": [
            ("/users/:id", show_user, {"methods": "get"}),  # should be ["get"]
        ]},
    ]


# NovaRouter(routes) raises:
# fastapi_nova.RouteConfigError: group 1 (prefix '/api'), route '/users/:id':
# methods must be a list of HTTP method names, got 'get'
