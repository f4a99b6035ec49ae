"""The users API over an in-memory store (Nova's ``my_first_nova_api_controller``)."""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any, Literal

from pydantic import BaseModel, Field

# typing_extensions': pydantic reads typing.TypedDict only from Python 3.12 on.
from typing_extensions import TypedDict

from example_app.controllers import fallback
from fastapi_nova import NovaRequest

#: Nova reads ``-fallback_controller(fallback).``; here it is a module attribute.
fallback_controller = fallback


class UserIn(BaseModel):
    """A user to create: both fields are required (FastAPI answers 422 otherwise)."""

    name: str
    # An explicit class, not \s: Python's \s also takes U+0085, JSON Schema's does not, and
    # /docs (and schemathesis) read this pattern as JSON Schema.
    email: str = Field(pattern=r"^[^@ \t\n\r\f\v]+@[^@ \t\n\r\f\v]+$")


class User(TypedDict):
    """A user as the store keeps it and the API shows it (OpenAPI documents this shape)."""

    id: int
    name: str
    email: str


#: What show answers: the user, or the router's 404 status page.
Found = tuple[Literal["json"], User] | tuple[Literal["status"], Literal[404]]


class Store:
    """Users in memory, safe to use from the threadpool that runs ``def`` controllers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.users: dict[int, User] = {}
        for name, email in (("Alice", "alice@example.com"), ("Bob", "bob@example.com")):
            self.add(name, email)

    def add(self, name: str, email: str) -> User:
        with self._lock:
            user = User(id=next(self._ids), name=name, email=email)
            self.users[user["id"]] = user
            return user


store = Store()


def index(req: NovaRequest) -> tuple[Literal["json"], list[User]]:
    """``GET /api/users``: every user."""
    return ("json", list(store.users.values()))


#: An id as the store makes them. ``str.isdigit`` would also take "²" (which ``int`` refuses)
#: and thousands of digits (which ``int`` refuses too): both would be a 500, not a 404.
_ID = re.compile(r"[0-9]{1,18}")


def _user(req: NovaRequest) -> User | None:
    user_id = req.bindings["id"]
    return store.users.get(int(user_id)) if _ID.fullmatch(user_id) else None


def show(req: NovaRequest) -> Found:
    """``GET /api/users/:id``: one user, or the router's 404 status page."""
    user = _user(req)
    return ("status", 404) if user is None else ("json", user)


def create(user: UserIn) -> tuple[Literal["json"], User]:
    """``POST /api/users``: a FastAPI-style controller; its body model shows in /docs."""
    return ("json", store.add(user.name, user.email))


def show_xml(
    req: NovaRequest,
) -> tuple[Literal["xml"], User] | tuple[Literal["status"], Literal[404]]:
    """``GET /api/users/:id/xml``: the custom ``xml`` handler of example_app.handlers."""
    user = _user(req)
    return ("status", 404) if user is None else ("xml", user)


def broken(req: NovaRequest) -> Any:
    """``GET /api/broken``: returns what no handler takes, so ``fallback.resolve`` answers."""
    return "something_unexpected"
