"""A first router: a heartbeat, the list of users and one user by id."""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, NovaRouter, RouteGroupDict

USERS = {
    "1": {"id": 1, "name": "Alice"},
    "2": {"id": 2, "name": "Bob"},
}


def heartbeat(req: NovaRequest) -> Any:
    return ("status", 200)


def list_users(req: NovaRequest) -> Any:
    return ("json", list(USERS.values()))


def show_user(req: NovaRequest) -> Any:
    user = USERS.get(req.bindings["id"])  # "/users/:id" binds "id"
    if user is None:
        return ("status", 404)
    return ("json", user)


def routes(environment: str) -> list[RouteGroupDict]:
    return [
        {"prefix": "", "security": False, "routes": [
            ("/heartbeat", heartbeat, {"methods": ["get"]}),
        ]},
        {"prefix": "/api", "security": False, "routes": [
            ("/users", list_users, {"methods": ["get"]}),
            ("/users/:id", show_user, {"methods": ["get"]}),
        ]},
    ]


app = FastAPI(title="My first fastapi-nova app")
app.include_router(NovaRouter(routes))
