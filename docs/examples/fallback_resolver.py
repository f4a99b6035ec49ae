"""A fallback module (Nova's my_fallback): resolve(req, invalid_return)
answers instead.
"""

import logging
from typing import Any

from fastapi_nova import NovaRequest

logger = logging.getLogger("docs.fallback")


def resolve(req: NovaRequest, invalid_return: Any) -> Any:
    logger.warning("Invalid return from controller: %r", invalid_return)
    body = {"error": "internal server error", "path": req.path}
    return ("status", 500, {}, body)
