"""The landing, login and chat pages, and the greeting behind the login (Nova's main controller)."""

from __future__ import annotations

from typing import Any, Literal

from example_app.controllers.ws_handlers import CHAT_HEARTBEAT, CHAT_IDLE_TIMEOUT
from fastapi_nova import NovaRequest


def landing(req: NovaRequest) -> tuple[Literal["ok"], dict[str, Any], dict[str, str]]:
    """``GET /``: links to the login form, the chat and the API docs (templates/landing.html)."""
    return ("ok", {}, {"view": "landing"})


def login(req: NovaRequest) -> tuple[Literal["ok"], dict[str, Any], dict[str, str]]:
    """``GET /login``: the login form (templates/login.html)."""
    return ("ok", {}, {"view": "login"})


def index(req: NovaRequest) -> tuple[Literal["ok"], dict[str, Any]]:
    """``POST /``: greet the user the security function let in (templates/main.html)."""
    return ("ok", {"username": req.auth_data["username"]})


def chat_page(req: NovaRequest) -> tuple[Literal["ok"], dict[str, Any], dict[str, str]]:
    """``GET /chat.html``: the chat page, with the ``/chat`` route's heartbeat (chat.html).

    Rendered rather than static so that the page's heartbeat string and interval come from the
    same settings as the route's ``heartbeat`` and ``idle_timeout`` options.
    """
    interval_ms = max(100, int(CHAT_IDLE_TIMEOUT * 1000 / 3))
    return ("ok", {"heartbeat": CHAT_HEARTBEAT, "interval_ms": interval_ms}, {"view": "chat"})
