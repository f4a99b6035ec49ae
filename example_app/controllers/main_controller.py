"""The login page and the greeting behind it (Nova's ``my_first_nova_main_controller``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi_nova import NovaRequest


def login(req: NovaRequest) -> tuple[Literal["ok"], dict[str, Any], dict[str, str]]:
    """``GET /login``: the login form (templates/login.html)."""
    return ("ok", {}, {"view": "login"})


def index(req: NovaRequest) -> tuple[Literal["ok"], dict[str, Any]]:
    """``POST /``: greet the user the security function let in (templates/main.html)."""
    return ("ok", {"username": req.auth_data["username"]})
