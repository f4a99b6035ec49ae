"""The fallback controller of api_controller (Nova's ``-fallback_controller(my_fallback).``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi_nova import NovaRequest

logger = logging.getLogger("example_app.fallback")


def resolve(req: NovaRequest, invalid_return: Any) -> Any:
    """Answer a controller's unexpected return with a JSON 500 instead of a crash."""
    logger.warning("Invalid return from controller: %r", invalid_return)
    return ("status", 500, {}, {"error": "internal server error"})
