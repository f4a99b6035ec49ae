"""A fallback module (Nova's ``-fallback_controller(my_fallback).``)."""

from __future__ import annotations

from typing import Any

from fastapi_nova import NovaRequest

calls: list[tuple[NovaRequest, Any]] = []


def resolve(req: NovaRequest, invalid_return: Any) -> Any:
    calls.append((req, invalid_return))
    if isinstance(invalid_return, tuple) and invalid_return[:1] == ("render",):
        return ("ok", {"value": invalid_return[1]})  # default view: my_fallback.html
    if invalid_return == ("again",):
        return ("still", "invalid")
    if invalid_return == ("explode",):
        raise RuntimeError("fallback exploded")
    return ("status", 502, {"x-fallback": "my_fallback"}, {"invalid": repr(invalid_return)})
