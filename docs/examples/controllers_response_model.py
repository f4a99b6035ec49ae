"""response_model filters what ("json", ...) sends, as it filters a FastAPI return value."""

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
    return ("json", user)  # password_hash is not sent: UserOut has no such field


def broken(req: NovaRequest) -> Any:
    return ("json", {"id": "not a number"})  # does not fit UserOut: a 500, as in FastAPI


app = FastAPI()
app.include_router(NovaRouter([
    {"prefix": "/users", "routes": [
        ("/:id", show, {"methods": ["get"], "response_model": UserOut}),
        ("/broken/:id", broken, {"methods": ["get"], "response_model": UserOut}),
    ]},
]))
