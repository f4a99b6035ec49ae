"""An HTTP-Basic-protected group: its scheme shows in /docs (FastAPI-style security)."""

from __future__ import annotations

from typing import Any, Literal

from example_app.controllers.api_controller import store
from fastapi_nova import AuthData


def stats(user: AuthData) -> tuple[Literal["json"], dict[str, Any]]:
    """``GET /admin/stats``: who asked, and how many users there are."""
    return ("json", {"user": user["username"], "users": len(store.users)})
