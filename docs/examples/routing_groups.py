"""Route groups: prefixes, bindings, a wildcard, methods, and options passed on
to FastAPI.
"""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, NovaRouter, RouteGroup


def show_user(req: NovaRequest) -> Any:
    return ("json", {"id": req.bindings["id"]})


def delete_user(req: NovaRequest) -> Any:
    return ("status", 204)


def show_file(req: NovaRequest) -> Any:
    # "/files/:owner/[...]": one binding, then the rest of the path as a list
    # of segments.
    return ("json", {"owner": req.bindings["owner"], "path": req.pathinfo})


def echo(req: NovaRequest) -> Any:
    return ("json", {"method": req.method, "query": req.parsed_qs})


def debug_routes(req: NovaRequest) -> Any:
    return ("json", {"environment": "dev"})


def routes(environment: str) -> list[Any]:
    groups: list[Any] = [
        {"prefix": "/api", "tags": ["users"], "routes": [
            ("/users/:id", show_user, {
                "methods": ["get"],
                "summary": "One user",
                "responses": {404: {"description": "No such user"}},
            }),
            ("/users/:id", delete_user, {
                "methods": ["delete"],
                "status_code": 204,
            }),
            ("/echo", echo),  # no "methods": every method
        ]},
        # The typed form of a group; validated exactly like the dict.
        RouteGroup(prefix="/api", tags=["files"], routes=[
            ("/files/:owner/[...]", show_file, {
                "methods": ["get"],
                "deprecated": True,
            }),
        ]),
    ]
    if environment == "dev":
        groups.append({"prefix": "/debug", "routes": [
            ("/routes", debug_routes, {
                "methods": ["get"],
                "include_in_schema": False,
            }),
        ]})
    return groups


app = FastAPI()
app.include_router(NovaRouter(routes))  # environment: $NOVA_ENV, else "dev"

prod = FastAPI()
prod.include_router(NovaRouter(routes, environment="prod"))
