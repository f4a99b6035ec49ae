"""response_model filters what ("json", ...) sends, as in plain FastAPI."""

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from fastapi_nova import ControllerReturn, NovaRequest, NovaRouter

USERS = {"1": {"id": 1, "name": "ann", "password_hash": "$2b$12$..."}}


class UserOut(BaseModel):
    id: int
    name: str


def show(req: NovaRequest) -> ControllerReturn:
    user = USERS.get(req.bindings["id"])
    if user is None:
        return ("status", 404)
    return ("json", user)  # no password_hash: UserOut has no such field


def broken(req: NovaRequest) -> Any:
    return ("json", {"id": "x"})  # does not fit UserOut: a 500, as in FastAPI


OUT = {"methods": ["get"], "response_model": UserOut}

app = FastAPI()
app.include_router(NovaRouter([
    {"prefix": "/users", "routes": [
        ("/:id", show, OUT),
        ("/broken/:id", broken, OUT),
    ]},
]))
