"""A controller module named like Nova's: its default template is ``main.html``."""

from __future__ import annotations

from typing import Any

from fastapi_nova import NovaRequest


def index(req: NovaRequest) -> Any:
    return ("ok", {"title": req.parsed_qs.get("title", "home")})


def show(req: NovaRequest) -> Any:
    return ("view", {"title": req.bindings.get("id", "")})


def login(req: NovaRequest) -> Any:
    return ("view", {"user": req.parsed_qs.get("user", "")}, {"view": "login"})


def missing(req: NovaRequest) -> Any:
    return ("ok", {}, {"view": "nowhere"})


def unsafe(req: NovaRequest) -> Any:
    return ("ok", {"title": req.parsed_qs["title"]})


def as_text(req: NovaRequest) -> Any:
    # Served as text/plain: a view answered as HTML is escaped whatever its extension.
    headers = {"content-type": "text/plain; charset=utf-8"}
    return ("ok", {"title": req.parsed_qs["title"]}, {"view": "raw.txt", "headers": headers})
