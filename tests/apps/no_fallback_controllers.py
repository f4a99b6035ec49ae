"""Controllers whose module has no fallback controller."""

from __future__ import annotations

from typing import Any

from fastapi_nova import NovaRequest


def unknown_tag(req: NovaRequest) -> Any:
    return ("nope", 1)


def non_tuple(req: NovaRequest) -> Any:
    return "just a string"


def wrong_arity(req: NovaRequest) -> Any:
    return ("redirect", "/a", "/b")


def empty_tuple(req: NovaRequest) -> Any:
    return ()


def none(req: NovaRequest) -> Any:
    return None
