"""Status pages (Nova's ``nova_error_controller``)."""

from __future__ import annotations

from typing import Literal

from fastapi_nova import NovaRequest


def not_found(req: NovaRequest) -> tuple[Literal["json"], dict[str, str]]:
    """The router's 404 page, as Nova's: JSON ``{"message": "Resource not found"}``."""
    return ("json", {"message": "Resource not found", "path": req.path})
