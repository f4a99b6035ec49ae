"""The users API over an in-memory store (Nova's ``my_first_nova_api_controller``)."""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any

from pydantic import BaseModel, Field

from example_app.controllers import fallback
from fastapi_nova import NovaRequest

#: Nova reads ``-fallback_controller(fallback).``; here it is a module attribute.
fallback_controller = fallback


class UserIn(BaseModel):
    """A user to create: both fields are required (FastAPI answers 422 otherwise)."""

    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class Store:
    """Users in memory, safe to use from the threadpool that runs ``def`` controllers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.users: dict[int, dict[str, Any]] = {}
        for name, email in (("Alice", "alice@example.com"), ("Bob", "bob@example.com")):
            self.add(name, email)

    def add(self, name: str, email: str) -> dict[str, Any]:
        with self._lock:
            user = {"id": next(self._ids), "name": name, "email": email}
            self.users[user["id"]] = user
            return user


store = Store()


def index(req: NovaRequest) -> Any:
    """``GET /api/users``: every user."""
    return ("json", list(store.users.values()))


#: An id as the store makes them. ``str.isdigit`` would also take "²" (which ``int`` refuses)
#: and thousands of digits (which ``int`` refuses too): both would be a 500, not a 404.
_ID = re.compile(r"[0-9]{1,18}")


def _user(req: NovaRequest) -> dict[str, Any] | None:
    user_id = req.bindings["id"]
    return store.users.get(int(user_id)) if _ID.fullmatch(user_id) else None


def show(req: NovaRequest) -> Any:
    """``GET /api/users/:id``: one user, or the router's 404 status page."""
    user = _user(req)
    return ("status", 404) if user is None else ("json", user)


def create(user: UserIn) -> Any:
    """``POST /api/users``: a FastAPI-style controller; its body model shows in /docs."""
    return ("json", store.add(user.name, user.email))


def show_xml(req: NovaRequest) -> Any:
    """``GET /api/users/:id/xml``: the custom ``xml`` handler of example_app.handlers."""
    user = _user(req)
    return ("status", 404) if user is None else ("xml", user)


def broken(req: NovaRequest) -> Any:
    """``GET /api/broken``: returns what no handler takes, so ``fallback.resolve`` answers."""
    return "something_unexpected"
